"""Cumulative energy counter [Wh] -> average power on the 8-s grid [W].

The counter is taken as linearly interpolated between its points, so the energy of a grid
slot ``[g, g + 8)`` is ``counter(g + 8) - counter(g)`` and its power is that energy times
3600 / 8. Energy is conserved by construction: summed over any run of emitted slots, slot
energies telescope to the counter increase between the run's ends.

A *run* is a maximal sequence of consecutive points joined by valid segments: same recycle
id and counter not decreasing. Two such counters *prove* the energy between them, however
far apart they are (a defective block's head and tail, a meter that uploads its backlog
late): the span is bridged with that exact energy. Only slots lying wholly inside one run
are emitted; everything between runs is missing (reported in ``gaps``), never zero and
never a spike.

A segment longer than ``estimate_after_s`` is a bridge, not the meter's own shape (no
meter stays silent that long while it uploads): the slots it touches are flagged
*estimated* (``RawSeries.estimated``), and the sync re-fetches them for the real shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vde.models import RawSeries
from vde.timeutil import GRID_S

#: State carried from one call to the next: (ts [s], counter [Wh], recycle id).
CounterPoint = tuple[int, float, int]

_W_PER_WH_SLOT = 3600.0 / GRID_S  # Wh in one 8-s slot -> average W over the slot

#: A segment between two meter points longer than this [s] is a bridge: its slots are
#: estimated. Clamps write every few seconds; a 1-Wh pulse meter is silent 15 min only
#: below 4 W. Shorter holes (a lost 256-s block) are bridged without the flag.
ESTIMATE_AFTER_S = 900


@dataclass
class PowerResult:
    """Output of :func:`counter_to_power`."""

    raw: RawSeries
    #: grid-aligned missing intervals [start, end) [s] between the data given
    gaps: list[tuple[int, int]] = field(default_factory=list)
    #: state to pass as ``prev`` to the next call (None when no point was ever seen)
    last: CounterPoint | None = None
    #: counter points used (after dropping those at or before ``prev``)
    points: int = 0
    #: breaks caused by a recycle-id change or a counter decrease (reset)
    resets: int = 0
    #: segments longer than gap_threshold bridged because their counters prove the energy
    proven_spans: int = 0


def _empty_raw() -> RawSeries:
    return RawSeries(ts=np.empty(0, np.int64), power_w=np.empty(0, np.float64))


def _clean_points(
    ts: np.ndarray, counter_wh: np.ndarray, rid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted by ts, one point per ts (the last one given wins), NaN counters dropped."""
    ts = np.asarray(ts, dtype=np.int64)
    c = np.asarray(counter_wh, dtype=np.float64)
    r = np.asarray(rid, dtype=np.int64)
    if not (len(ts) == len(c) == len(r)):
        raise ValueError(f"ts, counter_wh and rid differ in length ({len(ts)}, {len(c)}, {len(r)})")
    ok = ~np.isnan(c)
    if not ok.all():
        ts, c, r = ts[ok], c[ok], r[ok]
    if len(ts) > 1 and not np.all(ts[1:] > ts[:-1]):
        order = np.argsort(ts, kind="stable")
        ts, c, r = ts[order], c[order], r[order]
        # keep the last of equal timestamps (a later block restates the point)
        keep = np.ones(len(ts), dtype=bool)
        keep[:-1] = ts[1:] != ts[:-1]
        ts, c, r = ts[keep], c[keep], r[keep]
    return ts, c, r


