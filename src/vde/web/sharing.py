"""The community's energy-sharing page and its JSON twin (stored runs of ``vde sharing run``).

``/sharing/{community}?month=YYYY-MM`` shows the month's sharing rate and each member's
share. Administrators see member ids; a member sees its own homes by name and the others
anonymised ("neighbour 1", …, ordered by energy received, so the order reveals no id). A
member's own row is its monthly statement (offtake, received, injection, shared out, €,
coverage), printable from the browser. Only sessions that may see the group get an answer
(404 otherwise, as for any installation).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from vde.errors import SharingError
from vde.timeutil import BRUSSELS, now_ts
from vde.web.auth import Session
from vde.web.deps import installation, require_session, visible
from vde.web.i18n import choose_language
from vde.web.render import render

router = APIRouter()

TEXT = {
    "en": {
        "title": "Energy sharing",
        "month": "Month",
        "show": "Show",
        "none": "No sharing results for this month yet.",
        "shared": "Energy shared",
        "csc": "Collective self-consumption (shared / injection)",
        "ss": "Self-sufficiency through sharing (shared / offtake)",
        "saved": "Saved in the community",
        "member": "Member",
        "offtake": "Offtake",
        "received": "From neighbours",
        "injection": "Injection",
        "shared_out": "Shared out",
        "eur": "Saved",
        "coverage": "Data coverage",
        "you": "your home",
        "neighbour": "neighbour",
        "statement": "Your statement",
        "flagged": "quarter-hours computed on incomplete data",
        "print": "Use your browser's print command to print this page.",
    },
    "fr": {
        "title": "Partage d'énergie",
        "month": "Mois",
        "show": "Afficher",
        "none": "Pas encore de résultats de partage pour ce mois.",
        "shared": "Énergie partagée",
        "csc": "Autoconsommation collective (partagé / injection)",
        "ss": "Autosuffisance par le partage (partagé / prélèvement)",
        "saved": "Économisé dans la communauté",
        "member": "Membre",
        "offtake": "Prélèvement",
        "received": "Des voisins",
        "injection": "Injection",
        "shared_out": "Partagé",
        "eur": "Économie",
        "coverage": "Couverture des données",
        "you": "votre maison",
        "neighbour": "voisin",
        "statement": "Votre relevé",
        "flagged": "quarts d'heure calculés sur des données incomplètes",
        "print": "Utilisez la commande d'impression du navigateur pour imprimer cette page.",
    },
    "nl": {
        "title": "Energiedelen",
        "month": "Maand",
        "show": "Tonen",
        "none": "Nog geen deelresultaten voor deze maand.",
        "shared": "Gedeelde energie",
        "csc": "Collectief eigenverbruik (gedeeld / injectie)",
        "ss": "Zelfvoorziening door delen (gedeeld / afname)",
        "saved": "Bespaard in de gemeenschap",
        "member": "Lid",
        "offtake": "Afname",
        "received": "Van de buren",
        "injection": "Injectie",
        "shared_out": "Gedeeld",
        "eur": "Bespaard",
        "coverage": "Gegevensdekking",
        "you": "uw woning",
        "neighbour": "buur",
        "statement": "Uw overzicht",
        "flagged": "kwartieren berekend op onvolledige gegevens",
        "print": "Gebruik de afdrukopdracht van uw browser om deze pagina af te drukken.",
    },
}


def _month(text: str | None) -> date:
    if text is None:
        today = datetime.fromtimestamp(now_ts(), BRUSSELS).date()
        return date(today.year, today.month, 1)
    try:
        first = date.fromisoformat(text + "-01")
    except ValueError:
        raise HTTPException(422, "month must be YYYY-MM") from None
    if not 1970 < first.year < 9999:
        raise HTTPException(422, "month must be YYYY-MM between 1971 and 9998")
    return first


def sharing_data(request: Request, session: Session, community: str, month: str | None) -> dict:
    """The month's indicators of a community, anonymised for members."""
    from vde.sync.sharing import stored_indicators
    from vde.sync.sharing_statements import indicators_json, month_bounds

    inst = installation(request, community)
    if inst.kind != "group":
        raise HTTPException(404, "not a community")
    first = _month(month)
    start, end = month_bounds(first)
    state = request.app.state
    out: dict = {"community": community, "caption": inst.caption, "month": first.strftime("%Y-%m")}
    try:
        ind = stored_indicators(state.store, state.settings, community, start, end, "all")
    except SharingError:
        return {**out, "period": None, "members": []}
    period = indicators_json(ind)["periods"][0]
    rows = period.pop("members")
    if not session.is_admin:
        own = {i for i, x in visible(request).items() if x.kind == "home"}
        mine = [{**r, "own": True} for r in rows if r["member"] in own]
        others = sorted(
            (r for r in rows if r["member"] not in own), key=lambda r: -r["received_kwh"]
        )
        rows = mine + [{**r, "member": None, "own": False} for r in others]
    else:
        rows = [{**r, "own": False} for r in rows]
    return {**out, "period": period, "members": rows}


@router.get("/api/sharing/{community}")
def sharing_json(
    request: Request,
    community: str,
    session: Annotated[Session, Depends(require_session)],
    month: str | None = None,
) -> dict:
    """A community's sharing for a local month (members anonymised for non-administrators)."""
    return sharing_data(request, session, community, month)


@router.get("/api/sharing/home/{installation_id}")
def home_sharing_json(
    request: Request,
    installation_id: str,
    session: Annotated[Session, Depends(require_session)],
    month: str | None = None,
    period: Literal["day", "month"] = "day",
) -> dict:
    """A home's energy from neighbours (and shared out) per local day or month of a month."""
    from vde.sync.sharing_statements import home_received, month_bounds

    inst = installation(request, installation_id)
    if inst.kind != "home":
        raise HTTPException(404, "not a home")
    first = _month(month)
    start, end = month_bounds(first)
    state = request.app.state
    communities = home_received(state.store, state.settings, installation_id, start, end, period)
    return {
        "installation": installation_id,
        "month": first.strftime("%Y-%m"),
        "communities": communities,
    }


@router.get("/sharing/{community}", include_in_schema=False)
def sharing_page(
    request: Request,
    community: str,
    session: Annotated[Session, Depends(require_session)],
    month: str | None = None,
) -> Response:
    data = sharing_data(request, session, community, month)
    s = TEXT[choose_language(request)] if choose_language(request) in TEXT else TEXT["en"]
    return render(
        request,
        "sharing.html",
        {"data": data, "s": s, "installations": [i.as_json() for i in visible(request).values()]},
    )
