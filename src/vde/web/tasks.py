"""Periodic work inside ``vde serve``: a sync every ``sync_every``, alerts daily at ``alerts_at``.

The first sync runs at start (a dashboard started after a pause shows fresh data at once),
then every ``sync_every``. Each run ends with one status line for the person watching the
terminal (``vde.logs.status``), not a log line per sensor.

A sync is a worker of the sharded round at the last multiple of ``sync_every``
(``vde.sync.shards.run_periodic``), and later runs tick just after each multiple: several
``vde serve`` instances on one database, on one machine or several, take the round's
shards through leases in the store and split its work without overlap.

A run never overlaps the previous one: when it is still going at the next tick, the tick is
skipped (and logged). Failures are logged with their type and the loop goes on to the next
tick: the next run retries the same work, so nothing is lost by skipping.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import time as _time
from collections.abc import Callable
from datetime import datetime, time, timedelta

from starlette.concurrency import run_in_threadpool

from vde.errors import SettingsError, VdeError
from vde.logs import get_logger, status
from vde.settings import Settings
from vde.storage.base import Store
from vde.timeutil import BRUSSELS

log = get_logger(__name__)


def _target(module: str, attr: str) -> Callable | None:
    """``module.attr`` when that module exists in this installation, else None."""
    if importlib.util.find_spec(module) is None:
        return None
    return getattr(importlib.import_module(module), attr, None)


def seconds_until(hhmm: str, now: datetime) -> float:
    """Seconds from ``now`` (aware) to the next local ``HH:MM`` [s], DST included."""
    try:
        hh, mm = (int(x) for x in hhmm.split(":"))
        at = datetime.combine(now.date(), time(hh, mm), now.tzinfo)
    except ValueError:
        raise SettingsError(f"alerts_at must be HH:MM, got {hhmm!r}") from None
    if at <= now:
        at = datetime.combine(now.date() + timedelta(days=1), time(hh, mm), now.tzinfo)
    # timestamps, not aware-datetime subtraction: the latter ignores a DST change between
    return at.timestamp() - now.timestamp()


class PeriodicTasks:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._tasks: list[asyncio.Task] = []
        self._running: set[str] = set()
        self.runs: dict[str, int] = {"sync": 0, "alerts": 0}

    def start(self) -> None:
        if self.settings.sync_every:
            # blocking (its own event loop, in a worker thread): store writes must never
            # stall the dashboard's event loop
            run_periodic = _target("vde.sync.shards", "run_periodic")
            if run_periodic is None:
                log.warning("periodic_sync_unavailable", reason="vde.sync.shards missing")
            else:
                from vde.sync.shards import seconds_to_next_round

                every = float(self.settings.sync_every)
                self._spawn(
                    "sync",
                    lambda: _announce_sync(run_periodic(self.store, self.settings)),
                    lambda: seconds_to_next_round(every, _time.time()),
                    first_wait=0.0,
                )
        self._daily("alerts", "vde.alerts.run", "run_alerts", self.settings.alerts_at)
        # data exchange (vde.export.job): what is new since the last export, daily
        self._daily("export", "vde.export.job", "scheduled_job", self.settings.export_at)

    def _daily(self, name: str, module: str, func: str, at: str | None) -> None:
        """Run module.func(store, settings) every day at local time ``at`` (when set)."""
        if not at:
            return
        target = _target(module, func)
        seconds_until(at, datetime.now(BRUSSELS))  # fail fast on a bad time
        if target is None:
            log.warning(f"periodic_{name}_unavailable", reason=f"{module} missing")
            return
        self.runs.setdefault(name, 0)
        self._spawn(
            name,
            lambda: target(self.store, self.settings),
            lambda: seconds_until(at, datetime.now(BRUSSELS)),
        )

    def _spawn(
        self,
        name: str,
        job: Callable[[], object],
        wait: Callable[[], float],
        first_wait: float | None = None,
    ) -> None:
        loop = self._loop(name, job, wait, first_wait)
        self._tasks.append(asyncio.create_task(loop, name=f"vde-{name}"))

    async def _loop(
        self,
        name: str,
        job: Callable[[], object],
        wait: Callable[[], float],
        first_wait: float | None = None,
    ) -> None:
        await asyncio.sleep(wait() if first_wait is None else first_wait)
        while True:
            await self.run_once(name, job)
            await asyncio.sleep(wait())

    async def run_once(self, name: str, job: Callable[[], object]) -> bool:
        """Run ``job`` unless a run of ``name`` is still going; True when it ran."""
        if name in self._running:
            log.warning("periodic_skipped", task=name, reason="previous run still going")
            return False
        self._running.add(name)
        try:
            # A sync job runs in a thread; an async one returns its coroutine, awaited here.
            result = await run_in_threadpool(job)
            if inspect.isawaitable(result):
                await result
            self.runs[name] += 1
            log.info("periodic_done", task=name)
        except VdeError as exc:
            log.error("periodic_failed", task=name, error=type(exc).__name__, message=str(exc))
            status(f"{name} failed: {exc}", task=name)
        except Exception:  # the edge of a service loop: report it, keep the schedule
            log.exception("periodic_crashed", task=name)
        finally:
            self._running.discard(name)
        return True

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except asyncio.CancelledError:
                pass
        self._tasks.clear()


def _announce_sync(report: object) -> object:
    """One line per sync run: sensors ok, rows written, time taken (the log line has when)."""
    summary = getattr(report, "summary", None)
    if summary is None:
        return report
    s = summary()
    failed = f", {s['sensors_failed']} FAILED (see the log)" if s.get("sensors_failed") else ""
    status(
        f"sync: {s['sensors_ok']}/{s['sensors']} sensors ok{failed}, "
        f"{s['raw_rows']} new rows, {s['elapsed_s']:.1f} s",
        task="sync",
    )
    return report
