"""The sync pipeline: Flukso counters -> raw power -> installation power -> rollups.

One run, under the store's ``sync`` lock:

1. plan, per distinct sensor of the current configuration, the windows to (re)compute:
   *incremental* from the stored resume point (or *new*: from its start date, bounded by
   the backfill horizon), *retry* of missing intervals younger than the retry horizon,
   or, in manual mode, the *manual* window (deleted, then rewritten);
2. fetch each sensor once over the union of its windows (concurrently; a failing sensor
   is reported and the others go on), turn counters into 8-s power, write raw rows and
   the sensor's missing intervals;
3. recompute installation power and rollups over the ranges the sensors touched;
4. write each sensor's sync state LAST: a crash anywhere before re-does the work on the
   next run (every write is an idempotent upsert or a delete-then-write of one range).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import numpy as np

from vde.errors import FluksoError, NotFoundError
from vde.flukso import FluksoClient
from vde.logs import get_logger
from vde.models import ConfigVersion, MissingInterval, RawSeries, SensorRow, SyncState
from vde.processing.power import CounterPoint, counter_to_power
from vde.progress import progress as progress_bar
from vde.settings import Settings
from vde.storage.base import Store
from vde.sync.recompute import day_chunks, recompute_range
from vde.timeutil import GRID_S, iso_utc
from vde.timeutil import now_ts as wall_now

log = get_logger(__name__)

LOCK_TTL_S = 600
#: raw rows kept in memory between writing them and computing installation power (~16 B each)
FRESH_ROWS_BUDGET = 6_000_000


# --- report ----------------------------------------------------------------------------


@dataclass
class SensorReport:
    """What one sync did for one sensor."""

    sensor_id: str
    ok: bool = True
    reason: str | None = None  # why it failed (never a token)
    windows: int = 0  # ranges computed (incremental/new + retries, or the manual one)
    fetched_points: int = 0  # counter points received over all windows
    points: int = 0  # new counter points (incremental/new window)
    rows: int = 0  # raw rows written
    gaps: int = 0  # new missing intervals
    filled: int = 0  # missing intervals that are complete now (or replaced)
    missing: int = 0  # missing intervals kept after this sync
    issues: int = 0  # defective blocks met (their certain points are used)

    def to_dict(self) -> dict:
        return dict(vars(self))


@dataclass
class SyncReport:
    """Outcome of one sync run; ``to_dict()`` is the ``--json`` form."""

    mode: str  # "auto" | "manual"
    now_ts: int
    config_version: int
    since: int | None = None
    until: int | None = None
    sensors: list[SensorReport] = field(default_factory=list)
    installations: dict[str, dict] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.sensors)

    @property
    def failed(self) -> list[SensorReport]:
        return [s for s in self.sensors if not s.ok]

    def summary(self) -> dict:
        return {
            "ok": self.ok,
            "sensors": len(self.sensors),
            "sensors_ok": sum(s.ok for s in self.sensors),
            "sensors_failed": len(self.failed),
            "points": sum(s.points for s in self.sensors),
            "fetched_points": sum(s.fetched_points for s in self.sensors),
            "raw_rows": sum(s.rows for s in self.sensors),
            "gaps": sum(s.gaps for s in self.sensors),
            "filled": sum(s.filled for s in self.sensors),
            "block_issues": sum(s.issues for s in self.sensors),
            "installations": len(self.installations),
            "power_rows": sum(i["rows"] for i in self.installations.values()),
            "elapsed_s": self.elapsed_s,
        }

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "now": iso_utc(self.now_ts),
            "since": None if self.since is None else iso_utc(self.since),
            "until": None if self.until is None else iso_utc(self.until),
            "config_version": self.config_version,
            **self.summary(),
            "timings_s": dict(self.timings),
            "sensor_reports": [s.to_dict() for s in self.sensors],
            "installation_reports": self.installations,
        }


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

    @property
    def sensor_id(self) -> str:
        return self.row.sensor_id


def _ceil8(t: int) -> int:
    return -((-t) // GRID_S) * GRID_S


def _floor8(t: int) -> int:
    return t - t % GRID_S


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
    pad = settings.gap_threshold + GRID_S  # a bracketing point is never farther than this
    plans = []
    for sid, row in sorted(earliest.items()):
        state = states.get(sid) or SyncState(sensor_id=sid)
        plan = SensorPlan(row=row, state=state, old_missing=missing.get(sid, []))
        if since is not None:
            a, b = _floor8(since), _ceil8(until if until is not None else now)
            if b > a:
                plan.windows.append(Window("manual", a, b, a - pad))
        else:
            if state.last_ts is not None and state.last_counter_wh is not None:
                prev = (int(state.last_ts), float(state.last_counter_wh), int(state.last_rid or 0))
                plan.windows.append(Window("incremental", _floor8(prev[0]), None, prev[0], prev))
            else:
                start = _ceil8(max(row.start_ts, now - settings.backfill_horizon))
                plan.windows.append(Window("new", start, None, start))
            for m in plan.old_missing:
                if m.end_ts >= now - settings.retry_horizon:
                    plan.windows.append(
                        Window("retry", m.start_ts, m.end_ts, m.start_ts - pad, found_ts=m.found_ts)
                    )
        plans.append(plan)
    return plans


@dataclass
class WindowResult:
    raw: RawSeries
    delete: tuple[int, int] | None  # range deleted before writing (manual)
    covered: tuple[int, int | None]  # range whose missing intervals this result replaces
    gaps: list[tuple[int, int]]
    last: CounterPoint | None
    points: int


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
        return WindowResult(raw, None, (w.start, None), gaps, res.last, points)
    keep = (raw.ts >= w.start) & (raw.ts < w.end)
    raw = RawSeries(ts=raw.ts[keep], power_w=raw.power_w[keep])
    # up to the newest point only: after it the data is not late, it is not there yet
    in_ts = ts[sel]
    data_end = min(w.end, _floor8(int(in_ts.max()))) if len(in_ts) else w.start
    holes = _holes(raw.ts, w.start, data_end)
    delete = (w.start, w.end) if w.kind == "manual" else None
    return WindowResult(raw, delete, (w.start, w.end), holes, res.last, res.points)


def _holes(ts: np.ndarray, lo: int, hi: int) -> list[tuple[int, int]]:
    """Grid intervals of [lo, hi) without a row in sorted ``ts``."""
    if hi <= lo:
        return []
    edges = np.concatenate(([lo - GRID_S], ts[(ts >= lo) & (ts < hi)], [hi]))
    step = np.diff(edges)
    at = np.flatnonzero(step > GRID_S)
    return [(int(edges[i]) + GRID_S, int(edges[i + 1])) for i in at]


def merge_missing(
    old: list[MissingInterval], results: list[WindowResult], sensor_id: str, now: int
) -> list[MissingInterval]:
    """Old intervals outside the recomputed ranges, plus the gaps found in them."""
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
        for a, b in r.gaps:
            # keep when it was first seen, so the retry horizon counts from the data
            seen = [m.found_ts for m in old if m.start_ts < b and a < m.end_ts]
            out.append((a, b, min(seen) if seen else now))
    out.sort()
    return [MissingInterval(sensor_id, int(a), int(b), int(f)) for a, b, f in out if b > a]


def _merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


class _Run:
    """State of one sync run (shared by the per-sensor tasks)."""

    def __init__(self, store: Store, config: ConfigVersion, settings: Settings, now: int):
        self.store = store
        self.config = config
        self.settings = settings
        self.now = now
        self.touched: dict[str, list[tuple[int, int]]] = {}
        # rows just written, kept for the installation phase while under a memory budget
        self.fresh: dict[str, list[tuple[int, int, RawSeries]]] = {}
        self.fresh_rows = 0
        self.new_states: dict[str, SyncState] = {}
        self.timings = {"fetch": 0.0, "resample": 0.0, "write": 0.0, "power": 0.0}
        self.lock_refreshed = time.monotonic()

    def refresh_lock(self) -> None:
        if time.monotonic() - self.lock_refreshed > LOCK_TTL_S / 4:
            self.store.refresh_lock("sync", LOCK_TTL_S)
            self.lock_refreshed = time.monotonic()

    async def sensor(self, client: FluksoClient, plan: SensorPlan) -> SensorReport:
        rep = SensorReport(sensor_id=plan.sensor_id, windows=len(plan.windows))
        state = SyncState(**vars(plan.state))
        state.last_attempt_ts = self.now
        if not plan.windows:
            self.new_states[plan.sensor_id] = state
            return rep
        lo = min(w.fetch_start for w in plan.windows)
        hi = max(
            self.now + 1 if w.end is None else w.end + self.settings.gap_threshold + GRID_S
            for w in plan.windows
        )
        if any(w.kind in ("retry", "manual") for w in plan.windows):
            # re-fetch for real: a cached block may predate data uploaded late into its span
            client.cache.forget(plan.sensor_id)
        t0 = time.perf_counter()
        try:
            series = await client.series(plan.sensor_id, plan.row.token, lo, hi)
        except FluksoError as exc:
            rep.ok, rep.reason = False, str(exc)
            state.last_error = str(exc)[:300]
            self.new_states[plan.sensor_id] = state
            log.warning("sync_sensor_failed", sensor_id=plan.sensor_id, reason=rep.reason)
            return rep
        finally:
            self.timings["fetch"] += time.perf_counter() - t0
        rep.issues = len(series.issues)
        rep.fetched_points = len(series)
        # in the loop's thread: a worker thread would fight the loop for the GIL on every
        # row SQLite binds (measured: writes several times slower), for little overlap
        self._process(plan, series.ts, series.counter_wh, series.rid, rep, state)
        self.refresh_lock()
        return rep

    def _process(self, plan, ts, counter, rid, rep: SensorReport, state: SyncState) -> None:
        t0 = time.perf_counter()
        g = self.settings.gap_threshold
        results = [compute_window(w, ts, counter, rid, gap_threshold=g) for w in plan.windows]
        t1 = time.perf_counter()
        self.timings["resample"] += t1 - t0
        sid = plan.sensor_id
        touched = self.touched.setdefault(sid, [])
        for w, r in zip(plan.windows, results, strict=True):
            if r.delete is not None:
                self.store.delete_raw(sid, *r.delete)
                touched.append(r.delete)
            if len(r.raw):
                rep.rows += self.store.write_raw(
                    sid, r.raw.ts, r.raw.power_w, self.config.version_id
                )
                touched.append((int(r.raw.ts[0]), int(r.raw.ts[-1]) + GRID_S))
            if w.kind in ("incremental", "new"):
                rep.points += r.points
            self._keep_fresh(sid, w, r)
        new_missing = merge_missing(plan.old_missing, results, sid, self.now)
        old_keys = {(m.start_ts, m.end_ts) for m in plan.old_missing}
        new_keys = {(m.start_ts, m.end_ts) for m in new_missing}
        if new_keys != old_keys:
            self.store.replace_missing(sid, new_missing)
        rep.gaps = len(new_keys - old_keys)
        rep.filled = len(old_keys - new_keys)
        rep.missing = len(new_missing)
        self.timings["write"] += time.perf_counter() - t1
        # resume point: from the incremental/new window, or a manual one reaching now
        for w, r in zip(plan.windows, results, strict=True):
            reaches_now = w.kind in ("incremental", "new") or (
                w.end is not None and w.end >= self.now
            )
            if (
                reaches_now
                and r.last is not None
                and (state.last_ts is None or r.last[0] >= state.last_ts)
            ):
                state.last_ts, state.last_counter_wh, state.last_rid = r.last
        state.points_total += rep.points
        state.last_success_ts = self.now
        state.last_error = None
        self.new_states[sid] = state

    def _keep_fresh(self, sid: str, w: Window, r: WindowResult) -> None:
        """Remember what is now stored for ``sid`` over the window's range, if it fits."""
        if self.fresh_rows + len(r.raw) > FRESH_ROWS_BUDGET:
            return
        # incremental/new: nothing of this sensor is stored after the resume point but
        # what this run wrote (data only grows at the end); retry/manual: the window's own
        end = _ceil8(self.now) + GRID_S if w.end is None else w.end
        self.fresh.setdefault(sid, []).append((w.start, end, r.raw))
        self.fresh_rows += len(r.raw)

    def installations(self, report: SyncReport) -> None:
        """Recompute power and rollups of every installation over what its sensors touched.

        Worked local day by local day, every installation of a day sharing one read of
        each sensor's raw power (a sensor belongs to its home and to one or more groups).
        """
        t0 = time.perf_counter()
        plan: dict[str, list[tuple[int, int]]] = {}
        for inst in self.config.installations():
            rows = self.config.rows_of(inst)
            ranges = [r for row in rows for r in self.touched.get(row.sensor_id, [])]
            if ranges:
                plan[inst] = _merge_ranges(ranges)
        if not plan:
            return
        lo = min(r[0][0] for r in plan.values())
        hi = max(r[-1][1] for r in plan.values())
        for d0, d1 in day_chunks(lo, hi):
            pieces = {
                inst: [(max(a, d0), min(b, d1)) for a, b in ranges if a < d1 and b > d0]
                for inst, ranges in plan.items()
            }
            pieces = {k: v for k, v in pieces.items() if v}
            if not pieces:
                continue
            reader = _SharedRaw(
                self.store,
                min(p[0][0] for p in pieces.values()),
                max(p[-1][1] for p in pieces.values()),
                self.fresh,
            )
            for inst, parts in pieces.items():
                rows = self.config.rows_of(inst)
                item = report.installations.setdefault(
                    inst, {"rows": 0, "missing_slots": 0, "ranges": []}
                )
                for a, b in parts:
                    res = recompute_range(
                        self.store, inst, rows, self.config.version_id, a, b, read_raw=reader
                    )
                    item["rows"] += res.rows
                    item["missing_slots"] += res.missing_slots
                    item["ranges"].append([iso_utc(a), iso_utc(b)])
            self.refresh_lock()
        self.timings["power"] += time.perf_counter() - t0


