"""Sharded sync on both backends, with the simulator over HTTP.

2 worker processes store exactly what 1 process stores, and recompute each installation
exactly once; an installation's power is recomputed as soon as the shards of its sensors
are done, not after the round; a worker SIGKILLed mid-run has its shards taken over by
the next; installation power is recomputed under one lease per installation and its
pending marks survive until it is done.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sync"))
from syncenv import cli_env, sim_env, snapshot
from syncenv import prepare_store as _prepare

from vde.errors import LockedError
from vde.flukso import FluksoClient
from vde.simulator import Faults, Fleet, serve_in_thread
from vde.storage import open_store
from vde.sync.shards import (
    PENDING,
    Shard,
    arun_worker,
    needed_shards,
    pending_installations,
    recompute_pending,
    shard_of,
)

H = 3600
T0 = 1_790_000_000 - 1_790_000_000 % 86400


def _env(tmp: Path, db_url: str, sim_url: str, **extra: str) -> dict[str, str]:
    return cli_env(tmp, db_url, sim_url, VDE_SYNC_SHARDS="4", **extra)


def _clean_run(tmp_path: Path, fleet: Fleet) -> dict:
    """What one ordinary (unsharded) sync stores, in its own SQLite file."""
    clean = open_store(f"sqlite:///{tmp_path / 'clean.db'}")
    clean.create_schema()
    try:
        (tmp_path / "clean").mkdir()
        with sim_env(clean, tmp_path / "clean", fleet) as env:
            rep = env.sync()
        assert rep.ok
        return snapshot(clean, env.config)
    finally:
        clean.close()


def _one_worker(store, store_url, tmp_path, fleet, *, shards, **kwargs):
    """One in-process worker of the fleet's round, over the simulator."""
    from vde.settings import load_settings

    async def go():
        with serve_in_thread(fleet) as srv:
            async with FluksoClient(srv.url, retries=3, backoff=0.01) as client:
                settings = load_settings(
                    database=store_url,
                    flukso_api_url=srv.url,
                    block_cache=str(tmp_path / "b.sqlite"),
                    sync_shards=shards,
                )
                return await arun_worker(store, settings, now_ts=fleet.now, client=client, **kwargs)

    return asyncio.run(go())


def test_shards_split_sensors_without_overlap():
    ids = [f"{i:032x}" for i in range(400)]
    for n in (1, 3, 16):
        owners = {sid: [k for k in range(n) if Shard(k, n, 0).owns(sid)] for sid in ids}
        assert all(len(v) == 1 for v in owners.values())
        assert all(shard_of(sid, n) == owners[sid][0] for sid in ids)
    # every shard of 4 gets some of 400 sensors (the hash spreads them)
    assert {shard_of(sid, 4) for sid in ids} == {0, 1, 2, 3}


def test_two_workers_store_what_one_stores(store_url, tmp_path):
    f = Fleet.generate(homes=3, seed=1, start_ts=T0, now_ts=T0 + 10 * H)
    _prepare(store_url, f)
    with serve_in_thread(f) as srv:
        env = _env(tmp_path, store_url, srv.url)
        cmd = [sys.executable, "-m", "vde.cli", "sync", "--workers", "2", "--json"]
        res = subprocess.run(
            [*cmd, "--now", str(f.now)], env=env, cwd=tmp_path, capture_output=True, timeout=300
        )
        assert res.returncode == 0, res.stderr.decode()[-2000:]
    out = json.loads(res.stdout)
    assert out["workers"] == 2 and out["worker_exit_codes"] == [0, 0]
    ids = [s["sensor_id"] for s in out["sensor_reports"]]
    # the workers' own log lines: which installation each recomputed, and when
    events = [json.loads(ln) for ln in res.stderr.decode().splitlines() if ln.startswith("{")]
    recomputed = [e["installation_id"] for e in events if e["event"] == "power_recomputed"]
    with open_store(store_url) as s:
        cfg = s.load_config()
        assert sorted(ids) == sorted(cfg.sensors())  # every sensor once, by one worker
        assert out["installations"] == len(cfg.installations())
        # every installation recomputed exactly once over both workers
        assert sorted(recomputed) == sorted(cfg.installations())
        assert out["power_recomputes"] == len(cfg.installations())
        got = snapshot(s, cfg)
        assert not pending_installations(s)  # every installation's power was recomputed
    assert got == _clean_run(tmp_path, f)


def test_power_starts_as_soon_as_the_shards_of_its_sensors_are_done(store_url, tmp_path):
    f = Fleet.generate(homes=3, seed=4, start_ts=T0, now_ts=T0 + 4 * H)
    _prepare(store_url, f)
    n = 6
    with open_store(store_url) as s:
        cfg = s.load_config()
        needed = needed_shards(cfg, n)

        rep = _one_worker(s, store_url, tmp_path, f, shards=n, in_flight=1)
        assert rep.ok and set(rep.installations) == set(cfg.installations())
        # one worker takes the shards one at a time, in order 0..n-1: an installation is recomputed
        # right after the last shard holding one of its sensors, not at the round's end
        for inst, item in rep.installations.items():
            assert item["shards_done"] == f"{max(needed[inst]) + 1}/{n}", inst
        assert any(max(ks) + 1 < n for ks in needed.values())  # some before the end
        assert not pending_installations(s)
        assert snapshot(s, cfg) == _clean_run(tmp_path, f)


