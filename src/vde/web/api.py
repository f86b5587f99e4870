"""The JSON API (``/api/...``, described at ``/openapi.json``). Every route needs a session;
every installation route answers 404 for an installation the session may not see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Literal

import numpy as np
import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from vde.timeutil import (
    check_span,
    local_day_bounds,
    local_day_of,
    now_ts,
    parse_instant,
)
from vde.web import admin
from vde.web.bars import (
    BAR_FIELDS,
    PERIOD_UNIT,
    Tariff,
    bar_costs,
    bar_sets,
    bars_totals,
    change,
    cost_totals,
    energy_bars,
    period_totals,
    same_day_last_year,
    shift_day,
    unit_for_range,
)
from vde.web.deps import installation, require_admin, require_session, visible
from vde.web.exports import (
    cells,
    content_disposition,  # noqa: F401  (re-exported: the API module named it first)
    csv_dialect,
    csv_response,
    local_iso,
    range_tag,
)
from vde.web.i18n import choose_language
from vde.web.series import (
    MAX_RANGE_S,
    ChartSeries,
    period_bounds,
    read_chart,
    read_chart_of,
)

router = APIRouter(prefix="/api", dependencies=[Depends(require_session)])


class JSON(Response):
    """orjson with numpy arrays; NaN becomes null (missing data stays missing)."""

    media_type = "application/json"

    def render(self, content: object) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


@dataclass(frozen=True)
class Range:
    start: int
    end: int
    period: str | None  # day/week/month/year, None for an explicit start/end
    day: date | None


Period = Literal["day", "week", "month", "year"]


async def time_range(
    period: Annotated[Period | None, Query(description="day, week, month or year (local)")] = None,
    date_: Annotated[
        date | None, Query(alias="date", description="a day of the period, YYYY-MM-DD (today)")
    ] = None,
    start: Annotated[
        str | None, Query(description="start instant: epoch s, ISO date/time (local if naive)")
    ] = None,
    end: Annotated[str | None, Query(description="end instant (excluded)")] = None,
) -> Range:
    """The range asked for: ``period`` + ``date`` (local calendar), or ``start`` + ``end``.

    ``async`` although it does no I/O: FastAPI then runs it inline instead of in a thread."""
    if start is not None or end is not None:
        if start is None or end is None or period is not None:
            raise HTTPException(422, "give both start and end, or period and date")
        try:
            s, e = parse_instant(start), parse_instant(end)
            check_span(min(s, e), max(s, e))
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        if e <= s:
            raise HTTPException(422, "end must be after start")
        if e - s > MAX_RANGE_S:
            raise HTTPException(422, "range too long (at most 8 years)")
        return Range(s, e, None, None)
    day = date_ or local_day_of(now_ts())
    p = period or "day"
    try:
        s, e = period_bounds(p, day)
        check_span(s, e)
    except (ValueError, OverflowError):
        raise HTTPException(422, f"date out of range: {day.isoformat()}") from None
    return Range(s, e, p, day)


RangeDep = Annotated[Range, Depends(time_range)]


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
    cs, homes = read_chart_of(store, group_id, group.members, rng.start, rng.end, res)
    if homes is None:  # no member homes known: the group's own power over its home count
        return {
            "installation": group.as_json(),
            "homes": group.homes,
            **_series_json(cs.scaled(1.0 / group.homes)),
        }
    # per bucket, the average of the homes that have data there
    with np.errstate(divide="ignore", invalid="ignore"):
        per = np.where(homes > 0, 1.0 / homes, np.nan)
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
    cs, homes = read_chart_of(store, installation_id, members, rng.start, rng.end)
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


def _bars_unit(rng: Range, unit: str | None) -> str:
    if unit is not None:
        return unit
    return PERIOD_UNIT[rng.period] if rng.period else unit_for_range(rng.start, rng.end)


def _other_period(rng: Range, day: date | None) -> tuple[int, int]:
    if rng.period is None or day is None:
        return rng.start - (rng.end - rng.start), rng.start
    return period_bounds(rng.period, day)


@router.get("/installations/{installation_id}/energy", summary="Energy bars and comparisons")
def energy(
    request: Request,
    installation_id: str,
    rng: RangeDep,
    unit: Annotated[
        Literal["15min", "hour", "day", "month"] | None,
        Query(
            description="bar length (default: hour for a day, day for a week or month, "
            "month for a year)"
        ),
    ] = None,
    compare: Annotated[
        str | None, Query(description="a group id: add its per-home average totals")
    ] = None,
) -> Response:
    """kWh bars from the rollups (null = no data, with each bar's coverage), the period's
    totals with coverage, the previous period of the same length (totals and ghost bars),
    the same period a year earlier (totals), and optionally a group's per-home average.

    A group with homes is the sum of its homes: a bar has data when at least one home has,
    and ``homes`` says how many (of ``members``) it counts."""
    inst = installation(request, installation_id)
    store = request.app.state.store
    u = _bars_unit(rng, unit)
    now = now_ts()
    members = inst.members if inst.kind == "group" else ()
    windows = [(rng.start, rng.end)]
    try:  # the calendar's first year has no previous period
        prev_day = shift_day(rng.day, rng.period, -1) if rng.period and rng.day else None
        windows.append(_other_period(rng, prev_day))
        if prev_day:
            windows.append(period_bounds(rng.period, same_day_last_year(rng.day)))
    except (ValueError, OverflowError):
        pass
    sets = bar_sets(store, members or (installation_id,), windows, u, group=bool(members), now=now)
    if rng.period:  # calendar periods: the bars cover them exactly
        tots = [bars_totals(b, s, e) for b, (s, e) in zip(sets, windows, strict=True)]
    else:  # a zoomed range: exact at its unaligned edges
        tots = [period_totals(store, installation_id, s, e, now, members) for s, e in windows]
    totals = tots[0]
    previous = tots[1] if len(tots) > 1 else None
    if previous is not None:
        previous["bars"] = sets[1].as_json()
    last_year = tots[2] if len(tots) > 2 else None
    bars_json = sets[0].as_json()
    tariff = Tariff.from_settings(request.app.state.settings)
    if tariff is not None:  # costs only where tariffs are set
        costs = bar_costs(store, members or (installation_id,), sets[0], tariff)
        bars_json["cost"] = {k: np.round(v, 2) + 0.0 for k, v in costs.items()}
        totals["cost"] = cost_totals(costs)
    changes = {
        k: {
            "previous": change(totals[k], previous[k]) if previous else None,
            "last_year": change(totals[k], last_year[k]) if last_year else None,
        }
        for k in BAR_FIELDS
    }
    return JSON(
        {
            "installation": inst.as_json(),
            "start": rng.start,
            "end": rng.end,
            "period": rng.period,
            "date": rng.day.isoformat() if rng.day else None,
            "bars": bars_json,
            "totals": totals,
            "previous": previous,
            "last_year": last_year,
            "changes": changes,
            "compare": _compare_totals(request, compare, rng, totals, now),
        }
    )


def _compare_totals(
    request: Request, group_id: str | None, rng: Range, home: dict, now: int
) -> dict | None:
    """A visible group's per-home average totals and the home against it [kWh and ratio]."""
    if group_id is None:
        return None
    group = installation(request, group_id)
    if group.kind != "group" or group.homes < 1:
        raise HTTPException(422, f"{group_id} is not a group with homes to compare with")
    store = request.app.state.store
    g = period_totals(store, group_id, rng.start, rng.end, now, group.members)
    # per home counted: a home without data in the period does not lower the average
    per = g.get("homes") or group.homes
    avg = {k: None if g[k] is None else round(g[k] / per, 3) for k in BAR_FIELDS}
    return {
        "installation": group.as_json(),
        "homes": per,
        "members": group.homes,
        "coverage": g["coverage"],
        "average": avg,
        "difference_kwh": {
            k: None if home[k] is None or avg[k] is None else round(home[k] - avg[k], 3)
            for k in BAR_FIELDS
        },
        "difference": {k: change(home[k], avg[k]) for k in BAR_FIELDS},
    }


#: How far back "now" looks for the newest power row [s] (one cheap key-range read).
NOW_LOOKBACK_S = 2 * 86400


@router.get("/installations/{installation_id}/now", summary="Newest data and latest power")
def latest(request: Request, installation_id: str) -> Response:
    """The newest 8-s row of the last two days: its time, its age and its power [W]. Data
    arrives per 256-s tmpo block, so the age is minutes, not seconds."""
    installation(request, installation_id)
    now = now_ts()
    store = request.app.state.store
    for back in (900, NOW_LOOKBACK_S):  # usually the last minutes hold it: read little
        p = store.read_power(installation_id, now - back, now + 3600)
        if len(p):
            break
    if len(p) == 0:
        return JSON({"now": now, "last_ts": None, "age_s": None})
    return JSON(
        {
            "now": now,
            "last_ts": int(p.ts[-1]),
            "age_s": max(0, now - int(p.ts[-1]) - 8),
            "p_cons": round(float(p.p_cons[-1]), 1) + 0.0,
            "p_prod": round(float(p.p_prod[-1]), 1) + 0.0,
            "p_tot": round(float(p.p_tot[-1]), 1) + 0.0,
        }
    )


LangQ = Annotated[
    Literal["fr", "nl", "en"] | None,
    Query(
        description="page language: fr and nl give ';' and a decimal comma (default: the "
        "session's language)"
    ),
]
SepQ = Annotated[
    Literal["comma"] | None, Query(description="'comma' forces ',' and a decimal point")
]


def _dialect(request: Request, lang: str | None, sep: str | None) -> tuple[str, str]:
    return csv_dialect(lang or choose_language(request), sep)


@router.get("/installations/{installation_id}/series.csv", summary="CSV of the curves shown")
def series_csv(
    request: Request, installation_id: str, rng: RangeDep, lang: LangQ = None, sep: SepQ = None
) -> Response:
    installation(request, installation_id)
    cs = read_chart(request.app.state.store, installation_id, rng.start, rng.end)
    fs, mark = _dialect(request, lang, sep)
    tag = range_tag(rng.start, rng.end, rng.period, rng.day.isoformat() if rng.day else None)
    return csv_response(
        ["ts", "local_time", "p_cons_w", "p_prod_w", "p_tot_w", "p_import_w", "p_export_w"],
        [
            cs.ts.tolist(),
            local_iso(cs.ts),
            *(cells(getattr(cs, f), 1, mark) for f in ChartSeries.FIELDS),
        ],
        f"{installation_id}_power_{tag}_{cs.resolution_s}s.csv",
        fs,
    )


@router.get("/installations/{installation_id}/energy.csv", summary="CSV of the energy bars")
def energy_csv(
    request: Request,
    installation_id: str,
    rng: RangeDep,
    unit: Annotated[Literal["15min", "hour", "day", "month"] | None, Query()] = None,
    lang: LangQ = None,
    sep: SepQ = None,
) -> Response:
    """kWh per bar: consumed, produced (positive), imported, exported, self-consumed, and the
    bar's coverage [0..1]; empty cells where a bar has no data."""
    installation(request, installation_id)
    u = _bars_unit(rng, unit)
    b = energy_bars(request.app.state.store, installation_id, rng.start, rng.end, u)
    fs, mark = _dialect(request, lang, sep)
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = np.where(b.expected > 0, np.minimum(b.n / b.expected, 1.0), np.nan)
    tag = range_tag(rng.start, rng.end, rng.period, rng.day.isoformat() if rng.day else None)
    return csv_response(
        ["start", "end", *BAR_FIELDS, "coverage"],
        [
            local_iso(b.ts),
            local_iso(b.end),
            *(cells(b.kwh[k], 3, mark) for k in BAR_FIELDS),
            cells(cov, 4, mark),
        ],
        f"{installation_id}_energy_{tag}_{u}.csv",
        fs,
    )


@router.get("/installations/{installation_id}/raw.csv", summary="8-s power of one local day")
def raw_csv(
    request: Request,
    installation_id: str,
    day: Annotated[date, Query(description="local day, YYYY-MM-DD")],
    lang: LangQ = None,
    sep: SepQ = None,
) -> Response:
    """Every stored 8-s row of the installation's power that day (gaps are absent rows)."""
    installation(request, installation_id)
    try:
        start, end = local_day_bounds(day)
        check_span(start, end)
    except (ValueError, OverflowError):
        raise HTTPException(422, f"day out of range: {day.isoformat()}") from None
    p = request.app.state.store.read_power(installation_id, start, end)
    fs, mark = _dialect(request, lang, sep)
    return csv_response(
        ["ts", "local_time", "p_cons_w", "p_prod_w", "p_tot_w"],
        [
            p.ts.tolist(),
            local_iso(p.ts),
            *(cells(v, 1, mark) for v in (p.p_cons, p.p_prod, p.p_tot)),
        ],
        f"{installation_id}_raw_day-{day.isoformat()}_8s.csv",
        fs,
    )


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
