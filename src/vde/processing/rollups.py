"""Rollups of installation power: energy and min/mean/max power per time bucket.

Each 8-s row is the average power over its slot, so a bucket's energy is
``Σ P · 8 / 3600`` [Wh] over the rows it holds. Buckets of 86400 s are local calendar days
(Europe/Brussels: 23, 24 or 25 h long); smaller ones are UTC multiples of the resolution,
which coincide with local ones because Brussels' offsets are whole hours.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from vde.models import ROLLUP_FIELDS, PowerSeries, RollupBatch
from vde.timeutil import BRUSSELS, GRID_S

_WH_PER_W_SLOT = GRID_S / 3600.0
DAY_S = 86400


def local_day_starts(first: int, last: int, tz: ZoneInfo = BRUSSELS) -> np.ndarray:
    """Starts [UTC epoch s] of the local days from the one holding ``first`` to the one
    after the day holding ``last`` (so every ts in [first, last] has its day's end too)."""
    d = datetime.fromtimestamp(first, tz).date()
    d_last = datetime.fromtimestamp(last, tz).date() + timedelta(days=1)
    out = []
    while d <= d_last:
        out.append(int(datetime(d.year, d.month, d.day, tzinfo=tz).timestamp()))
        d += timedelta(days=1)
    return np.asarray(out, dtype=np.int64)


def bucket_starts(ts: np.ndarray, resolution_s: int, tz: ZoneInfo = BRUSSELS) -> np.ndarray:
    """Start [UTC epoch s] of the bucket holding each ts."""
    ts = np.asarray(ts, dtype=np.int64)
    if resolution_s != DAY_S:
        return ts - ts % resolution_s
    if len(ts) == 0:
        return ts.copy()
    days = local_day_starts(int(ts.min()), int(ts.max()), tz)
    return days[np.searchsorted(days, ts, side="right") - 1]


def bucket_bounds(
    start: int, end: int, resolution_s: int, tz: ZoneInfo = BRUSSELS
) -> tuple[int, int]:
    """[start, end) widened to whole buckets of ``resolution_s``."""
    if resolution_s != DAY_S:
        return start - start % resolution_s, -((-end) // resolution_s) * resolution_s
    days = local_day_starts(start, max(start, end - 1), tz)
    lo = days[np.searchsorted(days, start, side="right") - 1]
    hi = days[np.searchsorted(days, end, side="left")]
    return int(lo), int(hi)


#: rollup fields counted in whole slots or homes (int64); the others are float64
INT_FIELDS = ("n", "estimated", "homes_n", "homes_min", "homes_max")


def _empty_batch(resolution_s: int) -> RollupBatch:
    ints = INT_FIELDS
    cols = {f: np.empty(0, np.int64 if f in ints else np.float64) for f in ROLLUP_FIELDS}
    return RollupBatch(resolution_s=resolution_s, ts=np.empty(0, np.int64), columns=cols)


def compute_rollups(series: PowerSeries, resolution_s: int, tz: ZoneInfo = BRUSSELS) -> RollupBatch:
    """Buckets of one installation's 8-s power.

    Parameters
    ----------
    series : PowerSeries
        8-s power [W], sorted by ts; only slots with data are present.
    resolution_s : int
        Bucket length [s]: 60, 900, 3600 (UTC-aligned) or 86400 (local days in ``tz``).
    tz : ZoneInfo
        Time zone of day buckets.

    Returns
    -------
    RollupBatch
        One bucket per bucket start that holds data: ``n`` slots with data, ``estimated``
        of them estimated (``series.estimated``); energies
        e_cons/e_prod/e_tot [Wh]; e_import [Wh] from p_tot > 0 and e_export [Wh] from
        p_tot < 0 as a positive number (a group with ``series.p_import``: its homes' own,
        e_export = e_import - energy of p_tot); min/mean/max of each power over present
        slots [W]; a group's ``homes_n`` (Σ homes counted per slot [home-slots]),
        ``homes_min`` and ``homes_max`` [homes] from ``series.homes`` (0 for a home).
    """
    if len(series) == 0:
        return _empty_batch(resolution_s)
    ts = np.asarray(series.ts, dtype=np.int64)
    if len(ts) > 1 and not np.all(ts[1:] > ts[:-1]):
        raise ValueError("series.ts must be sorted and unique")
    b = bucket_starts(ts, resolution_s, tz)
    first = np.flatnonzero(np.concatenate(([True], b[1:] != b[:-1])))
    n = np.diff(np.concatenate((first, [len(ts)])))
    cols: dict[str, np.ndarray] = {"n": n.astype(np.int64)}
    est = np.asarray(series.estimated, dtype=np.int64)
    cols["estimated"] = np.add.reduceat(est, first) if len(est) == len(ts) else np.zeros_like(n)
    powers = {"cons": series.p_cons, "prod": series.p_prod, "tot": series.p_tot}
    for name, p in powers.items():
        p = np.asarray(p, dtype=np.float64)
        s = np.add.reduceat(p, first)
        cols[f"e_{name}_wh"] = s * _WH_PER_W_SLOT
        cols[f"p_{name}_min"] = np.minimum.reduceat(p, first)
        cols[f"p_{name}_mean"] = s / n
        cols[f"p_{name}_max"] = np.maximum.reduceat(p, first)
    tot = np.asarray(series.p_tot, dtype=np.float64)
    if series.p_import is not None:  # a group: the homes' own import, and so export
        imp = np.asarray(series.p_import, dtype=np.float64)
        exp = imp - tot
    else:
        imp, exp = np.maximum(tot, 0.0), np.maximum(-tot, 0.0)
    cols["e_import_wh"] = np.add.reduceat(imp, first) * _WH_PER_W_SLOT
    cols["e_export_wh"] = np.add.reduceat(exp, first) * _WH_PER_W_SLOT
    if series.homes is not None:
        homes = np.asarray(series.homes, dtype=np.int64)
        cols["homes_n"] = np.add.reduceat(homes, first)
        cols["homes_min"] = np.minimum.reduceat(homes, first)
        cols["homes_max"] = np.maximum.reduceat(homes, first)
    else:
        cols["homes_n"] = cols["homes_min"] = cols["homes_max"] = np.zeros_like(n)
    return RollupBatch(
        resolution_s=resolution_s,
        ts=b[first].copy(),
        columns={f: cols[f] for f in ROLLUP_FIELDS},
    )


def combine_rollups(batch: RollupBatch, resolution_s: int, tz: ZoneInfo = BRUSSELS) -> RollupBatch:
    """Coarser buckets from finer ones (e.g. days from hours), exactly as from 8-s rows.

    Energies, ``n``, ``estimated`` and ``homes_n`` add up, minima and maxima (``homes_min``
    and ``homes_max`` too) combine, means are weighted by ``n``.
    ``resolution_s`` buckets must be unions of ``batch`` buckets (true for 60 | 900 |
    3600 | local days in Brussels).
    """
    if len(batch) == 0:
        return _empty_batch(resolution_s)
    ts = np.asarray(batch.ts, dtype=np.int64)
    order = np.argsort(ts, kind="stable")
    ts = ts[order]
    c = {f: np.asarray(v)[order] for f, v in batch.columns.items()}
    b = bucket_starts(ts, resolution_s, tz)
    first = np.flatnonzero(np.concatenate(([True], b[1:] != b[:-1])))
    n_f = c["n"].astype(np.float64)
    n = np.add.reduceat(c["n"].astype(np.int64), first)
    out: dict[str, np.ndarray] = {"n": n}
    for f in ROLLUP_FIELDS:
        if f == "n":
            continue
        if f in ("estimated", "homes_n"):
            out[f] = np.add.reduceat(c[f].astype(np.int64), first)
        elif f == "homes_min":
            out[f] = np.minimum.reduceat(c[f].astype(np.int64), first)
        elif f == "homes_max":
            out[f] = np.maximum.reduceat(c[f].astype(np.int64), first)
        elif f.startswith("e_"):
            out[f] = np.add.reduceat(c[f].astype(np.float64), first)
        elif f.endswith("_min"):
            out[f] = np.minimum.reduceat(c[f].astype(np.float64), first)
        elif f.endswith("_max"):
            out[f] = np.maximum.reduceat(c[f].astype(np.float64), first)
        elif f.endswith("_mean"):
            out[f] = np.add.reduceat(c[f].astype(np.float64) * n_f, first) / n
    return RollupBatch(
        resolution_s=resolution_s, ts=b[first].copy(), columns={f: out[f] for f in ROLLUP_FIELDS}
    )
