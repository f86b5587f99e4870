"""The JSON API (``/api/...``, described at ``/openapi.json``). Every route needs a session;
every installation route answers 404 for an installation the session may not see."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from vde.web import admin, energy_api
from vde.web.bars import period_totals
from vde.web.deps import installation, require_admin, require_session, visible
from vde.web.exports import content_disposition  # noqa: F401  (named here first)
from vde.web.groups import chart_of
from vde.web.ranges import JSON, Period, Range, RangeDep, time_range  # noqa: F401
from vde.web.series import ChartSeries

router = APIRouter(prefix="/api", dependencies=[Depends(require_session)])


def _round(a: np.ndarray) -> np.ndarray:
    return np.round(a, 1)


def _series_json(cs: ChartSeries) -> dict:
    return {f: _round(getattr(cs, f)) for f in ChartSeries.FIELDS}


def _compare(request: Request, group_id: str | None, rng: Range, res: int) -> dict | None:
    """The per-home average of a visible group over the same buckets (None when not asked)."""
    if group_id is None:
        return None
    group = installation(request, group_id)  # 404 when not visible
    if group.kind != "group" or group.homes < 1:
        raise HTTPException(422, f"{group_id} is not a group with homes to compare with")
    store = request.app.state.store
    cs, homes, mean = chart_of(store, group_id, group.members, rng.start, rng.end, res)
    if homes is None:  # no member homes known: the group's own power over its home count
        return {
            "installation": group.as_json(),
            "homes": group.homes,
            **_series_json(cs.scaled(1.0 / group.homes)),
        }
    # per bucket, the average of the homes it counts (per home-slot with data)
    with np.errstate(divide="ignore", invalid="ignore"):
        per = np.where(mean > 0, 1.0 / mean, np.nan)
    return {
        "installation": group.as_json(),
        "homes": group.homes,
        "homes_counted": homes,
        **{f: _round(getattr(cs, f) * per) for f in ChartSeries.FIELDS},
    }


@router.get("/me", summary="Who is logged in and what they may see")
def me(request: Request) -> Response:
    session = require_session(request)
    items = [i.as_json() for i in visible(request).values()]
    return JSON({"login": session.login, "role": session.role, "installations": items})


@router.get("/installations", summary="Installations the session may see")
def installations(request: Request) -> Response:
    return JSON([i.as_json() for i in visible(request).values()])


@router.get("/installations/{installation_id}/series", summary="Power curves and energy totals")
def series(
    request: Request,
    installation_id: str,
    rng: RangeDep,
    compare: Annotated[
        str | None, Query(description="a group id: add its per-home average power")
    ] = None,
) -> Response:
    """Power [W] on a full bucket grid (null = no data) at a resolution the server picks so no
    series exceeds ~3000 points, and the energy totals of the range."""
    inst = installation(request, installation_id)
    store = request.app.state.store
    members = inst.members if inst.kind == "group" else ()
    cs, homes, _ = chart_of(store, installation_id, members, rng.start, rng.end)
    return JSON(
        {
            "installation": inst.as_json(),
            "start": rng.start,
            "end": rng.end,
            "period": rng.period,
            "date": rng.day.isoformat() if rng.day else None,
            "resolution_s": cs.resolution_s,
            "ts": cs.ts,
            **_series_json(cs),
            "has_data": cs.has_data(),
            "homes": homes,
            "members": len(members),
            "totals": period_totals(store, installation_id, rng.start, rng.end, None, members),
            "compare": _compare(request, compare, rng, cs.resolution_s),
        }
    )


@router.get("/installations/{installation_id}/totals", summary="Energy totals of a range")
def totals(request: Request, installation_id: str, rng: RangeDep) -> Response:
    """kWh consumed, produced, imported, exported and the self-consumption / self-sufficiency
    rates, exact from stored energy (rollups plus 8-s power at unaligned edges)."""
    inst = installation(request, installation_id)
    members = inst.members if inst.kind == "group" else ()
    store = request.app.state.store
    return JSON(period_totals(store, installation_id, rng.start, rng.end, None, members))


# bars, "now" and the CSV downloads live in their own module, under the same session check
router.include_router(energy_api.router)

# --- administrators ---------------------------------------------------------------------------

admin_router = APIRouter(prefix="/admin", dependencies=[Depends(require_admin)])


@admin_router.get("/sync", summary="Sync status per sensor")
def admin_sync(request: Request) -> Response:
    return JSON(admin.sync_status(request.app.state.store))


@admin_router.get("/alerts", summary="Alert history, newest day first")
def admin_alerts(
    request: Request,
    since: Annotated[date | None, Query(description="only alerts of this day or later")] = None,
) -> Response:
    return JSON(admin.alerts_list(request.app.state.store, since.isoformat() if since else None))


@admin_router.get("/installations", summary="Installations and their current signs (no tokens)")
def admin_installations(request: Request) -> Response:
    return JSON(admin.installations_config(request.app.state.store))


@admin_router.get("/users", summary="Users (never a password hash)")
def admin_users(request: Request) -> Response:
    return JSON(admin.users_list(request.app.state.store))


router.include_router(admin_router)
