"""Sharded sync: several processes split the sensors without overlap.

The sensors are cut into ``sync_shards`` shards by a stable hash of their id. One sync
*round* (the ``now`` every cooperating worker was given) goes:

1. a worker claims a shard by taking its lease (``sync-shard:K/N`` in the store's locks
   table: a Cassandra LWT, SQLite's locks table on one machine) and syncs the shard's
   sensors with the ordinary pipeline (:func:`vde.sync.pipeline.arun_sync` with
   ``shard=``), renewing the lease as it goes. Instead of recomputing installation power
   itself, it records per installation the ranges its sensors changed
   (meta ``power-pending:<installation>:<round>:<K>``), then the sensors' resume points,
   then marks the shard done for the round (meta ``sync-round:<round>:K/N``);
2. a shard whose lease holder died is taken over: at once when the holder was a process
   of this host (pid gone), after the lease TTL otherwise. Work redone by the taker is
   idempotent (the holder never wrote the resume points);
3. once every shard of the round is done, which is when the last sensor of every
   installation is, workers recompute installation power and rollups: each installation
   under its own lease (``power:<installation>``), so never twice at once; its pending
   marks are deleted only after the recompute, so a crash leaves them for the next worker
   or the next round, never missed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass

from vde.errors import LockedError, NotFoundError, StorageError
from vde.flukso import FluksoClient
from vde.logs import get_logger
from vde.settings import Settings
from vde.storage.base import Store
from vde.sync.recompute import day_chunks, recompute_range
from vde.sync.report import SyncReport
from vde.sync.retention import prune
from vde.sync.windows import merge_ranges
from vde.timeutil import iso_utc
from vde.timeutil import now_ts as wall_now

log = get_logger(__name__)

PENDING = "power-pending:"
ROUND = "sync-round:"
POWER_LOCK_TTL_S = 600
#: store errors (timeouts while a node is down) a worker rides out before it gives up
MAX_STORAGE_FAILURES = 20
RETRY_PAUSE_S = 2.0
#: done marks of rounds older than this are forgotten [s]
ROUND_KEEP_S = 7 * 86400


def shard_of(sensor_id: str, shards: int) -> int:
    """Shard [0, shards) of a sensor: the same in every process and on every machine."""
    digest = hashlib.sha1(sensor_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % int(shards)


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` in the round ``round_ts`` (what the pipeline needs)."""

    index: int
    count: int
    round_ts: int

    @property
    def lock_name(self) -> str:
        return f"sync-shard:{self.index}/{self.count}"

    @property
    def done_key(self) -> str:
        return f"{ROUND}{self.round_ts}:{self.index}/{self.count}"

    def owns(self, sensor_id: str) -> bool:
        return shard_of(sensor_id, self.count) == self.index

    def defer_installations(self, store: Store, plan: dict[str, list[tuple[int, int]]]) -> None:
        """Record the ranges to recompute per installation (before the resume points)."""
        for inst, ranges in plan.items():
            key = f"{PENDING}{inst}:{self.round_ts}:{self.index}"
            store.set_meta(key, json.dumps([[int(a), int(b)] for a, b in ranges]))


def pending_installations(store: Store) -> dict[str, dict[str, list[tuple[int, int]]]]:
    """installation -> {meta key: ranges} of power recomputes still to do."""
    out: dict[str, dict[str, list[tuple[int, int]]]] = {}
    for key, value in store.meta_items().items():
        if key.startswith(PENDING):
            inst = key[len(PENDING) :].rsplit(":", 2)[0]
            out.setdefault(inst, {})[key] = [(int(a), int(b)) for a, b in json.loads(value)]
    return out


def recompute_pending(store: Store, report: SyncReport | None = None) -> int:
    """Recompute every installation with pending ranges whose lease this process gets.

    Returns how many installations this call recomputed. Installations leased by another
    live process are left to it.
    """
    config = store.load_config()
    if config is None:
        raise NotFoundError("no configuration imported yet (run: vde config import PATH)")
    done = 0
    pending = pending_installations(store)
    for inst in sorted(pending):
        name = f"power:{inst}"
        if not store.try_lock(name, POWER_LOCK_TTL_S):
            continue
        try:
            # check again under the lease (another worker may have just done it); marks
            # written since the scan above stay for the next call
            keys = {k: v for k, v in pending[inst].items() if store.get_meta(k) is not None}
            if not keys:
                continue
            ranges = merge_ranges([r for rs in keys.values() for r in rs])
            item = {"rows": 0, "missing_slots": 0, "ranges": []}
            rows = config.rows_of(inst)
            for lo, hi in ranges:
                for a, b in day_chunks(lo, hi):
                    res = recompute_range(store, inst, rows, config.version_id, a, b)
                    item["rows"] += res.rows
                    item["missing_slots"] += res.missing_slots
                    store.refresh_lock(name, POWER_LOCK_TTL_S)
                item["ranges"].append([iso_utc(lo), iso_utc(hi)])
            for key in keys:
                store.set_meta(key, None)
            if report is not None:
                report.installations[inst] = item
            done += 1
        finally:
            store.release_lock(name)
    return done


def _forget_old_rounds(store: Store, round_ts: int) -> None:
    for key in store.meta_items():
        if key.startswith(ROUND):
            ts = int(key[len(ROUND) :].split(":", 1)[0])
            if ts < round_ts - ROUND_KEEP_S:
                store.set_meta(key, None)


