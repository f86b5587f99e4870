"""Periodic sync/alerts inside ``vde serve``: never two runs at once, times of day."""

from __future__ import annotations

import time
from datetime import datetime

import anyio
import pytest

from vde.errors import SettingsError
from vde.settings import Settings
from vde.storage.base import Store
from vde.timeutil import BRUSSELS
from vde.web.tasks import PeriodicTasks, seconds_until


def test_a_run_is_skipped_while_the_previous_one_goes_on(sqlite_store: Store):
    tasks = PeriodicTasks(sqlite_store, Settings())
    calls = []

    async def slow() -> None:
        calls.append("start")
        await anyio.sleep(0.3)
        calls.append("end")

    async def main() -> list[bool]:
        results = []
        async with anyio.create_task_group() as tg:

            async def one() -> None:
                results.append(await tasks.run_once("sync", slow))

            tg.start_soon(one)
            await anyio.sleep(0.05)
            tg.start_soon(one)
        results.append(await tasks.run_once("sync", slow))
        return results

    assert sorted(anyio.run(main)) == [False, True, True]
    assert calls == ["start", "end", "start", "end"]
    assert tasks.runs["sync"] == 2


def test_sync_jobs_run_in_a_thread(sqlite_store: Store):
    import threading

    tasks = PeriodicTasks(sqlite_store, Settings())
    seen = []
    anyio.run(tasks.run_once, "alerts", lambda: seen.append(threading.current_thread().name))
    assert seen and seen[0] != threading.main_thread().name


def test_seconds_until_a_local_time():
    now = datetime(2026, 3, 28, 7, 0, tzinfo=BRUSSELS)
    assert seconds_until("07:30", now) == 1800
    # across the spring DST change: 07:00 the next day is 23 h later
    assert seconds_until("07:00", now) == 23 * 3600
    with pytest.raises(SettingsError):
        seconds_until("7h", now)


def test_serve_runs_periodic_syncs_from_the_simulator(sqlite_store: Store, tmp_path):
    """``sync_every`` starts arun_sync in the app's lifespan; data lands in the store."""
    from fastapi.testclient import TestClient

    from vde.models import ConfigVersion
    from vde.settings import load_settings
    from vde.simulator import Fleet, serve_in_thread
    from vde.timeutil import now_ts
    from vde.web.app import create_app

    now = now_ts()
    fleet = Fleet.generate(homes=1, seed=5, start_ts=now - 3600, now_ts=now)
    sqlite_store.save_config_version(ConfigVersion(1, tuple(fleet.config_rows())))
    with serve_in_thread(fleet) as sim:
        settings = load_settings(
            database=sqlite_store.url,
            flukso_api_url=sim.url,
            block_cache=str(tmp_path / "blocks.sqlite"),
            sync_every=1,
        )
        app = create_app(sqlite_store, settings)
        with TestClient(app):
            deadline = time.monotonic() + 60
            while app.state.tasks.runs["sync"] < 1:
                assert time.monotonic() < deadline, "no sync ran"
                time.sleep(0.2)
    assert sqlite_store.power_bounds(fleet.homes[0]) is not None
