"""What the dashboard asks of the data: periods, resolution choice, series and energy totals.

Everything here is synchronous and reads the store; the web routes call it from the
threadpool. Conventions: ``ts`` UTC epoch seconds, power [W], energy [Wh] in the store and
[kWh] in the totals shown to people. Missing data stays missing: a bucket or 8-s slot
without data is NaN (JSON null) in a series, never 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

from vde.models import PowerSeries, RollupBatch
from vde.storage.base import Store
from vde.timeutil import BRUSSELS, GRID_S, ceil_grid, local_day_bounds, now_ts

#: Resolutions the dashboard can show [s]: 8-s power, then the stored rollups.
RESOLUTIONS: tuple[int, ...] = (GRID_S, 60, 900, 3600, 86400)
#: No series in a response carries more points than this.
MAX_POINTS = 3000
#: Longest range a series or totals request may ask for [s]: 8 years of day buckets stay
#: under MAX_POINTS.
MAX_RANGE_S = 8 * 366 * 86400
PERIODS: tuple[str, ...] = ("day", "week", "month", "year")
#: Energy of one 8-s slot of 1 W [Wh].
SLOT_WH_PER_W = GRID_S / 3600.0


def period_bounds(period: str, day: date, tz: ZoneInfo = BRUSSELS) -> tuple[int, int]:
    """UTC bounds [start, end) of the local day / week (Monday first) / month / year of ``day``.

    Local days are 23, 24 or 25 h long, so the bounds come from local midnights.
    """
    if period == "day":
        first, nxt = day, day + timedelta(days=1)
    elif period == "week":
        first = day - timedelta(days=day.weekday())
        nxt = first + timedelta(days=7)
    elif period == "month":
        first = day.replace(day=1)
        nxt = (first + timedelta(days=32)).replace(day=1)
    elif period == "year":
        first, nxt = day.replace(month=1, day=1), day.replace(year=day.year + 1, month=1, day=1)
    else:
        raise ValueError(f"unknown period {period!r} (use one of {', '.join(PERIODS)})")
    return local_day_bounds(first, tz)[0], local_day_bounds(nxt, tz)[0]


def choose_resolution(start: int, end: int, max_points: int = MAX_POINTS) -> int:
    """Finest resolution [s] that shows [start, end) in at most ``max_points`` buckets."""
    span = max(end - start, 1)
    for res in RESOLUTIONS:
        # +1: an unaligned range can touch one more bucket than span / res.
        if span // res + 1 <= max_points:
            return res
    return RESOLUTIONS[-1]


def bucket_grid(start: int, end: int, resolution_s: int, tz: ZoneInfo = BRUSSELS) -> np.ndarray:
    """Bucket starts [UTC epoch s] in [start, end); day buckets start at local midnight."""
    if resolution_s < 86400:
        first = int(ceil_grid(start, resolution_s))
        return np.arange(first, end, resolution_s, dtype=np.int64)
    return _local_midnights(start, end, tz)


@lru_cache(maxsize=512)
def _local_midnights(start: int, end: int, tz: ZoneInfo) -> np.ndarray:
    """Local midnights in [start, end), read-only. Cached: walking a year of days through
    zoneinfo costs ~20 ms, and the same months and years are asked for again and again."""
    day = datetime.fromtimestamp(start, tz).date()
    out = []
    while True:
        s = int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())
        if s >= end:
            break
        if s >= start:
            out.append(s)
        day += timedelta(days=1)
    arr = np.asarray(out, dtype=np.int64)
    arr.flags.writeable = False
    return arr


@dataclass
class ChartSeries:
    """Power on a full bucket grid, NaN where there is no data [W].

    ``p_prod`` keeps the store's sign (<= 0); ``p_import`` >= 0 and ``p_export`` <= 0 are
    the mean grid import / export power over the slots with data.
    """

    resolution_s: int
    ts: np.ndarray
    p_cons: np.ndarray
    p_prod: np.ndarray
    p_tot: np.ndarray
    p_import: np.ndarray
    p_export: np.ndarray

    FIELDS = ("p_cons", "p_prod", "p_tot", "p_import", "p_export")

    def scaled(self, factor: float) -> ChartSeries:
        """Every power multiplied by ``factor`` (per-home average of a group)."""
        return ChartSeries(
            self.resolution_s,
            self.ts,
            *(getattr(self, f) * factor for f in self.FIELDS),
        )

    def has_data(self) -> bool:
        return bool(np.isfinite(self.p_tot).any())


def _place(grid: np.ndarray, ts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` at ``ts`` put on ``grid``; NaN on grid points without a value."""
    out = np.full(len(grid), np.nan)
    if len(ts) == 0 or len(grid) == 0:
        return out
    idx = np.searchsorted(grid, ts)
    ok = idx < len(grid)
    ok[ok] = grid[idx[ok]] == ts[ok]
    out[idx[ok]] = values[ok]
    return out