class _SharedRaw:
    """read_raw for one day's work: each sensor is read once over [lo, hi), then sliced.

    What this run just wrote (``fresh``: sensor -> [(c0, c1, rows)], every stored row of
    the sensor in [c0, c1)) is taken from memory instead of the store.
    """

    def __init__(
        self, store: Store, lo: int, hi: int, fresh: dict[str, list[tuple[int, int, RawSeries]]]
    ) -> None:
        self.store, self.lo, self.hi, self.fresh = store, lo, hi, fresh
        self._cache: dict[str, RawSeries] = {}

    def __call__(self, sensor_id: str, a: int, b: int) -> RawSeries:
        if a < self.lo or b > self.hi:
            return self._read(sensor_id, a, b)
        raw = self._cache.get(sensor_id)
        if raw is None:
            raw = self._cache[sensor_id] = self._read(sensor_id, self.lo, self.hi)
        return _slice(raw, a, b)

    def _read(self, sensor_id: str, a: int, b: int) -> RawSeries:
        parts, at = [], a
        for c0, c1, rows in sorted(self.fresh.get(sensor_id, []), key=lambda f: f[0]):
            if c1 <= at or c0 >= b:
                continue
            if c0 > at:
                parts.append(self.store.read_raw(sensor_id, at, c0))
            parts.append(_slice(rows, max(at, c0), min(b, c1)))
            at = min(b, c1)
        if at < b:
            parts.append(self.store.read_raw(sensor_id, at, b))
        if len(parts) == 1:
            return parts[0]
        return RawSeries(
            ts=np.concatenate([p.ts for p in parts]).astype(np.int64),
            power_w=np.concatenate([p.power_w for p in parts]),
        )


