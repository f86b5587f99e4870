"""Monthly sharing statements (one per member, as an HTML email plus text, and a printable
page) and a home's view of its communities' stored runs.

Sent through the alerts' SMTP settings (``vde.alerts.mail.send_message``), each to the
member's address from ``sharing_statement_emails``, or to ``smtp_recipients`` (the
administrators) when the member has none.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

import numpy as np

from vde.alerts.mail import preview, send_message
from vde.errors import MailError, SharingError
from vde.logs import get_logger
from vde.processing.sharing_indicators import Indicators
from vde.processing.sharingkeys import local_date_ts
from vde.settings import Settings
from vde.storage.base import Store
from vde.sync.sharing import check_window, community_members, prices_of, stored_indicators

log = get_logger(__name__)


def _num(x: float) -> float | None:
    return None if not np.isfinite(x) else round(float(x), 4)


def indicators_json(ind: Indicators) -> dict:
    """Indicators as JSON: community rows per period, with each member's share."""
    csc, ss = ind.collective_self_consumption(), ind.self_sufficiency()
    member_ss = ind.member_self_sufficiency()
    spread, std = ind.fairness()
    periods = []
    for p, label in enumerate(ind.labels):
        periods.append(
            {
                "period": label,
                "quarters": int(ind.quarters[p]),
                "offtake_kwh": round(float(ind.offtake_wh[p].sum()) / 1000, 3),
                "injection_kwh": round(float(ind.injection_wh[p].sum()) / 1000, 3),
                "shared_kwh": round(float(ind.shared_wh[p]) / 1000, 3),
                "saved_eur": round(float(ind.saved_eur[p].sum()), 2),
                "collective_self_consumption": _num(csc[p]),
                "self_sufficiency": _num(ss[p]),
                "fairness_spread_eur_per_kwh": _num(spread[p]),
                "fairness_std_eur_per_kwh": _num(std[p]),
                "members": [
                    {
                        "member": m,
                        "offtake_kwh": round(float(ind.offtake_wh[p, j]) / 1000, 3),
                        "received_kwh": round(float(ind.received_wh[p, j]) / 1000, 3),
                        "injection_kwh": round(float(ind.injection_wh[p, j]) / 1000, 3),
                        "shared_out_kwh": round(float(ind.shared_out_wh[p, j]) / 1000, 3),
                        "saved_eur": round(float(ind.saved_eur[p, j]), 2),
                        "self_sufficiency": _num(member_ss[p, j]),
                        "coverage": round(float(ind.coverage[p, j]), 4),
                        "flagged_quarters": int(ind.flagged_quarters[p, j]),
                    }
                    for j, m in enumerate(ind.members)
                ],
            }
        )
    return {"period": ind.period, "periods": periods}


@dataclass
class Statement:
    member: str
    community: str
    month: str
    rows: dict  # one member entry of indicators_json

    def subject(self) -> str:
        return f"Energy sharing {self.community} – statement {self.month} – {self.member}"

    def text(self) -> str:
        r = self.rows
        return (
            f"Energy sharing statement of {self.member}, community {self.community}, {self.month}\n\n"
            f"Offtake from the grid:      {r['offtake_kwh']:10.2f} kWh\n"
            f"  of which from neighbours: {r['received_kwh']:10.2f} kWh\n"
            f"Injection into the grid:    {r['injection_kwh']:10.2f} kWh\n"
            f"  of which shared out:      {r['shared_out_kwh']:10.2f} kWh\n"
            f"Saved thanks to sharing:    {r['saved_eur']:10.2f} €\n"
            f"Data coverage:              {100 * r['coverage']:10.1f} %\n"
            + (
                f"\n{r['flagged_quarters']} quarter-hour(s) were computed on incomplete data.\n"
                if r["flagged_quarters"]
                else ""
            )
        )

    def html(self) -> str:
        r = self.rows
        e = html.escape
        cells = [
            ("Offtake from the grid", f"{r['offtake_kwh']:.2f} kWh"),
            ("… of which from neighbours", f"{r['received_kwh']:.2f} kWh"),
            ("Injection into the grid", f"{r['injection_kwh']:.2f} kWh"),
            ("… of which shared out", f"{r['shared_out_kwh']:.2f} kWh"),
            ("Saved thanks to sharing", f"{r['saved_eur']:.2f} €"),
            ("Data coverage", f"{100 * r['coverage']:.1f} %"),
        ]
        body = "".join(
            f"<tr><th style='text-align:left;padding:4px 12px'>{e(a)}</th>"
            f"<td style='text-align:right;padding:4px 12px'>{e(b)}</td></tr>"
            for a, b in cells
        )
        note = (
            f"<p>{r['flagged_quarters']} quarter-hour(s) were computed on incomplete data.</p>"
            if r["flagged_quarters"]
            else ""
        )
        return (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{e(self.subject())}</title>"
            "<style>@media print{body{margin:1cm}} body{font-family:sans-serif}"
            " table{border-collapse:collapse} tr{border-bottom:1px solid #ddd}</style></head><body>"
            f"<h1>Energy sharing – {e(self.month)}</h1>"
            f"<p>Member <strong>{e(self.member)}</strong>, community {e(self.community)}</p>"
            f"<table>{body}</table>{note}</body></html>"
        )

    def message(self, sender: str, recipients: list[str]) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = self.subject()
        msg["From"] = sender
        msg["To"] = ", ".join(recipients)
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain="vde")
        msg.set_content(self.text())
        msg.add_alternative(self.html(), subtype="html")
        return msg


