"""Service mode: `vde serve --sync-every` syncs on schedule inside the web server process."""

from __future__ import annotations

import signal
import sys
import time

import httpx

from tests.demo.test_demo import Proc, free_port
from vde.processing.workbook import write_workbook
from vde.simulator import Fleet, serve_in_thread
from vde.storage import open_store
from vde.sync.importer import import_workbook


def test_serve_runs_scheduled_syncs(tmp_path):
    now = int(time.time())
    fleet = Fleet.generate(homes=2, seed=9, start_ts=now - 6 * 3600)
    wb = tmp_path / "fleet.xlsx"
    write_workbook(wb, fleet.config_rows(), fleet.access_rows(), fleet.captions())
    url = f"sqlite:///{tmp_path / 'vde.db'}"
    with open_store(url) as store:
        store.create_schema()
        import_workbook(store, wb)
    port = free_port()
    with serve_in_thread(fleet) as sim:
        env = {
            "VDE_CONFIG": str(tmp_path / "none.toml"),
            "VDE_DATABASE": url,
            "VDE_FLUKSO_API_URL": sim.url,
            "VDE_BLOCK_CACHE": str(tmp_path / "blocks.sqlite"),
            "VDE_BACKFILL_HORIZON": "1d",
        }
        serve = Proc(
            [sys.executable, "-m", "vde.cli", "serve", "--port", str(port), "--sync-every", "4s"],
            cwd=tmp_path,
            env=env,
        )
        try:
            deadline = time.monotonic() + 180
            syncs_seen: list[int] = []
            while time.monotonic() < deadline:
                with open_store(url) as store:
                    states = store.sync_states()
                    done = [s.last_success_ts for s in states.values() if s.last_success_ts]
                if len(done) == len(fleet.sensors):
                    syncs_seen.append(min(done))
                    if len(set(syncs_seen)) >= 2:  # a second scheduled run happened
                        break
                time.sleep(1)
            assert len(set(syncs_seen)) >= 2, serve.text()[-3000:]
            with open_store(url) as store:
                bounds = store.power_bounds(fleet.homes[0])
            assert bounds is not None and bounds[1] > now - 3600
            r = httpx.get(f"http://127.0.0.1:{port}/login", timeout=10)
            assert r.status_code == 200
        finally:
            code = serve.stop(signal.SIGINT)
        assert code == 0, serve.text()[-3000:]
