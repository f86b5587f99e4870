"""Sharded sync: several processes split the sensors without overlap.

The sensors are cut into ``sync_shards`` shards by a stable hash of their id. One sync
*round* (the ``now`` every cooperating worker was given) goes:

1. a worker claims a shard (``SHARDS_IN_FLIGHT`` at once) by taking its lease (``sync-shard:K/N`` in the store's locks
   table: a Cassandra LWT, SQLite's locks table on one machine) and syncs the shard's
   sensors with the ordinary pipeline (:func:`vde.sync.pipeline.arun_sync` with
   ``shard=``), renewing the lease as it goes. Instead of recomputing installation power
   itself, it records per installation the ranges its sensors changed
   (meta ``power-pending:<installation>:<round>:<K>``), then the sensors' resume points,
   then marks the shard done for the round (meta ``sync-round:<round>:K/N``);
2. a shard whose lease holder died is taken over: at once when the holder was a process
   of this host (pid gone), after the lease TTL otherwise. Work redone by the taker is
   idempotent (the holder never wrote the resume points);
3. an installation's power and rollups are recomputed as soon as every shard holding one
   of its sensors is done in the round (its sensors' last windows are written), by
   whichever worker sees it first: the one that finished its last shard, or one waiting
   for shards. It goes under the installation's own lease (``power:<installation>``), so
   never twice at once, and the pending marks are checked again under the lease and
   deleted only after the recompute: a worker that comes second finds none and does
   nothing; a crash leaves them for the next worker or the next round, never missed
   (once all shards are done, a last pass recomputes whatever marks are left, of this
   round or of an earlier one).

Store errors (a write refused, a quorum read timing out while a replica is down) are
retried with exponential backoff: per sensor inside the pipeline (a sensor that still
fails is reported failed, the others go on), per shard and per recompute here, up to
``MAX_STORAGE_FAILURES`` per worker before the worker gives up and reports the error.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

from vde.errors import LockedError, NotFoundError, StorageError
from vde.flukso import FluksoClient
from vde.logs import get_logger
from vde.settings import Settings
from vde.storage.base import Store
from vde.sync.report import SyncReport
from vde.sync.retention import prune
from vde.sync.shard_power import (
    PENDING,
    POWER_LOCK_TTL_S,
    RoundPower,
    needed_shards,
    pending_installations,
    recompute_installation,
    recompute_pending,
    shard_of,
)
from vde.timeutil import now_ts as wall_now

log = get_logger(__name__)

__all__ = [
    "PENDING",
    "POWER_LOCK_TTL_S",
    "RoundPower",
    "Shard",
    "arun_worker",
    "merge_reports",
    "needed_shards",
    "pending_installations",
    "recompute_installation",
    "recompute_pending",
    "run_periodic",
    "run_worker",
    "shard_of",
]

ROUND = "sync-round:"
#: store errors (timeouts while a node is down) a worker rides out before it gives up
MAX_STORAGE_FAILURES = 20
#: first pause after a store error, doubled on each failure up to the cap [s]
RETRY_PAUSE_S = 0.5
RETRY_PAUSE_MAX_S = 8.0
#: done marks of rounds older than this are forgotten [s]
ROUND_KEEP_S = 7 * 86400
#: periodic rounds start this long after their instant, so every instance's clock has
#: passed it [s]
ROUND_START_DELAY_S = 1.0
#: shards a worker syncs at once: while one waits for its slowest sensors, the next one
#: already fetches (one at a time left the connections idle at every shard's tail)
SHARDS_IN_FLIGHT = 2


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


def backoff_s(failures: int) -> float:
    """Pause [s] before retrying after ``failures`` consecutive store errors (>= 1)."""
    return min(RETRY_PAUSE_S * 2 ** max(0, failures - 1), RETRY_PAUSE_MAX_S)


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
    wait_for_others: bool = True,
    in_flight: int = SHARDS_IN_FLIGHT,
) -> SyncReport:
    """One worker of a sharded round: sync free shards, and installation power as it gets ready.

    ``now_ts`` is the round (every cooperating worker must get the same); ``shards``
    defaults to ``settings.sync_shards``. Returns this worker's part of the report
    (merge the workers' parts with :func:`merge_reports`). ``wait_for_others`` False:
    return as soon as no free shard is left, leaving those other workers hold (and the
    power of their installations) to them, instead of waiting for the round to end.
    ``in_flight``: shards synced at once (1: strictly one after another, in order).
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
    timings: dict[str, float] = {"power": 0.0}
    all_shards = [Shard(k, n, now) for k in range(n)]
    power = RoundPower(store, config, n, now)
    retry = _Retry()

    def done_now() -> set[int]:
        return {s.index for s in all_shards if store.get_meta(s.done_key) is not None}

    async def power_step(done: set[int]) -> None:
        t0 = time.perf_counter()
        try:
            power.step(done, report)
            retry.ok()
        except StorageError as exc:
            # the marks stay until a recompute completes: the next step tries again
            await retry.failed("power_recompute_retry", exc)
        timings["power"] += time.perf_counter() - t0

    own = client is None
    if own:
        client = FluksoClient.from_settings(settings)
    deadline = time.monotonic() + timeout_s
    finished = False
    running: dict[int, asyncio.Task] = {}
    elsewhere: set[int] = set()  # leased by another live worker: skipped until the next poll
    try:
        while True:
            done = done_now()
            await power_step(done)
            free = [
                s
                for s in all_shards
                if s.index not in done and s.index not in running and s.index not in elsewhere
            ]
            if not free and not running:
                if len(done) == n:
                    finished = True
                    break
                if not wait_for_others:
                    break
                if time.monotonic() > deadline:
                    raise LockedError("shards still leased by other workers; try again later")
                await asyncio.sleep(poll_s)
                elsewhere.clear()
                continue
            for shard in free[: max(0, in_flight - len(running))]:
                running[shard.index] = asyncio.create_task(
                    arun_sync(
                        store, settings, now_ts=now, progress=False, client=client, shard=shard
                    )
                )
            ended, _ = await asyncio.wait(running.values(), return_when=asyncio.FIRST_COMPLETED)
            for index in [k for k, t in running.items() if t in ended]:
                shard = all_shards[index]
                try:
                    part = running.pop(index).result()
                except LockedError:
                    elsewhere.add(index)  # another live worker has it, or it is done
                    continue
                except StorageError as exc:
                    # e.g. a replica died and is not yet marked down (a quorum read timed
                    # out): the shard is not done, its resume points unwritten; try again
                    await retry.failed("sync_shard_retry", exc, shard=shard.lock_name)
                    continue
                retry.ok()
                report.sensors.extend(part.sensors)
                for k, v in part.timings.items():
                    timings[k] = timings.get(k, 0.0) + v
                log.info("sync_shard_done", shard=shard.lock_name, sensors=len(part.sensors))
            # the loop's next power step recomputes the installations whose last shard
            # this was: their power now, not after the round
    finally:
        for task in running.values():
            task.cancel()
        if running:
            await asyncio.gather(*running.values(), return_exceptions=True)
        if own:
            await client.aclose()
    if finished:
        await _end_of_round(store, settings, report, retry, timings, now)
    report.sensors.sort(key=lambda r: r.sensor_id)
    report.timings = {k: round(v, 3) for k, v in timings.items()}
    report.elapsed_s = round(time.perf_counter() - started, 3)
    log.info("sync_worker_done", **report.summary())
    return report


async def _end_of_round(
    store: Store,
    settings: Settings,
    report: SyncReport,
    retry: _Retry,
    timings: dict[str, float],
    now: int,
) -> None:
    """Every shard is done: leftover power marks, old round marks, retention."""
    t0 = time.perf_counter()
    while True:
        try:
            # leftovers: installations another worker leased and left, earlier rounds' marks
            recompute_pending(store, report)
            break
        except StorageError as exc:
            await retry.failed("power_recompute_retry", exc)
    timings["power"] += time.perf_counter() - t0
    _forget_old_rounds(store, now)
    if settings.raw_retention or settings.power_retention:
        prune(
            store,
            store.load_config(),
            raw_retention=settings.raw_retention,
            power_retention=settings.power_retention,
            now_ts=now,
        )


class _Retry:
    """Store errors of one worker: pause with exponential backoff, give up after too many."""

    def __init__(self) -> None:
        self.failures = 0  # in this worker, in all
        self.streak = 0  # since the last success: sets the pause

    def ok(self) -> None:
        self.streak = 0

    async def failed(self, event: str, exc: StorageError, **fields: object) -> None:
        self.failures += 1
        self.streak += 1
        if self.failures > MAX_STORAGE_FAILURES:
            log.error(event.replace("_retry", "_gave_up"), failures=self.failures, reason=str(exc))
            raise exc
        pause = backoff_s(self.streak)
        log.warning(event, failures=self.failures, pause_s=pause, reason=str(exc), **fields)
        await asyncio.sleep(pause)


def run_worker(store: Store, settings: Settings, **kwargs) -> SyncReport:
    """Blocking wrapper of :func:`arun_worker`."""
    return asyncio.run(arun_worker(store, settings, **kwargs))


def round_of(now: int, every: int) -> int:
    """Round of a periodic sync at ``now``: the last multiple of ``every`` [UTC epoch s].

    Instances on several machines with the same ``sync_every`` compute the same round
    (their clocks agree to well under ``every``), so they split it through the leases.
    """
    return int(now) - int(now) % max(1, int(every))


def seconds_to_next_round(every: float, now: float) -> float:
    """Pause [s] until just after the next round instant (all instances tick together)."""
    return float(every) - float(now) % float(every) + ROUND_START_DELAY_S


def run_periodic(store: Store, settings: Settings) -> SyncReport:
    """One sync of ``vde serve --sync-every``: a worker of the current round.

    It takes the shards no other instance holds and returns when none is left, so
    several ``vde serve`` processes on one database (on one machine or several) share
    each round without overlap; the power of an installation is recomputed by whichever
    finishes its last shard.
    """
    every = int(settings.sync_every or 0)
    if every <= 0:
        raise NotFoundError("sync_every is not set: no periodic sync to run")
    return run_worker(
        store,
        settings,
        now_ts=round_of(wall_now(), every),
        wait_for_others=False,
    )


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
    # each installation once per round: recomputes by all workers (equal to installations)
    out["power_recomputes"] = sum(len(p["installation_reports"]) for p in parts)
    out["power_rows"] = sum(i["rows"] for i in insts.values())
    out["elapsed_s"] = max(p["elapsed_s"] for p in parts)
    timings: dict[str, float] = {}
    for p in parts:
        for k, v in p.get("timings_s", {}).items():
            timings[k] = round(timings.get(k, 0.0) + v, 3)
    out["timings_s"] = timings
    out["workers"] = len(parts)
    return out