def month_bounds(first: date) -> tuple[int, int]:
    nxt = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return local_date_ts(first), local_date_ts(nxt)


def statements_for(
    store: Store, settings: Settings, community_id: str, first: date
) -> list[Statement]:
    """One statement per member of a stored run, for the local month starting ``first``."""
    start, end = month_bounds(first)
    ind = stored_indicators(store, settings, community_id, start, end, "all")
    data = indicators_json(ind)["periods"][0]
    month = first.strftime("%Y-%m")
    return [Statement(r["member"], community_id, month, r) for r in data["members"]]


@dataclass
class StatementRun:
    lines: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def raise_for_delivery(self) -> None:
        if self.failed:
            raise MailError(f"{len(self.failed)} statement(s) not sent: {', '.join(self.failed)}")


def send_statements(
    store: Store,
    settings: Settings,
    community_id: str,
    first: date,
    *,
    dry_run: bool = False,
    folder: str | None = None,
) -> StatementRun:
    """Email (or with ``dry_run`` print) each member's statement; write pages to ``folder``."""
    out = StatementRun()
    prices_of(settings)  # invalid price settings fail before anything is sent
    for st in statements_for(store, settings, community_id, first):
        if folder is not None:
            path = Path(folder) / f"STATEMENT-{st.member}-{st.month}.html"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(st.html(), encoding="utf-8")
        own = settings.sharing_statement_emails.get(st.member)
        recipients = [own] if own else list(settings.smtp_recipients)
        msg = st.message(settings.smtp_sender, recipients)
        if dry_run:
            out.lines.append(preview(msg))
            continue
        try:
            send_message(msg, settings.model_copy(update={"smtp_recipients": recipients}))
        except MailError as exc:
            out.failed.append(st.member)
            out.lines.append(f"{st.member}: NOT sent ({exc})")
            continue
        out.lines.append(f"{st.member}: sent to {len(recipients)} address(es)")
        log.info("sharing_statement_sent", member=st.member, month=st.month)
    return out


def home_received(
    store: Store, settings: Settings, home_id: str, start: int, end: int, period: str
) -> list[dict]:
    """What one home received from and shared with each community it belongs to, per local
    period of stored runs (for a dashboard's "from neighbours" segment); [] without runs."""
    check_window(start, end)
    config = store.load_config()
    out = []
    for community in sorted(store.captions()):
        try:
            members = community_members(store, community, config)
        except SharingError:
            continue  # a caption without sensors, or an unknown group: no sharing there
        if home_id not in members:
            continue
        try:
            ind = stored_indicators(store, settings, community, start, end, period)
        except SharingError:
            continue  # no stored run in the window
        periods = []
        for p in indicators_json(ind)["periods"]:
            row = next((r for r in p["members"] if r["member"] == home_id), None)
            if row is not None:
                periods.append(
                    {"period": p["period"], **{k: v for k, v in row.items() if k != "member"}}
                )
        out.append({"community": community, "periods": periods})
    return out