def counter_to_power(
    ts: np.ndarray,
    counter_wh: np.ndarray,
    rid: np.ndarray,
    *,
    gap_threshold_s: int = 14400,
    prev: CounterPoint | None = None,
    estimate_after_s: int = ESTIMATE_AFTER_S,
) -> PowerResult:
    """Average power on the 8-s grid from cumulative counter points.

    Parameters
    ----------
    ts : array of int
        Point times [UTC epoch s]; any order, duplicates allowed (the last one wins).
    counter_wh : array of float
        Cumulative energy counter at each point [Wh].
    rid : array of int
        Recycle id of each point; the counter restarts when it changes.
    gap_threshold_s : int
        Segments longer than this [s] are counted in ``proven_spans`` (bridged all the same:
        their two counters prove the energy).
    prev : (ts, counter_wh, rid), optional
        ``last`` of the previous call for the same sensor. Points at or before its ts are
        ignored; giving it makes split calls produce the rows of one call over all points.
    estimate_after_s : int
        Slots touching a segment longer than this [s] are flagged estimated.

    Returns
    -------
    PowerResult
        ``raw``: rows at grid times g (multiples of 8) holding the average power [W] over
        ``[g, g + 8)``, only for slots wholly covered by known counter, with the estimated
        flag; ``gaps``: missing grid intervals between the points; ``last``: state for the
        next call.
    """
    ts, c, r = _clean_points(ts, counter_wh, rid)
    if prev is not None:
        p_ts, p_c, p_r = int(prev[0]), float(prev[1]), int(prev[2])
        after = ts > p_ts
        ts = np.concatenate(([p_ts], ts[after]))
        c = np.concatenate(([p_c], c[after]))
        r = np.concatenate(([p_r], r[after]))
    n_new = len(ts) - (1 if prev is not None else 0)
    if len(ts) == 0:
        return PowerResult(raw=_empty_raw(), last=None, points=0)

    # segment i joins point i and i + 1
    dt = np.diff(ts)
    same_rid = r[1:] == r[:-1]
    no_reset = c[1:] >= c[:-1]
    valid = same_rid & no_reset
    resets = int(np.count_nonzero(~valid))
    proven = int(np.count_nonzero(valid & (dt > gap_threshold_s)))
    bridge = valid & (dt > estimate_after_s)

    # runs of points: a new run starts at point 0 and after every invalid segment
    starts = np.flatnonzero(np.concatenate(([True], ~valid)))
    ends = np.concatenate((starts[1:] - 1, [len(ts) - 1]))
    g0 = -((-ts[starts]) // GRID_S) * GRID_S  # first grid point inside each run
    g1 = ts[ends] - ts[ends] % GRID_S  # last grid point inside each run
    n_grid = np.maximum((g1 - g0) // GRID_S + 1, 0)
    emits = n_grid >= 2

    raw = _empty_raw()
    if emits.any():
        rg0, rn = g0[emits], n_grid[emits]
        # all grid points of all emitting runs, concatenated, without a Python loop
        offsets = np.cumsum(rn) - rn
        idx = np.arange(int(rn.sum()), dtype=np.int64) - np.repeat(offsets, rn)
        grid = np.repeat(rg0, rn) + idx * GRID_S
        # every grid point lies inside its own run, so interpolating on all points at once
        # never mixes two runs (runs do not overlap in time)
        cg = np.interp(grid.astype(np.float64), ts.astype(np.float64), c)
        energy = np.diff(cg)
        keep = np.ones(len(grid) - 1, dtype=bool)
        keep[(offsets + rn - 1)[:-1]] = False  # the step from one run's end to the next start
        slots = grid[:-1][keep]
        raw = RawSeries(
            ts=slots,
            power_w=energy[keep] * _W_PER_WH_SLOT,
            estimated=_touches_bridge(slots, ts, bridge),
        )

    gaps = _gaps(g0[emits], g1[emits], prev_ts=None if prev is None else int(prev[0]))
    last = _last_state(ts, c, r, starts[-1])
    return PowerResult(
        raw=raw, gaps=gaps, last=last, points=n_new, resets=resets, proven_spans=proven
    )


def _touches_bridge(slots: np.ndarray, ts: np.ndarray, bridge: np.ndarray) -> np.ndarray:
    """Whether each slot [g, g + 8) overlaps a bridge segment (ts[i], ts[i + 1]).

    A bridge is longer than a slot, so a slot overlapping one overlaps the segment holding
    its start or the one holding its end; the segments between are inside the slot.
    """
    if not bridge.any() or len(slots) == 0:
        return np.zeros(len(slots), dtype=bool)
    last_seg = len(bridge) - 1
    first = np.clip(np.searchsorted(ts, slots, side="right") - 1, 0, last_seg)
    last = np.clip(np.searchsorted(ts, slots + GRID_S, side="left") - 1, 0, last_seg)
    return bridge[first] | bridge[last]


def _gaps(cov0: np.ndarray, cov1: np.ndarray, *, prev_ts: int | None) -> list[tuple[int, int]]:
    """Missing grid intervals between the covered spans [cov0, cov1) of emitting runs."""
    out: list[tuple[int, int]] = []
    if prev_ts is not None and len(cov0):
        # what the previous call covered ended at the grid point at or before prev's ts
        first = prev_ts - prev_ts % GRID_S
        if cov0[0] > first:
            out.append((first, int(cov0[0])))
    if len(cov0) > 1:
        holes = cov0[1:] > cov1[:-1]
        out.extend(zip(cov1[:-1][holes].tolist(), cov0[1:][holes].tolist(), strict=True))
    return out


def _last_state(ts: np.ndarray, c: np.ndarray, r: np.ndarray, run_start: int) -> CounterPoint:
    """State for the next call: the counter at the last grid point the last run covers.

    Resuming from that grid point (rather than from the last real point) lets the next
    call emit the slot that straddles the last point exactly as one call over all points
    would: the counter between the grid point and the re-fetched last point is the same
    straight line.
    """
    t_last = int(ts[-1])
    g = t_last - t_last % GRID_S
    if int(ts[run_start]) <= g:
        cg = float(np.interp(float(g), ts[run_start:].astype(np.float64), c[run_start:]))
        return (g, cg, int(r[-1]))
    return (t_last, float(c[-1]), int(r[-1]))


def energy_wh(raw: RawSeries) -> float:
    """Energy of a raw series [Wh]: each row is the average power over its 8-s slot."""
    return float(np.sum(raw.power_w) * GRID_S / 3600.0)


#: A segment is a clock-jump spike when its power is above SPIKE_RATIO times the power
#: around it (the mean over SPIKE_CONTEXT segments on each side, the larger of the two)
#: and it carries at least SPIKE_MIN_WH more than that level would, and more than any
#: single segment around it (a pulse meter's one-pulse steps are never spikes).
SPIKE_RATIO = 4.0
SPIKE_CONTEXT = 8
SPIKE_MIN_WH = 0.5
SPIKE_MAX_SPREAD_S = 3600


def spread_clock_jumps(
    ts: np.ndarray, counter_wh: np.ndarray, rid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Spread the energy a backward clock jump squeezes into one segment; count the jumps.

    When a meter's clock goes back S seconds, the energy of those S seconds lands in the
    one segment that follows the jump: an 8-s spike. The segment is detected by its power
    against the power around it; its excess energy, at the surrounding power, stands for
    S = excess / level seconds, so the points of the S seconds before the spike are
    dropped and the counter is bridged over them: the energy is conserved exactly (the
    counters are untouched) and spread over the time the meter counted twice.

    Parameters
    ----------
    ts : array of int
        Point times [UTC epoch s], sorted, unique.
    counter_wh : array of float
        Cumulative energy [Wh] at each point.
    rid : array of int
        Recycle id of each point (segments across a change are never spikes).

    Returns
    -------
    tuple
        (ts, counter_wh, rid) without the dropped points, and the number of jumps found.
    """
    ts = np.asarray(ts, dtype=np.int64)
    c = np.asarray(counter_wh, dtype=np.float64)
    r = np.asarray(rid, dtype=np.int64)
    n = len(ts)
    k = SPIKE_CONTEXT
    if n < 2 * k + 2:
        return ts, c, r, 0
    dt = np.diff(ts).astype(np.float64)
    de = np.diff(c)
    ok = (r[1:] == r[:-1]) & (de >= 0) & (dt > 0)
    power = np.where(ok, de / np.where(dt > 0, dt, 1.0), 0.0)  # Wh/s
    # mean power over the k segments before and after each segment (prefix sums)
    ce = np.concatenate(([0.0], np.cumsum(np.where(ok, de, 0.0))))
    ct = np.concatenate(([0.0], np.cumsum(np.where(ok, dt, 0.0))))
    i = np.arange(len(dt))
    lo, hi = np.maximum(i - k, 0), np.minimum(i + 1 + k, len(dt))
    t_before, t_after = ct[i] - ct[lo], ct[hi] - ct[i + 1]
    before = np.where(t_before > 0, (ce[i] - ce[lo]) / np.where(t_before > 0, t_before, 1), 0)
    after = np.where(t_after > 0, (ce[hi] - ce[i + 1]) / np.where(t_after > 0, t_after, 1), 0)
    level = np.maximum(before, after)
    excess = (power - level) * dt  # Wh beyond the surrounding level
    spike = ok & (i >= k) & (i < len(dt) - k) & (power > SPIKE_RATIO * level)
    spike &= excess >= SPIKE_MIN_WH
    if spike.any():
        steps = np.where(ok, de, 0.0)
        around = np.zeros(len(de))
        for shift in range(1, k + 1):
            around[shift:] = np.maximum(around[shift:], steps[:-shift])
            around[:-shift] = np.maximum(around[:-shift], steps[shift:])
        spike &= excess > around
    if not spike.any():
        return ts, c, r, 0
    keep = np.ones(n, dtype=bool)
    for s in np.flatnonzero(spike).tolist():
        span = (
            SPIKE_MAX_SPREAD_S if level[s] <= 0 else min(SPIKE_MAX_SPREAD_S, excess[s] / level[s])
        )
        end = int(ts[s + 1])
        # drop the points of the ``span`` seconds before the spike's end, same rid only
        first = int(np.searchsorted(ts, end - span, side="left"))
        first = max(first, int(np.searchsorted(r[: s + 1], r[s], side="left")), 1)
        keep[first : s + 1] = False
        keep[first - 1] = True
    return ts[keep], c[keep], r[keep], int(np.count_nonzero(spike))
