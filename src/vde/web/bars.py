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
from vde.web.groups import group_energy, rollup_sums
from vde.web.series import bucket_grid, energy_wh, expected_slots, period_bounds, totals_kwh

#: Bar units and the rollup resolution each reads [s].
UNITS: dict[str, int] = {"15min": 900, "hour": 3600, "day": 86400, "month": 86400}
PERIOD_UNIT = {"day": "hour", "week": "day", "month": "day", "year": "month"}
#: Rollup columns the bars add up.
COUNTED = ("n", "estimated", "e_cons_wh", "e_prod_wh", "e_import_wh", "e_export_wh")
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
    """kWh per bar on a full grid of bars; NaN where a bar has no data.

    For a group, ``members`` is the number of homes, ``homes`` per bar how many of them
    have data there, ``n`` and ``expected`` count slots of every home (home-slots). Read
    from the group's own rollups, ``homes`` is the most homes one slot of the bar counts
    and ``slots`` the bar's slots with data (``estimated`` counts those where a counted
    home is estimated).
    """

    unit: str
    ts: np.ndarray  # bar starts [UTC epoch s]
    end: np.ndarray  # bar ends [UTC epoch s]
    n: np.ndarray  # 8-s slots with data per bar (summed over members)
    expected: np.ndarray  # 8-s slots that could have data per bar (summed over members)
    kwh: dict[str, np.ndarray]  # BAR_FIELDS -> kWh, production positive
    homes: np.ndarray | None = None  # members with data per bar (groups)
    members: int = 0  # homes summed (0: the installation's own stored power)
    homes_counted: int = 0  # members with data somewhere in the window (groups)
    estimated: np.ndarray | None = None  # estimated slots per bar
    slots: np.ndarray | None = None  # a stored group's slots with data per bar

    def coverage(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.expected > 0, np.minimum(self.n / self.expected, 1.0), np.nan)

    def as_json(self) -> dict:
        out = {
            "unit": self.unit,
            "ts": self.ts,
            "end": self.end,
            **{k: np.round(v, 3) + 0.0 for k, v in self.kwh.items()},
            "coverage": np.round(self.coverage(), 4),
            "estimated": self.estimated,
        }
        if self.members:
            out["homes"] = self.homes
            out["members"] = self.members
        return out

    def energy(self) -> dict[str, float]:
        """The bars' sums as ``energy_wh`` gives them [Wh] (for ``totals_kwh``)."""
        k = {f: float(np.nansum(v)) * 1000 for f, v in self.kwh.items()}
        est = float(self.estimated.sum()) if self.estimated is not None else 0.0
        if self.slots is not None:  # estimated group slots, in home-slots as ``n`` is
            slots = float(self.slots.sum())
            est = est * float(self.n.sum()) / slots if slots else 0.0
        return {
            "n": float(self.n.sum()),
            "estimated": est,
            "cons": k["consumed_kwh"],
            "prod": -k["produced_kwh"],
            "import": k["imported_kwh"],
            "export": k["exported_kwh"],
        }


def _grid(start: int, end: int, unit: str, tz: ZoneInfo) -> tuple[np.ndarray, np.ndarray]:
    res = UNITS[unit]
    grid = _month_starts(start, end, tz) if unit == "month" else bucket_grid(start, end, res, tz)
    grid = np.asarray(grid, np.int64)
    ends = np.append(grid[1:], end).astype(np.int64) if len(grid) else grid
    return grid, ends