async def arun_worker(
    store: Store,
    settings: Settings,
    *,
    now_ts: int | None = None,
    shards: int | None = None,
    client: FluksoClient | None = None,
    poll_s: float = 0.5,
    timeout_s: float = 3600.0,
) -> SyncReport:
    """One worker of a sharded round: sync free shards until all are done, then power.

    ``now_ts`` is the round (every cooperating worker must get the same); ``shards``
    defaults to ``settings.sync_shards``. Returns this worker's part of the report
    (merge the workers' parts with :func:`merge_reports`).
    """
    from vde.sync.pipeline import arun_sync

    now = int(now_ts) if now_ts is not None else wall_now()
    n = int(shards or settings.sync_shards)
    started = time.perf_counter()
    config = store.load_config()
    if config is None:
        raise NotFoundError("no configuration imported yet (run: vde config import PATH)")
    report = SyncReport(mode="auto", now_ts=now, config_version=config.version_id)
    store.set_retention(settings.raw_retention, settings.power_retention)
    timings: dict[str, float] = {}
    own = client is None
    if own:
        client = FluksoClient.from_settings(settings)
    deadline = time.monotonic() + timeout_s
    failures = 0
    try:
        while True:
            todo = [Shard(k, n, now) for k in range(n)]
            todo = [s for s in todo if store.get_meta(s.done_key) is None]
            if not todo:
                break
            progressed = False
            for shard in todo:
                if store.get_meta(shard.done_key) is not None:
                    continue
                try:
                    part = await arun_sync(
                        store, settings, now_ts=now, progress=False, client=client, shard=shard
                    )
                except LockedError:
                    continue  # another live worker has it
                except StorageError as exc:
                    # e.g. a replica died and is not yet marked down (a quorum read timed
                    # out): the shard is not done, its resume points unwritten; try again
                    failures += 1
                    log.warning(
                        "sync_shard_retry",
                        shard=shard.lock_name,
                        failures=failures,
                        reason=str(exc),
                    )
                    if failures > MAX_STORAGE_FAILURES:
                        raise
                    await asyncio.sleep(RETRY_PAUSE_S)
                    continue
                report.sensors.extend(part.sensors)
                for k, v in part.timings.items():
                    timings[k] = timings.get(k, 0.0) + v
                progressed = True
                log.info("sync_shard_done", shard=shard.lock_name, sensors=len(part.sensors))
            if not progressed:
                if time.monotonic() > deadline:
                    raise LockedError("shards still leased by other workers; try again later")
                await asyncio.sleep(poll_s)
    finally:
        if own:
            await client.aclose()
    t0 = time.perf_counter()
    for attempt in range(MAX_STORAGE_FAILURES + 1):
        try:
            recompute_pending(store, report)
            break
        except StorageError as exc:
            # the pending marks stay until a recompute completes: try again
            if attempt == MAX_STORAGE_FAILURES:
                raise
            log.warning("power_recompute_retry", attempt=attempt + 1, reason=str(exc))
            await asyncio.sleep(RETRY_PAUSE_S)
    timings["power"] = timings.get("power", 0.0) + time.perf_counter() - t0
    _forget_old_rounds(store, now)
    if settings.raw_retention or settings.power_retention:
        prune(
            store,
            store.load_config(),
            raw_retention=settings.raw_retention,
            power_retention=settings.power_retention,
            now_ts=now,
        )
    report.sensors.sort(key=lambda r: r.sensor_id)
    report.timings = {k: round(v, 3) for k, v in timings.items()}
    report.elapsed_s = round(time.perf_counter() - started, 3)
    log.info("sync_worker_done", **report.summary())
    return report


def run_worker(store: Store, settings: Settings, **kwargs) -> SyncReport:
    """Blocking wrapper of :func:`arun_worker`."""
    return asyncio.run(arun_worker(store, settings, **kwargs))


def merge_reports(parts: list[dict]) -> dict:
    """One ``--json`` report from the workers' ``to_dict()`` parts."""
    if not parts:
        raise NotFoundError("no worker report to merge")
    sensors = sorted((s for p in parts for s in p["sensor_reports"]), key=lambda s: s["sensor_id"])
    insts: dict[str, dict] = {}
    for p in parts:
        insts.update(p["installation_reports"])
    out = dict(parts[0])
    out["sensor_reports"] = sensors
    out["installation_reports"] = insts
    out["ok"] = all(s["ok"] for s in sensors)
    out["sensors"] = len(sensors)
    out["sensors_ok"] = sum(s["ok"] for s in sensors)
    out["sensors_failed"] = out["sensors"] - out["sensors_ok"]
    for key, field in (
        ("points", "points"),
        ("fetched_points", "fetched_points"),
        ("raw_rows", "rows"),
        ("gaps", "gaps"),
        ("filled", "filled"),
        ("block_issues", "issues"),
        ("blocks_downloaded", "blocks_downloaded"),
        ("estimated_rows", "estimated_rows"),
        ("proven_spans", "proven_spans"),
        ("clock_jumps", "clock_jumps"),
    ):
        out[key] = sum(s[field] for s in sensors)
    out["installations"] = len(insts)
    out["power_rows"] = sum(i["rows"] for i in insts.values())
    out["elapsed_s"] = max(p["elapsed_s"] for p in parts)
    timings: dict[str, float] = {}
    for p in parts:
        for k, v in p.get("timings_s", {}).items():
            timings[k] = round(timings.get(k, 0.0) + v, 3)
    out["timings_s"] = timings
    out["workers"] = len(parts)
    return out