def _slice(raw: RawSeries, a: int, b: int) -> RawSeries:
    i, j = np.searchsorted(raw.ts, [a, b])
    return RawSeries(ts=raw.ts[i:j], power_w=raw.power_w[i:j])


async def arun_sync(
    store: Store,
    settings: Settings,
    *,
    since: int | None = None,
    until: int | None = None,
    installations: list[str] | None = None,
    now_ts: int | None = None,
    progress: bool | None = None,
    client: FluksoClient | None = None,
) -> SyncReport:
    """One sync run (see the module docstring). Raises LockedError if one already runs.

    ``since``/``until`` [UTC epoch s] select manual mode (re-fetch and rewrite exactly that
    window); ``installations`` limits the sensors to those installations'; ``now_ts``
    fixes "now" (tests, simulator); ``progress`` None = a bar on a TTY, log lines otherwise;
    ``client`` an already open FluksoClient (default: one from ``settings``).
    """
    now = int(now_ts) if now_ts is not None else wall_now()
    started = time.perf_counter()
    with store.lock("sync", LOCK_TTL_S):
        config = store.load_config()
        if config is None:
            raise NotFoundError("no configuration imported yet (run: vde config import PATH)")
        plans = plan_sensors(
            store, config, settings, now=now, since=since, until=until, installations=installations
        )
        report = SyncReport(
            mode="manual" if since is not None else "auto",
            now_ts=now,
            config_version=config.version_id,
            since=since,
            until=until,
        )
        run = _Run(store, config, settings, now)
        log.info("sync_start", mode=report.mode, sensors=len(plans), now=iso_utc(now))
        own = client is None
        if own:
            client = FluksoClient.from_settings(settings)
        try:
            report.sensors = await _fetch_all(run, client, plans, settings, progress)
        finally:
            if own:
                await client.aclose()
        run.installations(report)
        # sync state LAST: until here a crash leaves the old resume points, so work is redone
        for st in run.new_states.values():
            store.put_sync_state(st)
    report.timings = {k: round(v, 3) for k, v in run.timings.items()}
    report.elapsed_s = round(time.perf_counter() - started, 3)
    log.info("sync_done", **report.summary())
    return report


async def _fetch_all(
    run: _Run,
    client: FluksoClient,
    plans: list[SensorPlan],
    settings: Settings,
    progress: bool | None,
) -> list[SensorReport]:
    # bound sensors in flight so memory holds a few sensors' points, not the fleet's
    gate = asyncio.Semaphore(max(4, settings.flukso_concurrency))
    with progress_bar(
        "sync", len(plans), event="sync_sensor", show=progress, transient=True
    ) as advance:

        async def one(plan: SensorPlan) -> SensorReport:
            async with gate:
                rep = await run.sensor(client, plan)
            advance(
                1,
                rep.sensor_id[:8],
                sensor_id=rep.sensor_id,
                ok=rep.ok,
                points=rep.points,
                rows=rep.rows,
                gaps=rep.gaps,
                issues=rep.issues,
            )
            return rep

        reports = await asyncio.gather(*(one(p) for p in plans))
    return sorted(reports, key=lambda r: r.sensor_id)


def run_sync(store: Store, settings: Settings, **kwargs) -> SyncReport:
    """Blocking wrapper of :func:`arun_sync` (the CLI, and the web scheduler in a worker thread)."""
    return asyncio.run(arun_sync(store, settings, **kwargs))