def _merge(windows: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching windows joined, so contiguous periods cost one read."""
    out: list[list[int]] = []
    for s, e in sorted(windows):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def bar_sets(
    store: Store,
    ids: tuple[str, ...],
    windows: list[tuple[int, int]],
    unit: str,
    *,
    group: bool | str = False,
    tz: ZoneInfo = BRUSSELS,
    now: int | None = None,
) -> list[Bars]:
    """Bars of ``unit`` for each window, from the rollups of ``ids`` summed.

    Parameters
    ----------
    store : Store
    ids : tuple of str
        One installation, or a group's homes (``group`` set): a group's bar then has data
        when at least one home has, and says how many homes it counts.
    group : bool or str
        True: sum the rollups of the homes ``ids``. The group's id: read the group's own
        rollups, which count its homes per bucket (one read instead of one per home);
        rollups written before homes were counted fall back to the sum of the homes.
    windows : list of (start, end)
        Ranges [UTC epoch s]; bars are the buckets starting inside each. Contiguous windows
        (a period and the previous one) are read at once.
    unit : str
        "15min", "hour", "day" or "month" (months sum day buckets).
    now : int, optional
        Current time [UTC epoch s]: slots after it are not counted as missing.

    Returns
    -------
    list of Bars
        Energy [kWh] per bar: consumed, produced (>= 0), imported, exported, self-consumed
        (production used on site = produced - exported), with the slot counts.
    """
    if len(set(windows)) < len(windows):  # a year's previous period is also last year
        uniq = sorted(set(windows))
        done = bar_sets(store, ids, uniq, unit, group=group, tz=tz, now=now)
        return [done[uniq.index(w)] for w in windows]
    res = UNITS[unit]
    t_now = now_ts() if now is None else now
    grids = [_grid(s, e, unit, tz) for s, e in windows]
    if isinstance(group, str):
        stored = _stored_group(store, group, len(ids), windows, grids, res, unit, t_now)
        if stored is not None:
            return stored
    acc = [{c: np.zeros(len(g)) for c in COUNTED} for g, _ in grids]
    homes = [np.zeros(len(g), np.int64) for g, _ in grids]
    counted = [0] * len(windows)
    for iid in ids:
        parts = rollup_sums(store, iid, _merge(windows), windows, [g for g, _ in grids], res)
        for k, part in enumerate(parts or ()):
            for c in COUNTED:
                acc[k][c] += part[c]
            homes[k] += part["n"] > 0
            counted[k] += bool(part["n"].sum() > 0)
    out = []
    for (grid, ends), a, h, c in zip(grids, acc, homes, counted, strict=True):
        expected = np.maximum(np.minimum(ends, t_now) - grid, 0) // GRID_S * len(ids)
        out.append(
            Bars(
                unit,
                grid,
                ends,
                a["n"].astype(np.int64),
                expected,
                _kwh(a, a["n"] > 0),
                homes=h if group else None,
                members=len(ids) if group else 0,
                homes_counted=c if group else 0,
                estimated=a["estimated"].astype(np.int64),
            )
        )
    return out


def _kwh(a: dict[str, np.ndarray], has: np.ndarray) -> dict[str, np.ndarray]:
    """BAR_FIELDS [kWh] from summed rollup energies [Wh]; NaN where a bar has no data."""
    cons, prod = a["e_cons_wh"] / 1000, -a["e_prod_wh"] / 1000
    imp, exp = a["e_import_wh"] / 1000, a["e_export_wh"] / 1000
    kwh = {
        "consumed_kwh": cons,
        "produced_kwh": prod,
        "imported_kwh": imp,
        "exported_kwh": exp,
        "self_consumed_kwh": np.maximum(prod - exp, 0.0),
    }
    return {k: np.where(has, v, np.nan) for k, v in kwh.items()}


def _stored_group(
    store: Store,
    group_id: str,
    members: int,
    windows: list[tuple[int, int]],
    grids: list[tuple[np.ndarray, np.ndarray]],
    res: int,
    unit: str,
    t_now: int,
) -> list[Bars] | None:
    """Bars of a group from its own rollups; None when they do not count homes."""
    grid_of = [g for g, _ in grids]
    sums = rollup_sums(store, group_id, _merge(windows), windows, grid_of, res, counts=True)
    if sums is None:
        return None
    out = []
    for a, (grid, ends) in zip(sums, grids, strict=True):
        expected = np.maximum(np.minimum(ends, t_now) - grid, 0) // GRID_S * members
        homes = a["homes_max"]
        n, slots, est = (a[c].astype(np.int64) for c in ("homes_n", "n", "estimated"))
        kwh = _kwh(a, slots > 0)
        most = int(homes.max()) if len(grid) else 0
        out.append(Bars(unit, grid, ends, n, expected, kwh, homes, members, most, est, slots))
    return out


def energy_bars(
    store: Store,
    installation_id: str,
    start: int,
    end: int,
    unit: str,
    tz: ZoneInfo = BRUSSELS,
    now: int | None = None,
) -> Bars:
    """Bars of one installation's own stored power over [start, end); see :func:`bar_sets`."""
    return bar_sets(store, (installation_id,), [(start, end)], unit, tz=tz, now=now)[0]


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
    store: Store,
    installation_id: str,
    start: int,
    end: int,
    now: int | None = None,
    members: tuple[str, ...] = (),
) -> dict:
    """Totals (with coverage) of [start, end), exact at unaligned edges; a group with
    ``members`` is read from its own rows, which count its homes (coverage over every home,
    ``homes`` with data), or sums its homes where they do not."""
    ids = members or (installation_id,)
    stored = group_energy(store, installation_id, start, end) if members else None
    if stored is not None:
        energy, n_homes = stored, int(stored["homes"])
    else:
        energy = dict.fromkeys(("n", "estimated", "cons", "prod", "import", "export"), 0.0)
        n_homes = 0
        for iid in ids:
            e = energy_wh(store, iid, start, end)
            n_homes += e["n"] > 0
            for k in energy:
                energy[k] += e[k]
    out = {"start": start, "end": end}
    out.update(totals_kwh(energy, expected_slots(start, end, now) * len(ids)))
    if members:
        out.update(homes=n_homes, members=len(members))
    return out