def read_chart(
    store: Store, installation_id: str, start: int, end: int, resolution_s: int | None = None
) -> ChartSeries:
    """Power of an installation over [start, end) at the chosen (or given) resolution."""
    res = resolution_s or choose_resolution(start, end)
    grid = bucket_grid(start, end, res)
    if res == GRID_S:
        p = store.read_power(installation_id, start, end)
        tot = _place(grid, p.ts, p.p_tot)
        return ChartSeries(
            res,
            grid,
            _place(grid, p.ts, p.p_cons),
            _place(grid, p.ts, p.p_prod),
            tot,
            np.where(tot > 0, tot, np.where(np.isnan(tot), np.nan, 0.0)),
            np.where(tot < 0, tot, np.where(np.isnan(tot), np.nan, 0.0)),
        )
    b = store.read_rollups(installation_id, res, start, end)
    hours = b.columns["n"].astype(np.float64) * SLOT_WH_PER_W  # covered time [h]
    with np.errstate(divide="ignore", invalid="ignore"):
        p_imp = np.where(hours > 0, b.columns["e_import_wh"] / hours, np.nan)
        p_exp = np.where(hours > 0, -b.columns["e_export_wh"] / hours, np.nan)
    return ChartSeries(
        res,
        grid,
        _place(grid, b.ts, b.columns["p_cons_mean"]),
        _place(grid, b.ts, b.columns["p_prod_mean"]),
        _place(grid, b.ts, b.columns["p_tot_mean"]),
        _place(grid, b.ts, p_imp),
        _place(grid, b.ts, p_exp),
    )


def read_chart_of(
    store: Store,
    installation_id: str,
    members: tuple[str, ...],
    start: int,
    end: int,
    resolution_s: int | None = None,
) -> tuple[ChartSeries, np.ndarray | None]:
    """Power of an installation, or of a group as the sum of its ``members`` (homes).

    A group's bucket has data when at least one home has; the second value is, per bucket,
    how many homes it counts (None for a home). Import and export are the homes' own (what
    their meters count), summed.
    """
    if not members:
        return read_chart(store, installation_id, start, end, resolution_s), None
    res = resolution_s or choose_resolution(start, end)
    parts = [read_chart(store, m, start, end, res) for m in members]
    homes = np.sum([np.isfinite(p.p_tot) for p in parts], axis=0).astype(np.int64)
    has = homes > 0

    def total(field: str) -> np.ndarray:
        s = np.nansum([getattr(p, field) for p in parts], axis=0)
        return np.where(has, s, np.nan)

    return ChartSeries(res, parts[0].ts, *(total(f) for f in ChartSeries.FIELDS)), homes


# --- energy totals ---------------------------------------------------------------------------

#: ``n`` is the number of 8-s slots with data (the coverage's numerator). A group's rows
#: also give ``homes_n`` (home-slots), ``homes`` (most homes a slot counts) and
#: ``uncounted`` (slots whose rows do not count homes: a home's, or older group rows).
ENERGY_KEYS = (
    "n",
    "estimated",
    "cons",
    "prod",
    "import",
    "export",
    "homes_n",
    "homes",
    "uncounted",
)


def _energy_of_power(p: PowerSeries) -> dict[str, float]:
    """Energy [Wh] of 8-s power rows (each row is one 8-s slot), and their count ``n``."""
    if p.p_import is not None:  # a group: its homes' own import and export
        imp = float(p.p_import.sum())
        exp = imp - float(p.p_tot.sum())
    else:
        imp, exp = float(p.p_tot[p.p_tot > 0].sum()), float(-p.p_tot[p.p_tot < 0].sum())
    homes = p.homes if p.homes is not None else np.zeros(len(p), np.int64)
    return {
        "n": float(len(p)),
        "estimated": float(np.count_nonzero(est))
        if (est := getattr(p, "estimated", None)) is not None
        else 0.0,
        "cons": float(p.p_cons.sum()) * SLOT_WH_PER_W,
        "prod": float(p.p_prod.sum()) * SLOT_WH_PER_W,
        "import": imp * SLOT_WH_PER_W,
        "export": exp * SLOT_WH_PER_W,
        "homes_n": float(homes.sum()),
        "homes": float(homes.max()) if len(homes) else 0.0,
        "uncounted": float(np.count_nonzero(homes <= 0)),
    }


