"""Energy routes: kWh bars with coverage and comparisons, the newest data ("now"), and
the CSV downloads (energy per bar, power as shown, 8-s rows of a day)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from vde.timeutil import check_span, local_day_bounds, now_ts
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
from vde.web.deps import catalog, installation
from vde.web.exports import cells, csv_dialect, csv_response, local_iso, range_tag
from vde.web.i18n import choose_language
from vde.web.neighbours import neighbours_json, received_per_bar
from vde.web.ranges import JSON, Range, RangeDep
from vde.web.series import ChartSeries, period_bounds, read_chart

#: Cost columns [EUR] (only where tariffs are set): import paid, export earned, net.
COST_FIELDS = ("import_eur", "export_eur", "net_eur")

#: Mounted under /api by ``vde.web.api`` (which holds the session dependency).
router = APIRouter()


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
    grp = installation_id if members else False  # a group's own rollups count its homes
    sets = bar_sets(store, members or (installation_id,), windows, u, group=grp, now=now)
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
        # the comparisons in EUR too: same tariffs applied to the other periods' slots
        done: dict[int, dict] = {}  # a year's previous period is last year: priced once
        for other, bars in zip((previous, last_year), sets[1:], strict=False):
            if other is not None:
                if id(bars) not in done:
                    ids = members or (installation_id,)
                    done[id(bars)] = cost_totals(bar_costs(store, ids, bars, tariff))
                other["cost"] = done[id(bars)]
    if inst.kind == "home":  # energy from the community's stored sharing runs
        _add_neighbours(request, installation_id, sets[0], bars_json, totals)
    changes = {
        k: {
            "previous": change(totals[k], previous[k]) if previous else None,
            "last_year": change(totals[k], last_year[k]) if last_year else None,
        }
        for k in BAR_FIELDS
    }
    if tariff is not None:
        for k in COST_FIELDS:
            changes[k] = {
                "previous": change(totals["cost"][k], previous["cost"][k]) if previous else None,
                "last_year": change(totals["cost"][k], last_year["cost"][k]) if last_year else None,
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


def _add_neighbours(request: Request, home_id: str, bars, bars_json: dict, totals: dict) -> None:
    """Per-bar "from neighbours" and "from the supplier" kWh (null where no sharing result
    is stored), their totals and the € saved; nothing when the home has no stored run."""
    from vde.sync.sharing import prices_of

    known = catalog(request).get(home_id)
    groups = known.groups if known is not None else ()
    received = received_per_bar(request.app.state.store, home_id, groups, bars.ts, bars.end)
    if received is None:  # no stored run: every bar null, the rest unchanged
        bars_json["from_neighbours_kwh"] = np.full(len(bars.ts), np.nan)
        totals["from_neighbours_kwh"] = None
        return
    per_bar, tot = neighbours_json(
        received, bars.kwh["imported_kwh"], prices_of(request.app.state.settings)
    )
    bars_json.update(per_bar)
    totals.update(tot)


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
            # a group's newest slot may count only some of its homes: how many
            "homes": int(p.homes[-1]) if p.homes is not None else None,
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
    bar's coverage [0..1]; where tariffs are set, the bar's import cost, export revenue and
    net cost [EUR]. Empty cells where a bar has no data."""
    installation(request, installation_id)
    u = _bars_unit(rng, unit)
    store = request.app.state.store
    b = energy_bars(store, installation_id, rng.start, rng.end, u)
    fs, mark = _dialect(request, lang, sep)
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = np.where(b.expected > 0, np.minimum(b.n / b.expected, 1.0), np.nan)
    tag = range_tag(rng.start, rng.end, rng.period, rng.day.isoformat() if rng.day else None)
    tariff = Tariff.from_settings(request.app.state.settings)
    costs = bar_costs(store, (installation_id,), b, tariff) if tariff is not None else {}
    return csv_response(
        ["start", "end", *BAR_FIELDS, "coverage", *costs],
        [
            local_iso(b.ts),
            local_iso(b.end),
            *(cells(b.kwh[k], 3, mark) for k in BAR_FIELDS),
            cells(cov, 4, mark),
            *(cells(v, 2, mark) for v in costs.values()),
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
