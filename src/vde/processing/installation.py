"""Installation power from its sensors' raw power and the configuration's signs.

``P_prod = Σ prod_i · P_i``, ``P_tot = Σ net_i · P_i``, ``P_cons = P_tot − P_prod`` [W].
A sensor contributes when one of its signs (net, prod) is non-zero and only from its row's
``start_ts``. A slot is emitted only where every contributing sensor has data: otherwise
the installation's power there is unknown (missing), never a partial sum. A slot is
estimated when one of its contributing sensors' raw power is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from vde.models import PowerSeries, RawSeries, SensorRow
from vde.timeutil import GRID_S


@dataclass
class InstallationPower:
    """Output of :func:`installation_power_detail`."""

    series: PowerSeries
    #: 8-s slots in [start, end) where some started contributing sensor had no data
    missing_slots: int = 0
    #: sensor id -> grid intervals [start, end) [s] where that sensor's data is missing
    #: (only sensors that caused missing slots appear)
    missing_by_sensor: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    #: slots in [start, end) where at least one sensor contributes (had started)
    expected_slots: int = 0


def _empty_power() -> PowerSeries:
    e = np.empty(0, np.float64)
    return PowerSeries(ts=np.empty(0, np.int64), p_cons=e, p_prod=e.copy(), p_tot=e.copy())


def mask_to_intervals(grid: np.ndarray, mask: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True in ``mask`` over the regular 8-s ``grid`` -> [(start, end)] [s]."""
    if not mask.any():
        return []
    m = np.concatenate(([False], mask, [False])).astype(np.int8)
    d = np.diff(m)
    begin = np.flatnonzero(d == 1)
    stop = np.flatnonzero(d == -1)  # exclusive index
    return [(int(grid[b]), int(grid[s - 1]) + GRID_S) for b, s in zip(begin, stop, strict=True)]


def installation_power_detail(
    rows: Sequence[SensorRow],
    raw: Mapping[str, RawSeries],
    start: int,
    end: int,
) -> InstallationPower:
    """Installation power on the 8-s grid over ``[start, end)``, with what is missing.

    Parameters
    ----------
    rows : sequence of SensorRow
        The installation's rows of one configuration version (signs, start_ts).
    raw : mapping sensor_id -> RawSeries
        Raw power [W] of the sensors; a sensor absent from the mapping has no data.
    start, end : int
        Half-open range [UTC epoch s]; rounded outwards to the 8-s grid.

    Returns
    -------
    InstallationPower
        ``series`` with p_cons, p_prod, p_tot [W] only at slots where every contributing,
        started sensor has data; the count of other slots; per sensor, its missing
        intervals that made slots missing.
    """
    g0 = start - start % GRID_S
    g1 = -((-end) // GRID_S) * GRID_S
    grid = np.arange(g0, g1, GRID_S, dtype=np.int64)
    contributing = [r for r in rows if r.net != 0 or r.prod != 0]
    if len(grid) == 0 or not contributing:
        return InstallationPower(series=_empty_power())

    p_tot = np.zeros(len(grid))
    p_prod = np.zeros(len(grid))
    started_any = np.zeros(len(grid), dtype=bool)
    estimated = np.zeros(len(grid), dtype=bool)
    complete = np.ones(len(grid), dtype=bool)
    lacks: dict[str, np.ndarray] = {}
    for row in contributing:
        started = grid >= row.start_ts
        if not started.any():
            continue
        values, has, est = _on_grid(raw.get(row.sensor_id), grid)
        started_any |= started
        lack = started & ~has
        complete &= ~lack
        if lack.any():
            lacks[row.sensor_id] = lacks.get(row.sensor_id, np.zeros(len(grid), bool)) | lack
        use = started & has
        estimated |= use & est
        # a sensor before its start date adds nothing (its sign does not apply yet)
        contrib = np.where(use, values, 0.0)
        if row.net:
            p_tot += row.net * contrib
        if row.prod:
            p_prod += row.prod * contrib

    emit = complete & started_any
    series = PowerSeries(
        ts=grid[emit],
        p_cons=p_tot[emit] - p_prod[emit],
        p_prod=p_prod[emit],
        p_tot=p_tot[emit],
        estimated=estimated[emit],
    )
    missing = started_any & ~complete
    by_sensor = {sid: mask_to_intervals(grid, lack) for sid, lack in sorted(lacks.items())}
    return InstallationPower(
        series=series,
        missing_slots=int(np.count_nonzero(missing)),
        missing_by_sensor=by_sensor,
        expected_slots=int(np.count_nonzero(started_any)),
    )


def installation_power(
    rows: Sequence[SensorRow],
    raw: Mapping[str, RawSeries],
    start: int,
    end: int,
) -> PowerSeries:
    """Installation power [W] over ``[start, end)``; see :func:`installation_power_detail`."""
    return installation_power_detail(rows, raw, start, end).series


def _on_grid(
    series: RawSeries | None, grid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A raw series placed on ``grid``: (values [W], has-data mask, estimated mask)."""
    values = np.zeros(len(grid))
    has = np.zeros(len(grid), dtype=bool)
    est = np.zeros(len(grid), dtype=bool)
    if series is None or len(series) == 0:
        return values, has, est
    ts = np.asarray(series.ts, dtype=np.int64)
    sel = (ts >= grid[0]) & (ts <= grid[-1]) & (ts % GRID_S == 0)
    idx = (ts[sel] - grid[0]) // GRID_S
    v = np.asarray(series.power_w, dtype=np.float64)[sel]
    ok = ~np.isnan(v)  # NaN is no data, never a value
    values[idx[ok]] = v[ok]
    has[idx[ok]] = True
    est[idx[ok]] = np.asarray(series.estimated, dtype=bool)[sel][ok]
    return values, has, est
