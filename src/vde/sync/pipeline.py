"""The sync pipeline: Flukso counters -> raw power -> installation power -> rollups.

One run, under the store's ``sync`` lease and every shard's lease (so no sharded round of
``vde.sync.shards`` runs beside it):

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
from contextlib import ExitStack
from typing import TYPE_CHECKING

import numpy as np

from vde.errors import FluksoError, LockedError, NotFoundError, StorageError
from vde.flukso import FluksoClient
from vde.logs import get_logger
from vde.models import ConfigVersion, RawSeries, SyncState
from vde.processing.power import spread_clock_jumps
from vde.progress import progress as progress_bar
from vde.settings import Settings
from vde.storage.base import Store
from vde.sync.recompute import config_homes, day_chunks, recompute_range
from vde.sync.report import SensorReport, SyncReport
from vde.sync.retention import prune
from vde.sync.windows import (
    SensorPlan,
    Window,
    WindowResult,
    compute_window,
    merge_missing,
    merge_ranges,
    plan_sensors,
)
from vde.timeutil import GRID_S, ceil_grid, iso_utc
from vde.timeutil import now_ts as wall_now

if TYPE_CHECKING:
    from vde.sync.shards import Shard

log = get_logger(__name__)

LOCK_TTL_S = 600
#: a sensor's writes are tried this many times on store errors before it is reported failed
SENSOR_STORE_ATTEMPTS = 5
#: first pause after a store error, doubled each time up to the cap [s]
STORE_RETRY_PAUSE_S = 0.5
STORE_RETRY_PAUSE_MAX_S = 8.0
#: raw rows kept in memory between writing them and computing installation power (~16 B each)
FRESH_ROWS_BUDGET = 6_000_000


class _Run:
    """State of one sync run (shared by the per-sensor tasks)."""

    def __init__(
        self,
        store: Store,
        config: ConfigVersion,
        settings: Settings,
        now: int,
        locks: tuple[str, ...] = ("sync",),
    ):
        self.store = store
        self.lock_names = locks
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
            for name in self.lock_names:
                self.store.refresh_lock(name, LOCK_TTL_S)
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
        again = [w for w in plan.windows if w.kind in ("retry", "manual")]
        for w in again:
            # re-fetch for real: a cached block may predate data uploaded late into its
            # span; blocks that cannot change any more stay cached
            client.cache.forget_range(plan.sensor_id, w.fetch_start, w.end)
        t0 = time.perf_counter()
        try:
            series = await client.series(plan.sensor_id, plan.row.token, lo, hi, full=bool(again))
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
        rep.blocks_downloaded = series.blocks_downloaded
        fetched = dict(vars(rep))
        for attempt in range(1, SENSOR_STORE_ATTEMPTS + 1):
            try:
                # in the loop's thread: a worker thread would fight the loop for the GIL on
                # every row SQLite binds (measured: writes several times slower)
                self._process(plan, series.ts, series.counter_wh, series.rid, rep, state)
                break
            except StorageError as exc:
                # a write refused (database locked past its timeout, a replica timing out):
                # every write is idempotent, so the sensor's work is done again after a
                # pause; one that keeps failing is reported and the others go on
                self._forget_fresh(plan.sensor_id)
                rep = SensorReport(**fetched)
                state = SyncState(**vars(plan.state))
                state.last_attempt_ts = self.now
                if attempt == SENSOR_STORE_ATTEMPTS:
                    rep.ok, rep.reason = False, f"store error: {exc}"
                    state.last_error = rep.reason[:300]
                    self.new_states[plan.sensor_id] = state
                    log.error(
                        "sync_sensor_store_failed",
                        sensor_id=plan.sensor_id,
                        attempts=attempt,
                        reason=str(exc),
                    )
                    return rep
                pause = min(STORE_RETRY_PAUSE_S * 2 ** (attempt - 1), STORE_RETRY_PAUSE_MAX_S)
                log.warning(
                    "sync_store_retry",
                    sensor_id=plan.sensor_id,
                    attempt=attempt,
                    pause_s=pause,
                    reason=str(exc),
                )
                await asyncio.sleep(pause)
        self.refresh_lock()
        return rep

    def _forget_fresh(self, sid: str) -> None:
        """Drop the rows kept in memory for ``sid``: after a failed write they may not be
        what is stored (the ranges it touched stay: power follows what is stored)."""
        for _, _, rows in self.fresh.pop(sid, []):
            self.fresh_rows -= len(rows)

    def _process(self, plan, ts, counter, rid, rep: SensorReport, state: SyncState) -> None:
        t0 = time.perf_counter()
        g = self.settings.gap_threshold
        ts, counter, rid, rep.clock_jumps = spread_clock_jumps(ts, counter, rid)
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
                    sid, r.raw.ts, r.raw.power_w, self.config.version_id, r.raw.estimated
                )
                rep.estimated_rows += int(np.count_nonzero(r.raw.estimated))
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
        # estimated intervals: re-fetched within the retry horizon, forgotten after it (the
        # rows keep their flag; only the re-fetch stops)
        horizon = self.now - self.settings.retry_horizon
        new_est = [
            m
            for m in merge_missing(plan.old_estimated, results, sid, self.now, found="estimated")
            if m.end_ts >= horizon
        ]
        if [(m.start_ts, m.end_ts) for m in new_est] != [
            (m.start_ts, m.end_ts) for m in plan.old_estimated
        ]:
            self.store.replace_estimated(sid, new_est)
        rep.estimated = len(new_est)
        rep.proven_spans = sum(r.proven_spans for r in results)
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
        end = ceil_grid(self.now) + GRID_S if w.end is None else w.end
        self.fresh.setdefault(sid, []).append((w.start, end, r.raw))
        self.fresh_rows += len(r.raw)

    def installation_ranges(self) -> dict[str, list[tuple[int, int]]]:
        """installation -> merged [start, end) ranges its sensors' rows changed in this run."""
        plan: dict[str, list[tuple[int, int]]] = {}
        for inst in self.config.installations():
            rows = self.config.rows_of(inst)
            ranges = [r for row in rows for r in self.touched.get(row.sensor_id, [])]
            if ranges:
                plan[inst] = merge_ranges(ranges)
        return plan

    def installations(self, report: SyncReport) -> None:
        """Recompute power and rollups of every installation over what its sensors touched.

        Worked local day by local day, every installation of a day sharing one read of
        each sensor's raw power (a sensor belongs to its home and to one or more groups).
        """
        t0 = time.perf_counter()
        plan = self.installation_ranges()
        if not plan:
            return
        lo = min(r[0][0] for r in plan.values())
        hi = max(r[-1][1] for r in plan.values())
        homes = config_homes(self.config)  # a group counts its complete homes per slot
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
                        self.store,
                        inst,
                        rows,
                        self.config.version_id,
                        a,
                        b,
                        read_raw=reader,
                        homes=homes,
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
            estimated=np.concatenate([p.estimated for p in parts]).astype(bool),
        )


