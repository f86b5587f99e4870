"""Service mode: `vde serve --sync-every` syncs at start, then on schedule.

`vde serve` itself, started as an administrator does (sync at start, one status line per
run, the log in --log-file), is run by tests/docs/test_admin_guide.py.
"""

from __future__ import annotations

import time

import anyio

from vde.settings import Settings
from vde.web.tasks import PeriodicTasks


def test_periodic_task_runs_at_start_then_every_period(sqlite_store):
    """The schedule itself: the first run at once, the next ones ``wait()`` apart."""
    tasks = PeriodicTasks(sqlite_store, Settings())
    stamps: list[float] = []

    async def main() -> None:
        t0 = time.monotonic()
        tasks._spawn("sync", lambda: stamps.append(time.monotonic() - t0), lambda: 1.0, 0.0)
        with anyio.fail_after(30):
            while len(stamps) < 3:
                await anyio.sleep(0.02)
        await tasks.stop()

    anyio.run(main)
    assert stamps[0] < 0.8, stamps  # at start, not after one period
    assert all(b - a >= 0.99 for a, b in zip(stamps, stamps[1:], strict=False)), stamps
    assert tasks.runs["sync"] >= 3
