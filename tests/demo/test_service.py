"""Service mode: `vde serve --sync-every` syncs at start, then on schedule, quietly."""

from __future__ import annotations

import re
import signal
import sys
import time

import anyio
import httpx

from tests.demo.test_demo import Proc, free_port
from vde.processing.workbook import write_workbook
from vde.settings import Settings
from vde.simulator import Fleet, serve_in_thread
from vde.storage import open_store
from vde.sync.importer import import_workbook
from vde.web.tasks import PeriodicTasks


def test_serve_syncs_at_start_with_one_status_line_and_logs_to_its_file(tmp_path):
    """With --sync-every 1h, fresh data within the test's wait proves the sync at start."""
    now = int(time.time())
    fleet = Fleet.generate(homes=2, seed=9, start_ts=now - 6 * 3600)
    wb = tmp_path / "fleet.xlsx"
    write_workbook(wb, fleet.config_rows(), fleet.access_rows(), fleet.captions())
    url = f"sqlite:///{tmp_path / 'vde.db'}"
    with open_store(url) as store:
        store.create_schema()
        import_workbook(store, wb)
    (tmp_path / "empty.toml").write_text("")
    port = free_port()
    log_file = tmp_path / "serve.log"
    with serve_in_thread(fleet) as sim:
        env = {
            "VDE_CONFIG": str(tmp_path / "empty.toml"),  # only the env below
            "VDE_DATABASE": url,
            "VDE_FLUKSO_API_URL": sim.url,
            "VDE_BLOCK_CACHE": str(tmp_path / "blocks.sqlite"),
            "VDE_BACKFILL_HORIZON": "1d",
        }
        args = ["serve", "--port", str(port), "--sync-every", "1h", "--log-file", str(log_file)]
        serve = Proc([sys.executable, "-m", "vde.cli", *args], cwd=tmp_path, env=env)
        try:
            serve.wait_for(r"\d\d:\d\d:\d\d  sync: \d+/\d+ sensors ok", timeout=180)
            with open_store(url) as store:
                states = store.sync_states()
                bounds = store.power_bounds(fleet.homes[0])
            assert len([s for s in states.values() if s.last_success_ts]) == len(fleet.sensors)
            assert bounds is not None and bounds[1] > now - 3600
            r = httpx.get(f"http://127.0.0.1:{port}/login", timeout=10)
            assert r.status_code == 200
        finally:
            code = serve.stop(signal.SIGINT)
        assert code == 0, serve.text()[-3000:]
    out = serve.text()
    n = len(fleet.sensors)
    assert re.search(rf"\d\d:\d\d:\d\d  sync: {n}/{n} sensors ok, \d+ new rows", out), out
    # the terminal gets the status line, not a log line per sensor; the file gets the log
    assert "sync_sensor" not in out and "sync_done" not in out, out
    log_text = log_file.read_text()
    assert "sync_done" in log_text and log_text.count("sync_sensor") >= n


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
