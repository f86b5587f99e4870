"""A group's own stored power as the dashboard reads it: bars, totals and curves.

A group's stored power (``vde.processing.installation`` with each sensor's home) is, per
8-s slot, the sum of its member homes complete there, with ``homes`` (how many it counts)
and the homes' own import; its rollups carry ``homes_n`` (home-slots), ``homes_min`` and
``homes_max``. So one read of the group gives what summing every home's rollups gave:

- a bucket has data when at least one home has;
- coverage over the homes = ``homes_n`` / (slots x members);
- the homes a bucket counts: ``homes_max`` (the most homes one of its slots counts);
- the per-home average of a bucket: its energy / ``homes_n`` x its slots.

Rows written before the homes were counted (0 homes with data) cannot say how many homes
they hold: every function here then returns None, and the caller sums the homes instead.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import numpy as np

from vde.models import RollupBatch
from vde.storage.base import Store
from vde.timeutil import BRUSSELS, GRID_S
from vde.web.series import (
    SLOT_WH_PER_W,
    ChartSeries,
    _place,
    bucket_grid,
    choose_resolution,
    energy_wh,
    read_chart,
    read_chart_of,
)

#: rollup columns summed into a bar (``homes_max`` is combined by max)
SUMMED = ("n", "estimated", "e_cons_wh", "e_prod_wh", "e_import_wh", "e_export_wh", "homes_n")


def counted(batch: RollupBatch) -> bool:
    """Whether every bucket with data of a group's rollups says how many homes it counts."""
    c = batch.columns
    return not bool(np.any((c["n"] > 0) & (c["homes_max"] <= 0)))


def window_sums(batch: RollupBatch, grid: np.ndarray, lo: int, hi: int) -> dict[str, np.ndarray]:
    """A group's buckets starting in [lo, hi) summed into the bars starting at ``grid``:
    SUMMED columns added up, ``homes_max`` the largest."""
    ts = np.asarray(batch.ts, np.int64)
    sel = (ts >= lo) & (ts < hi)
    idx = np.searchsorted(grid, ts[sel], side="right") - 1
    ok = idx >= 0
    out = {}
    for col in SUMMED:
        acc = np.zeros(len(grid))
        np.add.at(acc, idx[ok], np.asarray(batch.columns[col], np.float64)[sel][ok])
        out[col] = acc
    most = np.zeros(len(grid), np.int64)
    np.maximum.at(most, idx[ok], np.asarray(batch.columns["homes_max"], np.int64)[sel][ok])
    out["homes_max"] = most
    return out


def rollup_sums(
    store: Store,
    installation_id: str,
    reads: list[tuple[int, int]],
    windows: list[tuple[int, int]],
    grids: list[np.ndarray],
    resolution_s: int,
    *,
    counts: bool = False,
) -> list[dict[str, np.ndarray]] | None:
    """An installation's rollups of ``resolution_s`` summed into the bars of each window
    (:func:`window_sums`), read once per range of ``reads`` (which cover the windows).
    ``counts``: a group's, None when they do not count homes."""
    batches = [(s, e, store.read_rollups(installation_id, resolution_s, s, e)) for s, e in reads]
    if counts and not all(counted(b) for _, _, b in batches):
        return None
    out = []
    for (ws, we), grid in zip(windows, grids, strict=True):
        b = next(b for s, e, b in batches if s <= ws and we <= e)
        out.append(window_sums(b, grid, ws, we))
    return out


def group_energy(
    store: Store, group_id: str, start: int, end: int, tz: ZoneInfo = BRUSSELS
) -> dict[str, float] | None:
    """Exact energy [Wh] of a group over [start, end) from its own rows, in the units of
    ``series.energy_wh`` with ``n`` in home-slots; None when rows do not count homes.

    ``estimated`` is scaled to home-slots (estimated slots x homes_n / slots), so
    ``totals_kwh`` gives the share of the group's slots where a counted home is estimated.
    """
    e = energy_wh(store, group_id, start, end, tz)
    if e["uncounted"] > 0:
        return None
    slots = e["n"]
    out = dict(e)
    out["n"] = e["homes_n"]
    out["estimated"] = e["estimated"] * e["homes_n"] / slots if slots else 0.0
    return out


def group_chart(
    store: Store, group_id: str, start: int, end: int, resolution_s: int
) -> tuple[ChartSeries, np.ndarray, np.ndarray] | None:
    """A group's power curve from its own rows [W], with per bucket the homes it counts
    (``homes_max``, int) and the mean homes per slot with data (float, NaN without data);
    None when its rows do not count homes."""
    grid = bucket_grid(start, end, resolution_s)
    if resolution_s == GRID_S:
        p = store.read_power(group_id, start, end)
        if len(p) and (p.homes is None or np.any(p.homes <= 0)):
            return None
        homes = p.homes if p.homes is not None else np.empty(0, np.int64)
        imp = p.p_import if p.p_import is not None else np.empty(0)
        tot = _place(grid, p.ts, p.p_tot)
        cs = ChartSeries(
            resolution_s,
            grid,
            _place(grid, p.ts, p.p_cons),
            _place(grid, p.ts, p.p_prod),
            tot,
            _place(grid, p.ts, imp),
            _place(grid, p.ts, p.p_tot - imp),  # the homes' own export, <= 0
        )
        mean = _place(grid, p.ts, homes.astype(np.float64))
        return cs, np.nan_to_num(mean).astype(np.int64), mean
    b = store.read_rollups(group_id, resolution_s, start, end)
    if not counted(b):
        return None
    c = b.columns
    n = c["n"].astype(np.float64)
    hours = n * SLOT_WH_PER_W  # covered time [h]
    with np.errstate(divide="ignore", invalid="ignore"):
        p_imp = np.where(hours > 0, c["e_import_wh"] / hours, np.nan)
        p_exp = np.where(hours > 0, -c["e_export_wh"] / hours, np.nan)
        mean = np.where(n > 0, c["homes_n"] / n, np.nan)
    cs = ChartSeries(
        resolution_s,
        grid,
        _place(grid, b.ts, c["p_cons_mean"]),
        _place(grid, b.ts, c["p_prod_mean"]),
        _place(grid, b.ts, c["p_tot_mean"]),
        _place(grid, b.ts, p_imp),
        _place(grid, b.ts, p_exp),
    )
    most = np.nan_to_num(_place(grid, b.ts, c["homes_max"].astype(np.float64))).astype(np.int64)
    return cs, most, _place(grid, b.ts, mean)


def chart_of(
    store: Store,
    installation_id: str,
    members: tuple[str, ...],
    start: int,
    end: int,
    resolution_s: int | None = None,
) -> tuple[ChartSeries, np.ndarray | None, np.ndarray | None]:
    """Power of an installation, or of a group with ``members`` (its homes), at the chosen
    (or given) resolution, with per bucket the homes it counts (int, None for a home) and
    the mean homes per slot with data (float: the per-home average's divisor).

    A group is read from its own rows; rows that do not count homes fall back to the sum of
    the homes' own (``series.read_chart_of``).
    """
    if not members:
        return read_chart(store, installation_id, start, end, resolution_s), None, None
    res = resolution_s or choose_resolution(start, end)
    stored = group_chart(store, installation_id, start, end, res)
    if stored is not None:
        return stored
    cs, homes = read_chart_of(store, installation_id, members, start, end, res)
    mean = np.where(homes > 0, homes, np.nan) if homes is not None else None
    return cs, homes, mean