def bars_totals(bars: Bars, start: int, end: int) -> dict:
    """Totals of a period whose bars cover it exactly (calendar periods), from the bars."""
    out = {"start": start, "end": end}
    out.update(totals_kwh(bars.energy(), int(bars.expected.sum())))
    if bars.members:
        # a home counts when it has data in any bar of the period
        out.update(homes=bars.homes_counted, members=bars.members)
    return out


def change(current: float | None, other: float | None) -> float | None:
    """Relative change of ``current`` against ``other`` [ratio], None when not comparable."""
    if current is None or other is None or other == 0:
        return None
    return round((current - other) / abs(other), 4)


# --- costs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tariff:
    """Prices [EUR/kWh]: import (a night price between local hours ``night``), export."""

    import_eur: float
    export_eur: float = 0.0
    night_import_eur: float | None = None
    night: tuple[int, int] | None = None  # local hours [start, end), may wrap midnight

    @classmethod
    def from_settings(cls, settings: object) -> Tariff | None:
        price = getattr(settings, "tariff_import_eur_kwh", None)
        if price is None:
            return None
        hours = getattr(settings, "tariff_night_hours", None)
        night_price = getattr(settings, "tariff_night_import_eur_kwh", None)
        night = (
            tuple(int(h) for h in hours.split("-")) if hours and night_price is not None else None
        )
        return cls(
            price, getattr(settings, "tariff_export_eur_kwh", None) or 0.0, night_price, night
        )

    def is_night(self, local_hour: np.ndarray) -> np.ndarray:
        if self.night is None:
            return np.zeros(len(local_hour), dtype=bool)
        a, b = self.night
        return (
            (local_hour >= a) & (local_hour < b) if a < b else (local_hour >= a) | (local_hour < b)
        )


@lru_cache(maxsize=100_000)
def _hour_offset(hour: int, tz: ZoneInfo) -> int:
    """UTC offset [s] in ``tz`` of a UTC hour [epoch h]; cached, since pricing a year looks
    up its 8760 hours for every home and every period compared."""
    from datetime import datetime

    return int(datetime.fromtimestamp(hour * 3600, tz).utcoffset().total_seconds())


def _local_hours(ts: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    """Local hour of day of each ts (the UTC offset looked up once per distinct hour)."""
    hours, inv = np.unique(ts // 3600, return_inverse=True)
    offs = np.array([_hour_offset(h, tz) for h in hours.tolist()], dtype=np.int64)[inv]
    return ((ts + offs) % 86400) // 3600


def bar_costs(
    store: Store, ids: tuple[str, ...], bars: Bars, tariff: Tariff, tz: ZoneInfo = BRUSSELS
) -> dict[str, np.ndarray]:
    """Cost [EUR] per bar: import paid, export earned, net (import - export); NaN without data.

    The tariff applies per 8-s slot through the hourly rollups: every slot of an hour has the
    same price (day/night changes on the hour). With one import price the bars suffice.
    """
    imp_kwh = np.nan_to_num(bars.kwh["imported_kwh"])
    if tariff.night is None or bars.unit == "15min":
        if tariff.night is None:
            price = np.full(len(bars.ts), tariff.import_eur)
        else:  # 15-min bars lie inside one hour
            night = tariff.is_night(_local_hours(bars.ts - bars.ts % 3600, tz))
            price = np.where(night, tariff.night_import_eur, tariff.import_eur)
        imp = imp_kwh * price
    else:
        imp = np.zeros(len(bars.ts))
        start, end = (int(bars.ts[0]), int(bars.end[-1])) if len(bars.ts) else (0, 0)
        for iid in ids:
            b = store.read_rollups(iid, 3600, start, end)
            if len(b) == 0:
                continue
            ts = np.asarray(b.ts, np.int64)
            night = tariff.is_night(_local_hours(ts, tz))
            price = np.where(night, tariff.night_import_eur, tariff.import_eur)
            idx = np.searchsorted(bars.ts, ts, side="right") - 1
            ok = idx >= 0
            np.add.at(imp, idx[ok], (np.asarray(b.columns["e_import_wh"]) / 1000 * price)[ok])
    exp = np.nan_to_num(bars.kwh["exported_kwh"]) * tariff.export_eur
    has = bars.n > 0
    return {
        "import_eur": np.where(has, imp, np.nan),
        "export_eur": np.where(has, exp, np.nan),
        "net_eur": np.where(has, imp - exp, np.nan),
    }


def cost_totals(costs: dict[str, np.ndarray]) -> dict[str, float | None]:
    """Sums of the bars' costs [EUR], None when no bar has data."""
    any_data = bool(np.isfinite(costs["net_eur"]).any())
    return {k: round(float(np.nansum(v)), 2) + 0.0 if any_data else None for k, v in costs.items()}