def _slice(raw: RawSeries, a: int, b: int) -> RawSeries:
    i, j = np.searchsorted(raw.ts, [a, b])
    return RawSeries(ts=raw.ts[i:j], power_w=raw.power_w[i:j], estimated=raw.estimated[i:j])


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
    shard: Shard | None = None,
) -> SyncReport:
    """One sync run (see the module docstring). Raises LockedError if one already runs.

    ``since``/``until`` [UTC epoch s] select manual mode (re-fetch and rewrite exactly that
    window); ``installations`` limits the sensors to those installations'; ``now_ts``
    fixes "now" (tests, simulator); ``progress`` None = a bar on a TTY, log lines otherwise;
    ``client`` an already open FluksoClient (default: one from ``settings``); ``shard``
    (vde.sync.shards) limits the run to one shard's sensors under that shard's lease and
    hands the installation ranges to it instead of recomputing them here.
    """
    now = int(now_ts) if now_ts is not None else wall_now()
    started = time.perf_counter()
    # Cassandra writes 8-s rows with a TTL from these (vde.sync.retention)
    store.set_retention(settings.raw_retention, settings.power_retention)
    if shard is None:
        from vde.sync.shards import Shard

        # every shard's lease too: no sharded round (vde sync --workers, vde serve
        # --sync-every) may run beside this one, nor this one beside a round
        n = settings.sync_shards
        locks = ("sync", *(Shard(k, n, now).lock_name for k in range(n)))
    else:
        locks = (shard.lock_name,)
    with ExitStack() as held:
        for name in locks:
            held.enter_context(store.lock(name, LOCK_TTL_S))
        # a worker may take the lease just after another finished the shard: done is done
        if shard is not None and store.get_meta(shard.done_key) is not None:
            raise LockedError(f"{shard.lock_name} is already done in this round")
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
        if shard is not None:
            plans = [p for p in plans if shard.owns(p.sensor_id)]
        run = _Run(store, config, settings, now, locks)
        log.info("sync_start", mode=report.mode, sensors=len(plans), now=iso_utc(now))
        own = client is None
        if own:
            client = FluksoClient.from_settings(settings)
        try:
            report.sensors = await _fetch_all(run, client, plans, settings, progress)
        finally:
            if own:
                await client.aclose()
        if shard is None:
            run.installations(report)
        else:
            shard.defer_installations(store, run.installation_ranges())
        # sync state LAST: until here a crash leaves the old resume points, so work is redone
        for st in run.new_states.values():
            store.put_sync_state(st)
        if shard is not None:
            # marked under the lease, so no other worker can redo the shard in between
            store.set_meta(shard.done_key, str(len(report.sensors)))
        if shard is None and (settings.raw_retention or settings.power_retention):
            prune(
                store,
                config,
                raw_retention=settings.raw_retention,
                power_retention=settings.power_retention,
                now_ts=now,
            )
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
    # bound sensors in flight so memory holds a few sensors' points, not the fleet's (as
    # many as the client's adaptive limit may reach: it must never starve for sensors)
    gate = asyncio.Semaphore(max(4, client.max_in_flight))
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
