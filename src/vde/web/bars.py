"""Energy per period: kWh bars from the rollups, their coverage, and the comparisons.

A day has hourly bars (15-min when zoomed in), a week or month daily bars, a year monthly
bars. Bars only read rollups (hour or day buckets), never 8-s rows, so a group-year costs
one read of ~365 day buckets. A bar without any slot of data is None (null), never 0 kWh;
each bar carries its coverage (slots with data / slots that could have data so far).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

from vde.storage.base import Store
from vde.timeutil import BRUSSELS, GRID_S, now_ts
from vde.web.series import bucket_grid, energy_wh, expected_slots, period_bounds, totals_kwh

#: Bar units and the rollup resolution each reads [s].
UNITS: dict[str, int] = {"15min": 900, "hour": 3600, "day": 86400, "month": 86400}
PERIOD_UNIT = {"day": "hour", "week": "day", "month": "day", "year": "month"}
BAR_FIELDS = ("consumed_kwh", "produced_kwh", "imported_kwh", "exported_kwh", "self_consumed_kwh")


def unit_for_range(start: int, end: int) -> str:
    """Bar unit of an explicit (zoomed) range: the finest that keeps a few hundred bars."""
    span = end - start
    if span <= 2 * 86400:
        return "15min"
    if span <= 14 * 86400:
        return "hour"
    if span <= 400 * 86400:
        return "day"
    return "month"


@lru_cache(maxsize=256)
def _month_starts(start: int, end: int, tz: ZoneInfo) -> np.ndarray:
    """Local month starts [UTC epoch s] in [start, end), read-only (cached like day grids)."""
    from datetime import datetime

    d = datetime.fromtimestamp(start, tz).date().replace(day=1)
    out = []
    while True:
        s = period_bounds("month", d, tz)[0]
        if s >= end:
            break
        if s >= start:
            out.append(s)
        d = (d + timedelta(days=32)).replace(day=1)
    arr = np.asarray(out, dtype=np.int64)
    arr.flags.writeable = False
    return arr


@dataclass
class Bars:
    """kWh per bar on a full grid of bars; NaN where a bar has no data."""

    unit: str
    ts: np.ndarray  # bar starts [UTC epoch s]
    end: np.ndarray  # bar ends [UTC epoch s]
    n: np.ndarray  # 8-s slots with data per bar
    expected: np.ndarray  # 8-s slots that could have data per bar
    kwh: dict[str, np.ndarray]  # BAR_FIELDS -> kWh, production positive

    def as_json(self) -> dict:
        with np.errstate(divide="ignore", invalid="ignore"):
            cov = np.where(self.expected > 0, np.minimum(self.n / self.expected, 1.0), np.nan)
        return {
            "unit": self.unit,
            "ts": self.ts,
            "end": self.end,
            **{k: np.round(v, 3) + 0.0 for k, v in self.kwh.items()},
            "coverage": np.round(cov, 4),
        }


def energy_bars(
    store: Store,
    installation_id: str,
    start: int,
    end: int,
    unit: str,
    tz: ZoneInfo = BRUSSELS,
    now: int | None = None,
) -> Bars:
    """Bars of ``unit`` over [start, end) from the stored rollups.

    Parameters
    ----------
    store : Store
    installation_id : str
    start, end : int
        Range [UTC epoch s]; bars are the buckets starting inside it.
    unit : str
        "15min", "hour", "day" or "month" (months sum day buckets).
    tz : ZoneInfo
        Time zone of days and months.
    now : int, optional
        Current time [UTC epoch s]: slots after it are not counted as missing.

    Returns
    -------
    Bars
        Energy [kWh] per bar: consumed, produced (>= 0), imported, exported, self-consumed
        (production used on site = produced - exported); the slot counts for coverage.
    """
    res = UNITS[unit]
    grid = _month_starts(start, end, tz) if unit == "month" else bucket_grid(start, end, res, tz)
    ends = np.append(grid[1:], end).astype(np.int64) if len(grid) else grid
    b = store.read_rollups(installation_id, res, start, end)
    idx = np.searchsorted(grid, b.ts, side="right") - 1
    ok = idx >= 0
    idx = idx[ok]

    def total(col: str) -> np.ndarray:
        out = np.zeros(len(grid))
        np.add.at(out, idx, np.asarray(b.columns[col], dtype=np.float64)[ok])
        return out

    n = total("n")
    has = n > 0
    cons, prod = total("e_cons_wh") / 1000, -total("e_prod_wh") / 1000
    imp, exp = total("e_import_wh") / 1000, total("e_export_wh") / 1000
    kwh = {
        "consumed_kwh": cons,
        "produced_kwh": prod,
        "imported_kwh": imp,
        "exported_kwh": exp,
        "self_consumed_kwh": np.maximum(prod - exp, 0.0),
    }
    kwh = {k: np.where(has, v, np.nan) for k, v in kwh.items()}
    t_now = now_ts() if now is None else now
    stop = np.minimum(ends, t_now)
    expected = np.maximum(stop - grid, 0) // GRID_S
    return Bars(unit, np.asarray(grid, np.int64), ends, n.astype(np.int64), expected, kwh)


# --- comparisons ------------------------------------------------------------------------------


def shift_day(day: date, period: str, step: int) -> date:
    """A day of the period ``step`` periods away (months and years keep day 1..28 safe)."""
    if period == "day":
        return day + timedelta(days=step)
    if period == "week":
        return day + timedelta(days=7 * step)
    if period == "month":
        m = day.year * 12 + day.month - 1 + step
        return date(m // 12, m % 12 + 1, 1)
    return date(day.year + step, 1, 1)


def same_day_last_year(day: date) -> date:
    """The same calendar day a year earlier (29 February becomes the 28th)."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def period_totals(
    store: Store, installation_id: str, start: int, end: int, now: int | None = None
) -> dict:
    """Totals (with coverage) of [start, end)."""
    energy = energy_wh(store, installation_id, start, end)
    out = totals_kwh(energy, expected_slots(start, end, now))
    return {"start": start, "end": end, **out}


def change(current: float | None, other: float | None) -> float | None:
    """Relative change of ``current`` against ``other`` [ratio], None when not comparable."""
    if current is None or other is None or other == 0:
        return None
    return round((current - other) / abs(other), 4)
