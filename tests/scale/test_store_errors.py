"""Store errors during a sharded sync, provoked for real on SQLite.

- Another connection holds the database's write lock while the sync writes: the writes
  fail with "database is locked", are retried with backoff, and the round ends as a clean
  run would.
- The database refuses one sensor's rows (a trigger): that sensor is retried, then
  reported failed with the store's reason and its resume point kept; the other sensors
  and their installations are synced; once the database accepts the rows again, the
  next round catches the sensor up.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import threading
import time
from pathlib import Path

from structlog.testing import capture_logs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sync"))
from syncenv import BIG, sim_env, snapshot

from vde.flukso import FluksoClient
from vde.models import ConfigVersion
from vde.settings import load_settings
from vde.simulator import Faults, Fleet, serve_in_thread
from vde.storage import open_store
from vde.sync.pipeline import SENSOR_STORE_ATTEMPTS, STORE_RETRY_PAUSE_S
from vde.sync.shards import arun_worker, pending_installations

H = 3600
T0 = 1_790_000_000 - 1_790_000_000 % 86400


def _of(events: list[dict], name: str) -> list[dict]:
    return [e for e in events if e.get("event") == name]


def _store(tmp_path: Path, fleet: Fleet):
    url = f"sqlite:///{tmp_path / 'vde.db'}"
    store = open_store(url)
    store.create_schema()
    store.save_config_version(ConfigVersion(1, tuple(fleet.config_rows())))
    return url, store


def _worker(store, url: str, sim_url: str, tmp_path: Path, now: int):
    async def go():
        async with FluksoClient(sim_url, retries=3, backoff=0.01) as client:
            settings = load_settings(
                database=url,
                flukso_api_url=sim_url,
                block_cache=str(tmp_path / "blocks.sqlite"),
                sync_shards=2,
            )
            return await arun_worker(store, settings, now_ts=now, client=client)

    return asyncio.run(go())


def _clean(tmp_path: Path, fleet: Fleet) -> dict:
    (tmp_path / "clean").mkdir()
    with open_store(f"sqlite:///{tmp_path / 'clean' / 'vde.db'}") as clean:
        clean.create_schema()
        with sim_env(clean, tmp_path / "clean", fleet) as env:
            assert env.sync().ok
        return snapshot(clean, env.config)


def test_a_locked_database_is_retried_with_backoff(tmp_path):
    f = Fleet.generate(homes=2, seed=21, start_ts=T0, now_ts=T0 + 4 * H)
    url, store = _store(tmp_path, f)
    path = str(tmp_path / "vde.db")
    # the store waits up to 30 s for a lock; the sync's own connection waits 0.2 s here,
    # so the real "database is locked" comes at once
    store._conn().execute("PRAGMA busy_timeout=200")
    held = threading.Event()
    events: list[dict] = []

    def hold_the_write_lock() -> None:
        other = sqlite3.connect(path, timeout=30, isolation_level=None)
        try:
            deadline = time.monotonic() + 60
            # once a worker holds a shard lease, its sensors are being fetched
            while not other.execute(
                "SELECT count(*) FROM locks WHERE name LIKE 'sync-shard:%'"
            ).fetchone()[0]:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            other.execute("BEGIN IMMEDIATE")
            held.set()
            # keep it until a write of the sync has failed on it and been put off
            while not _of(events, "sync_store_retry") and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.3)
            other.execute("COMMIT")
        finally:
            other.close()

    holder = threading.Thread(target=hold_the_write_lock, daemon=True)
    try:
        with serve_in_thread(f, faults=Faults(latency=0.2)) as srv, capture_logs() as logged:
            events = logged
            holder.start()
            rep = _worker(store, url, srv.url, tmp_path, f.now)
        holder.join(30)
        retries = _of(events, "sync_store_retry")
        assert held.is_set() and retries
        assert all("locked" in e["reason"] for e in retries)
        first = [e["pause_s"] for e in retries if e["attempt"] == 1]
        assert first and all(p == STORE_RETRY_PAUSE_S for p in first)
        assert rep.ok, rep.failed  # ridden out: every sensor synced
        cfg = store.load_config()
        assert sorted(r.sensor_id for r in rep.sensors) == sorted(cfg.sensors())
        assert not pending_installations(store)
        assert snapshot(store, cfg) == _clean(tmp_path, f)
    finally:
        store.close()


def test_one_sensor_refused_by_the_store_is_reported_and_the_others_go_on(tmp_path):
    f = Fleet.generate(homes=2, seed=22, start_ts=T0, now_ts=T0 + 4 * H)
    url, store = _store(tmp_path, f)
    cfg = store.load_config()
    bad = cfg.rows_of(f.homes[0])[0].sensor_id
    with sqlite3.connect(tmp_path / "vde.db") as conn:
        conn.execute(
            "CREATE TRIGGER refuse_one BEFORE INSERT ON raw"
            f" WHEN NEW.sensor_id = '{bad}' BEGIN SELECT RAISE(ABORT, 'rows refused'); END"
        )
    try:
        with serve_in_thread(f) as srv:
            with capture_logs() as events:
                rep = _worker(store, url, srv.url, tmp_path, f.now)
            assert not rep.ok
            assert [r.sensor_id for r in rep.failed] == [bad]
            failed = rep.failed[0]
            assert failed.reason.startswith("store error:") and "rows refused" in failed.reason
            # retried with growing pauses, then given up
            pauses = [e["pause_s"] for e in _of(events, "sync_store_retry")]
            assert pauses == [STORE_RETRY_PAUSE_S * 2**i for i in range(SENSOR_STORE_ATTEMPTS - 1)]
            assert [e["sensor_id"] for e in _of(events, "sync_sensor_store_failed")] == [bad]
            # the others are synced, and so is every installation's power
            for r in rep.sensors:
                if r.sensor_id != bad:
                    assert r.ok and r.rows > 0 and len(store.read_raw(r.sensor_id, 0, BIG))
            assert len(store.read_raw(bad, 0, BIG)) == 0
            fed = {i for i in cfg.installations() if {r.sensor_id for r in cfg.rows_of(i)} - {bad}}
            assert set(rep.installations) == fed and fed
            assert not pending_installations(store)
            # its resume point is kept, with the reason: the next round does it again
            state = store.sync_states()[bad]
            assert state.last_ts is None and "rows refused" in state.last_error
            with sqlite3.connect(tmp_path / "vde.db") as conn:
                conn.execute("DROP TRIGGER refuse_one")
            again = _worker(store, url, srv.url, tmp_path, f.now + 1)
        assert again.ok and [r.sensor_id for r in again.sensors if r.rows] == [bad]
        assert f.homes[0] in again.installations  # its home's power, with the late rows
        assert snapshot(store, cfg) == _clean(tmp_path, f)
    finally:
        store.close()