def _energy_of_rollups(b: RollupBatch) -> dict[str, float]:
    c = b.columns
    return {
        "n": float(c["n"].sum()),
        # slots of estimated power (flat over a proven span), once the rollups count them
        "estimated": float(c["estimated"].sum()) if "estimated" in c else 0.0,
        "cons": float(c["e_cons_wh"].sum()),
        "prod": float(c["e_prod_wh"].sum()),
        "import": float(c["e_import_wh"].sum()),
        "export": float(c["e_export_wh"].sum()),
        "homes_n": float(c["homes_n"].sum()),
        "homes": float(c["homes_max"].max()) if len(b) else 0.0,
        "uncounted": float(c["n"][c["homes_max"] <= 0].sum()),
    }


def _inner_span(start: int, end: int, res: int, tz: ZoneInfo) -> tuple[int, int] | None:
    """Widest [a, b) inside [start, end) made of whole buckets of ``res``; None if none."""
    if res < 86400:
        a, b = int(ceil_grid(start, res)), end - end % res
    else:
        grid = bucket_grid(start, end + 1, res, tz)
        if len(grid) < 2:
            return None
        a, b = int(grid[0]), int(grid[-1])
    return (a, b) if a < b else None


def energy_wh(
    store: Store, installation_id: str, start: int, end: int, tz: ZoneInfo = BRUSSELS
) -> dict[str, float]:
    """Exact energy [Wh] of [start, end): consumed, produced (<= 0), imported, exported.

    Whole day / hour / 15-min / 1-min buckets come from the rollups, coarsest first; the
    unaligned edges left over come from the 8-s power, so the sum equals the sum of 8-s
    power over the range whatever the range.
    """
    total = dict.fromkeys(ENERGY_KEYS, 0.0)
    todo = [(start, end)]
    for res in (86400, 3600, 900, 60):
        nxt = []
        for s, e in todo:
            span = _inner_span(s, e, res, tz)
            if span is None:
                nxt.append((s, e))
                continue
            a, b = span
            for k, v in _energy_of_rollups(store.read_rollups(installation_id, res, a, b)).items():
                total[k] = max(total[k], v) if k == "homes" else total[k] + v
            nxt += [(x, y) for x, y in ((s, a), (b, e)) if x < y]
        todo = nxt
    for s, e in todo:
        for k, v in _energy_of_power(store.read_power(installation_id, s, e)).items():
            total[k] = max(total[k], v) if k == "homes" else total[k] + v
    return total


def expected_slots(start: int, end: int, now: int | None = None) -> int:
    """8-s slots of [start, end) that could hold data: none after ``now`` (the future is
    not missing)."""
    stop = min(end, now_ts() if now is None else now)
    return max(0, int(ceil_grid(stop)) - int(ceil_grid(start))) // GRID_S


#: Below this coverage the rates (self-consumption, self-sufficiency) are not shown: on a
#: mostly missing day they describe a few hours, not the day.
MIN_RATE_COVERAGE = 0.5
#: At or above this coverage a total is complete (the cards show no warning).
COMPLETE_COVERAGE = 0.99


def totals_kwh(energy: dict[str, float], expected: int | None = None) -> dict[str, object]:
    """What the cards show: kWh (production as a positive number), the two rates [0..1]
    and the coverage.

    self_consumption = 1 - export / production; self_sufficiency = 1 - import / consumption.
    Every figure is None when no slot has data (no data is never 0 kWh). A rate is None
    when its denominator is 0 or the coverage is below ``MIN_RATE_COVERAGE``.
    ``coverage`` = slots with data / ``expected`` slots (None when nothing was expected);
    ``estimated`` is the share of the slots with data whose power is estimated (0 where
    the rollups do not count estimated slots).
    """
    n = int(energy.get("n", 0))
    coverage = None if not expected else min(1.0, n / expected)
    rates_ok = n > 0 and (coverage is None or coverage >= MIN_RATE_COVERAGE)
    # + 0.0 turns the -0.0 of "no production" into 0.0
    cons, prod = energy["cons"] / 1000 + 0.0, -energy["prod"] / 1000 + 0.0
    imp, exp = energy["import"] / 1000 + 0.0, energy["export"] / 1000 + 0.0

    def kwh(v: float) -> float | None:
        return round(v, 3) + 0.0 if n else None

    return {
        "consumed_kwh": kwh(cons),
        "produced_kwh": kwh(prod),
        "imported_kwh": kwh(imp),
        "exported_kwh": kwh(exp),
        "self_consumed_kwh": kwh(max(prod - exp, 0.0)),
        "self_consumption": round(1 - exp / prod, 4) if rates_ok and prod > 0 else None,
        "self_sufficiency": round(1 - imp / cons, 4) if rates_ok and cons > 0 else None,
        "slots": n,
        "expected_slots": expected,
        "coverage": None if coverage is None else round(coverage, 4),
        "complete": coverage is not None and coverage >= COMPLETE_COVERAGE,
        "estimated": round(energy.get("estimated", 0.0) / n, 4) if n else None,
    }
