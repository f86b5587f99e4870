"""Installation power from its sensors' raw power and the configuration's signs.

``P_prod = Σ prod_i · P_i``, ``P_tot = Σ net_i · P_i``, ``P_cons = P_tot − P_prod`` [W].
A sensor contributes when one of its signs (net, prod) is non-zero and only from its row's
``start_ts``. A home's slot is emitted only where every contributing sensor has data:
otherwise its power there is unknown (missing), never a partial sum. A slot is estimated
when one of its contributing sensors' raw power is.

A group (given ``homes``, each sensor's home) is the sum of its member homes, each complete
on its own: a group slot is the sum of the homes complete there, emitted when at least one
home counts, with ``homes`` (how many it counts) and ``p_import`` (the counted homes' own
grid import, what their meters count) per slot. Without ``homes`` every contributing sensor
is needed, as for a home.
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
    #: member homes with a started sensor somewhere in [start, end) (groups; 0 for a home)
    members: int = 0


def _empty_power(group: bool = False) -> PowerSeries:
    e = np.empty(0, np.float64)
    out = PowerSeries(ts=np.empty(0, np.int64), p_cons=e, p_prod=e.copy(), p_tot=e.copy())
    if group:
        out.homes, out.p_import = np.empty(0, np.int64), e.copy()
    return out


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
    homes: Mapping[str, str] | None = None,
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
    homes : mapping sensor_id -> home installation id, optional
        Each sensor's home (``configlint.home_of``). When the rows span homes other than
        their own installation, the installation is a group of those homes.

    Returns
    -------
    InstallationPower
        ``series`` with p_cons, p_prod, p_tot [W]. A home (or without ``homes``): only at
        slots where every contributing, started sensor has data. A group: at slots where
        at least one member home is complete (all of its contributing, started sensors have
        data), summed over those homes, with ``series.homes`` [count] and
        ``series.p_import`` [W] (sum of the counted homes' max(P_tot, 0)). The count of
        slots where some started sensor lacks data; per sensor, its missing intervals.
    """
    g0 = start - start % GRID_S
    g1 = -((-end) // GRID_S) * GRID_S
    grid = np.arange(g0, g1, GRID_S, dtype=np.int64)
    contributing = [r for r in rows if r.net != 0 or r.prod != 0]
    # a group: rows of sensors whose home is another installation
    group = bool(homes) and any(
        homes.get(r.sensor_id, r.installation_id) != r.installation_id for r in contributing
    )
    if len(grid) == 0 or not contributing:
        return InstallationPower(series=_empty_power(group))

    # a home of the group: its own sums and completeness; one part only for a home
    parts: dict[str, _Part] = {}
    lacks: dict[str, np.ndarray] = {}
    for row in contributing:
        started = grid >= row.start_ts
        if not started.any():
            continue
        home = homes.get(row.sensor_id, row.installation_id) if homes else row.installation_id
        part = parts.get(home)
        if part is None:
            part = parts[home] = _Part(len(grid))
        values, has, est = _on_grid(raw.get(row.sensor_id), grid)
        part.started |= started
        lack = started & ~has
        part.complete &= ~lack
        if lack.any():
            lacks[row.sensor_id] = lacks.get(row.sensor_id, np.zeros(len(grid), bool)) | lack
        use = started & has
        part.estimated |= use & est
        # a sensor before its start date adds nothing (its sign does not apply yet)
        contrib = np.where(use, values, 0.0)
        if row.net:
            part.p_tot += row.net * contrib
        if row.prod:
            part.p_prod += row.prod * contrib
    if not parts:
        return InstallationPower(series=_empty_power(group))

    started_any = np.zeros(len(grid), dtype=bool)
    complete = np.ones(len(grid), dtype=bool)
    for part in parts.values():
        started_any |= part.started
        complete &= part.complete
    if not group:
        (part,) = parts.values()
        emit = part.complete & part.started
        series = PowerSeries(
            ts=grid[emit],
            p_cons=part.p_tot[emit] - part.p_prod[emit],
            p_prod=part.p_prod[emit],
            p_tot=part.p_tot[emit],
            estimated=part.estimated[emit],
        )
    else:
        series = _group_series(grid, list(parts.values()))
    missing = started_any & ~complete
    by_sensor = {sid: mask_to_intervals(grid, lack) for sid, lack in sorted(lacks.items())}
    return InstallationPower(
        series=series,
        missing_slots=int(np.count_nonzero(missing)),
        missing_by_sensor=by_sensor,
        expected_slots=int(np.count_nonzero(started_any)),
        members=len(parts) if group else 0,
    )


class _Part:
    """One home's running sums on the grid [W] and its masks."""

    def __init__(self, n: int) -> None:
        self.p_tot = np.zeros(n)
        self.p_prod = np.zeros(n)
        self.started = np.zeros(n, dtype=bool)
        self.complete = np.ones(n, dtype=bool)
        self.estimated = np.zeros(n, dtype=bool)


def _group_series(grid: np.ndarray, parts: list[_Part]) -> PowerSeries:
    """Sum of the homes complete at each slot, where at least one is [W], with the count."""
    p_tot = np.zeros(len(grid))
    p_prod = np.zeros(len(grid))
    p_import = np.zeros(len(grid))
    homes = np.zeros(len(grid), dtype=np.int64)
    estimated = np.zeros(len(grid), dtype=bool)
    for part in parts:
        counts = part.started & part.complete
        homes += counts
        p_tot += np.where(counts, part.p_tot, 0.0)
        p_prod += np.where(counts, part.p_prod, 0.0)
        # each home's own import: its meter does not see the neighbours' export
        p_import += np.where(counts, np.maximum(part.p_tot, 0.0), 0.0)
        estimated |= counts & part.estimated
    emit = homes > 0
    return PowerSeries(
        ts=grid[emit],
        p_cons=p_tot[emit] - p_prod[emit],
        p_prod=p_prod[emit],
        p_tot=p_tot[emit],
        estimated=estimated[emit],
        homes=homes[emit],
        p_import=p_import[emit],
    )


def sum_of_homes(homes: Sequence[PowerSeries]) -> PowerSeries:
    """A group's power from its homes' own power: what :func:`installation_power_detail`
    gives a group, from the homes' series instead of raw power.

    Parameters
    ----------
    homes : sequence of PowerSeries
        Each member home's power [W] (slots only where the home is complete).

    Returns
    -------
    PowerSeries
        At every slot where at least one home has data: p_cons, p_prod, p_tot [W] summed
        over those homes, ``homes`` [count], ``p_import`` [W] (Σ max(P_tot_home, 0)) and
        ``estimated`` (some counted home's slot is estimated).
    """
    if not homes:
        return _empty_power(group=True)
    ts = np.unique(np.concatenate([np.asarray(h.ts, np.int64) for h in homes]))
    sums = {f: np.zeros(len(ts)) for f in ("p_cons", "p_prod", "p_tot", "p_import")}
    count = np.zeros(len(ts), np.int64)
    estimated = np.zeros(len(ts), dtype=bool)
    for h in homes:
        idx = np.searchsorted(ts, np.asarray(h.ts, np.int64))
        for f in ("p_cons", "p_prod", "p_tot"):
            np.add.at(sums[f], idx, np.asarray(getattr(h, f), np.float64))
        np.add.at(sums["p_import"], idx, np.maximum(np.asarray(h.p_tot, np.float64), 0.0))
        count[idx] += 1
        estimated[idx] |= np.asarray(h.estimated, dtype=bool)
    return PowerSeries(ts=ts, estimated=estimated, homes=count, **sums)


def installation_power(
    rows: Sequence[SensorRow],
    raw: Mapping[str, RawSeries],
    start: int,
    end: int,
    homes: Mapping[str, str] | None = None,
) -> PowerSeries:
    """Installation power [W] over ``[start, end)``; see :func:`installation_power_detail`."""
    return installation_power_detail(rows, raw, start, end, homes).series


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
