"""Planning a sync: which ranges of each sensor to (re)compute, and their missing intervals.

From the configuration, the stored sync state, missing and estimated intervals, and the
clock: *incremental* windows from the stored resume point, *new* ones from the start date
(bounded by the backfill horizon), *retries* of missing and estimated intervals younger
than the retry horizon (meters upload late: the real shape replaces a flat bridge), and
the *manual* window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vde.errors import NotFoundError
from vde.models import ConfigVersion, MissingInterval, RawSeries, SensorRow, SyncState
from vde.processing.power import CounterPoint, counter_to_power
from vde.settings import Settings
from vde.storage.base import Store
from vde.timeutil import GRID_S, ceil_grid, floor_grid


@dataclass
class Window:
    """One range of one sensor to compute. ``end`` None: open (up to the newest point)."""

    kind: str  # "incremental" | "new" | "retry" | "manual"
    start: int  # first grid slot to keep [s]
    end: int | None  # end of the slots to keep (exclusive) [s]
    fetch_start: int  # first point needed [s]
    prev: CounterPoint | None = None
    found_ts: int | None = None  # retry: when the interval was first seen


@dataclass
class SensorPlan:
    row: SensorRow  # earliest row of the sensor (token, start date)
    state: SyncState
    windows: list[Window] = field(default_factory=list)
    old_missing: list[MissingInterval] = field(default_factory=list)
    old_estimated: list[MissingInterval] = field(default_factory=list)

    @property
    def sensor_id(self) -> str:
        return self.row.sensor_id


def plan_sensors(
    store: Store,
    config: ConfigVersion,
    settings: Settings,
    *,
    now: int,
    since: int | None,
    until: int | None,
    installations: list[str] | None,
) -> list[SensorPlan]:
    """Decide what to fetch for every distinct sensor (of ``installations`` if given)."""
    if installations:
        unknown = sorted(set(installations) - set(config.installations()))
        if unknown:
            raise NotFoundError(f"installations not in the configuration: {', '.join(unknown)}")
        rows = [r for r in config.rows if r.installation_id in set(installations)]
    else:
        rows = list(config.rows)
    earliest: dict[str, SensorRow] = {}
    for r in sorted(rows, key=lambda r: r.start_ts):
        earliest.setdefault(r.sensor_id, r)
    states = store.sync_states()
    missing: dict[str, list[MissingInterval]] = {}
    for m in store.missing():
        missing.setdefault(m.sensor_id, []).append(m)
    estimated: dict[str, list[MissingInterval]] = {}
    for m in store.estimated_intervals():
        estimated.setdefault(m.sensor_id, []).append(m)
    pad = settings.gap_threshold + GRID_S  # a bracketing point is never farther than this
    plans = []
    for sid, row in sorted(earliest.items()):
        state = states.get(sid) or SyncState(sensor_id=sid)
        plan = SensorPlan(
            row=row,
            state=state,
            old_missing=missing.get(sid, []),
            old_estimated=estimated.get(sid, []),
        )
        if since is not None:
            a, b = floor_grid(since), ceil_grid(until if until is not None else now)
            if b > a:
                plan.windows.append(Window("manual", a, b, a - pad))
        else:
            if state.last_ts is not None and state.last_counter_wh is not None:
                prev = (int(state.last_ts), float(state.last_counter_wh), int(state.last_rid or 0))
                plan.windows.append(Window("incremental", floor_grid(prev[0]), None, prev[0], prev))
            else:
                start = ceil_grid(max(row.start_ts, now - settings.backfill_horizon))
                plan.windows.append(Window("new", start, None, start))
            for m in merge_ranges_of(plan.old_missing + plan.old_estimated):
                if m.end_ts >= now - settings.retry_horizon:
                    plan.windows.append(
                        Window("retry", m.start_ts, m.end_ts, m.start_ts - pad, found_ts=m.found_ts)
                    )
        plans.append(plan)
    return plans


def merge_ranges_of(intervals: list[MissingInterval]) -> list[MissingInterval]:
    """Overlapping or touching intervals of one sensor merged (earliest found_ts kept)."""
    out: list[MissingInterval] = []
    for m in sorted(intervals, key=lambda m: (m.start_ts, m.end_ts)):
        if out and m.start_ts <= out[-1].end_ts:
            last = out[-1]
            out[-1] = MissingInterval(
                last.sensor_id,
                last.start_ts,
                max(last.end_ts, m.end_ts),
                min(last.found_ts, m.found_ts),
            )
        else:
            out.append(m)
    return out


@dataclass
class WindowResult:
    raw: RawSeries
    delete: tuple[int, int] | None  # range deleted before writing (manual)
    covered: tuple[int, int | None]  # range whose missing/estimated intervals this replaces
    gaps: list[tuple[int, int]]
    last: CounterPoint | None
    points: int
    estimated: list[tuple[int, int]] = field(default_factory=list)  # estimated row runs
    proven_spans: int = 0


def compute_window(
    w: Window, ts: np.ndarray, counter: np.ndarray, rid: np.ndarray, *, gap_threshold: int
) -> WindowResult:
    """Raw power of one window from the sensor's fetched points (pure)."""
    hi = np.inf if w.end is None else w.end + gap_threshold + GRID_S
    sel = (ts >= w.fetch_start) & (ts < hi)
    res = counter_to_power(
        ts[sel], counter[sel], rid[sel], gap_threshold_s=gap_threshold, prev=w.prev
    )
    raw = res.raw
    if w.kind in ("incremental", "new"):
        gaps = list(res.gaps)
        if w.kind == "new" and len(raw) and raw.ts[0] - w.start > gap_threshold:
            gaps.insert(0, (w.start, int(raw.ts[0])))  # no data from the start: still missing
        points = res.points
        if w.prev is not None:
            # the resume point is the grid point before the last point stored: points in
            # its slot come again and are not new
            points = int(np.count_nonzero(ts[sel] >= w.prev[0] + GRID_S))
        return WindowResult(
            raw,
            None,
            (w.start, None),
            gaps,
            res.last,
            points,
            _estimated_runs(raw),
            res.proven_spans,
        )
    keep = (raw.ts >= w.start) & (raw.ts < w.end)
    raw = RawSeries(ts=raw.ts[keep], power_w=raw.power_w[keep], estimated=raw.estimated[keep])
    in_ts = ts[sel]
    if len(in_ts) == 0:
        # nothing fetched around the window: nothing to say about it (rows are kept)
        return WindowResult(raw, None, (w.start, w.start), [], res.last, res.points)
    # from the first point on only: before a sensor's first data nothing is missing; and
    # up to the newest point only: after it the data is not late, it is not there yet
    data_start = max(w.start, ceil_grid(int(in_ts.min())))
    data_end = min(w.end, floor_grid(int(in_ts.max())))
    holes = _holes(raw.ts, data_start, data_end)
    delete = (data_start, w.end) if w.kind == "manual" else None
    return WindowResult(
        raw,
        delete,
        (data_start, max(data_start, w.end)),
        holes,
        res.last,
        res.points,
        _estimated_runs(raw),
        res.proven_spans,
    )