@pytest.mark.slow
def test_killed_worker_shards_are_taken_over(store_url, tmp_path):
    f = Fleet.generate(homes=3, seed=2, start_ts=T0, now_ts=T0 + 10 * H)
    _prepare(store_url, f)
    with serve_in_thread(f, faults=Faults(latency=0.2)) as slow:
        env = _env(tmp_path, store_url, slow.url, VDE_FLUKSO_CONCURRENCY="1")
        cmd = [sys.executable, "-m", "vde.cli", "sync", "--shard-worker", "--now", str(f.now)]
        proc = subprocess.Popen(
            cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 120
        with open_store(store_url) as s:
            while time.monotonic() < deadline and proc.poll() is None:
                if s.raw_sensors():
                    break
                time.sleep(0.05)
        assert proc.poll() is None, "the worker ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    with open_store(store_url) as s:
        cfg = s.load_config()
        # the dead worker held a shard lease and finished nothing's resume point
        assert all(st.last_ts is None for st in s.sync_states().values())
        with serve_in_thread(f) as fast:
            env = _env(tmp_path, store_url, fast.url)
            res = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, timeout=300)
        assert res.returncode == 0, res.stderr.decode()[-2000:]
        assert b"lock_taken_over" in res.stderr  # the dead holder's shard lease
        out = json.loads(res.stdout.decode().splitlines()[-1])
        assert sorted(r["sensor_id"] for r in out["sensor_reports"]) == sorted(cfg.sensors())
        got = snapshot(s, cfg)
    assert got == _clean_run(tmp_path, f)


def test_power_is_recomputed_under_one_lease_and_never_missed(store_url, tmp_path):
    f = Fleet.generate(homes=2, seed=3, start_ts=T0, now_ts=T0 + 4 * H)
    _prepare(store_url, f)
    s, other = open_store(store_url), open_store(store_url)
    try:
        cfg = s.load_config()
        inst = cfg.installations()[0]
        # another process is recomputing ``inst``: this worker leaves it alone
        assert other.try_lock(f"power:{inst}", 600)

        rep = _one_worker(s, store_url, tmp_path, f, shards=3)
        assert rep.ok and inst not in rep.installations
        left = pending_installations(s)
        assert list(left) == [inst] and all(k.startswith(PENDING) for k in left[inst])
        assert len(s.read_power(inst, 0, 2**40)) == 0
        # the other process is gone: the next worker (or round) does it, once
        other.release_lock(f"power:{inst}")
        assert recompute_pending(s) == 1
        assert recompute_pending(s) == 0
        assert not pending_installations(s)
        assert len(s.read_power(inst, 0, 2**40)) > 0
        assert snapshot(s, cfg) == _clean_run(tmp_path, f)
    finally:
        s.close()
        other.close()


def test_a_plain_sync_and_a_sharded_round_never_run_together(store_url, tmp_path):
    f = Fleet.generate(homes=1, seed=5, start_ts=T0, now_ts=T0 + 2 * H)
    _prepare(store_url, f)
    s, other = open_store(store_url), open_store(store_url)
    try:
        with sim_env(s, tmp_path, f, sync_shards=4) as env:
            # a sharded worker (another process) holds one shard: the plain sync is refused
            assert other.try_lock(Shard(2, 4, f.now).lock_name, 600)
            with pytest.raises(LockedError, match="sync-shard:2/4"):
                env.sync()
            assert s.try_lock("sync", 600)  # and it left no lease of its own behind
            s.release_lock("sync")
            other.release_lock(Shard(2, 4, f.now).lock_name)
            # two plain syncs still exclude each other
            assert other.try_lock("sync", 600)
            with pytest.raises(LockedError):
                env.sync()
            other.release_lock("sync")
            assert env.sync().ok
    finally:
        s.close()
        other.close()


def test_shards_cannot_be_claimed_while_a_plain_sync_runs(store_url, tmp_path):
    f = Fleet.generate(homes=1, seed=6, start_ts=T0, now_ts=T0 + 2 * H)
    _prepare(store_url, f)
    s, other = open_store(store_url), open_store(store_url)
    claimed: list[bool] = []
    try:
        with (
            sim_env(s, tmp_path, f, faults=Faults(latency=0.3), sync_shards=4) as env,
            capture_logs() as events,
        ):

            def claim_once_the_sync_runs() -> None:
                deadline = time.monotonic() + 60
                while not any(e["event"] == "sync_start" for e in list(events)):
                    assert time.monotonic() < deadline
                    time.sleep(0.01)
                # the plain sync is fetching (0.3 s per request): try a worker's claim
                claimed.append(other.try_lock(Shard(1, 4, f.now).lock_name, 600))

            t = threading.Thread(target=claim_once_the_sync_runs, daemon=True)
            t.start()
            assert env.sync().ok
            t.join(60)
        assert claimed == [False]
    finally:
        s.close()
        other.close()