def _estimated_runs(raw: RawSeries) -> list[tuple[int, int]]:
    """Grid intervals [start, end) [s] of consecutive estimated rows."""
    est = np.asarray(raw.estimated, dtype=bool)
    if not est.any():
        return []
    ts = raw.ts[est]
    cut = np.flatnonzero(np.diff(ts) != GRID_S)
    starts = np.concatenate(([0], cut + 1))
    ends = np.concatenate((cut, [len(ts) - 1]))
    return [(int(ts[a]), int(ts[b]) + GRID_S) for a, b in zip(starts, ends, strict=True)]


def _holes(ts: np.ndarray, lo: int, hi: int) -> list[tuple[int, int]]:
    """Grid intervals of [lo, hi) without a row in sorted ``ts``."""
    if hi <= lo:
        return []
    edges = np.concatenate(([lo - GRID_S], ts[(ts >= lo) & (ts < hi)], [hi]))
    step = np.diff(edges)
    at = np.flatnonzero(step > GRID_S)
    return [(int(edges[i]) + GRID_S, int(edges[i + 1])) for i in at]


def merge_missing(
    old: list[MissingInterval],
    results: list[WindowResult],
    sensor_id: str,
    now: int,
    *,
    found: str = "gaps",
) -> list[MissingInterval]:
    """Old intervals outside the recomputed ranges, plus those found in them.

    ``found``: the WindowResult attribute holding the new intervals (``gaps`` for missing
    intervals, ``estimated`` for estimated ones).
    """
    pieces = [(m.start_ts, m.end_ts, m.found_ts) for m in old]
    for r in results:
        c0, c1 = r.covered
        c1 = np.iinfo(np.int64).max if c1 is None else c1
        nxt = []
        for a, b, f in pieces:
            if b <= c0 or a >= c1:
                nxt.append((a, b, f))
                continue
            if a < c0:
                nxt.append((a, c0, f))
            if b > c1:
                nxt.append((c1, b, f))
        pieces = nxt
    out = list(pieces)
    for r in results:
        for a, b in getattr(r, found):
            # keep when it was first seen, so the retry horizon counts from the data
            seen = [m.found_ts for m in old if m.start_ts < b and a < m.end_ts]
            out.append((a, b, min(seen) if seen else now))
    out.sort()
    return [MissingInterval(sensor_id, int(a), int(b), int(f)) for a, b, f in out if b > a]


def merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]
