"""Two `vde serve --sync-every` processes on one database split each round through shards.

Both are started as an administrator would on two machines (same database, same
``sync_every``); their first sync runs at start, in the round at the last multiple of
``sync_every``. Each sensor is synced by exactly one of them, each installation's power
recomputed exactly once, and the database ends as one ordinary sync leaves it.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sync"))
from syncenv import cli_env, sim_env, snapshot
from syncenv import prepare_store as _prepare

from vde.simulator import Faults, Fleet, serve_in_thread
from vde.storage import open_store
from vde.sync.shards import round_of, seconds_to_next_round
from vde.timeutil import now_ts

H = 3600
EVERY = 86400  # one round a day: both instances start well inside the same round


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _events(path: Path) -> list[dict]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line still being written
    return out


def test_rounds_are_aligned_so_instances_agree():
    assert round_of(1_790_001_234, 300) == 1_790_001_000
    assert round_of(1_790_001_000, 300) == 1_790_001_000
    # the next tick comes just after the next multiple, whatever the instant
    for t in (1_790_001_000.0, 1_790_001_123.4, 1_790_001_299.9):
        nxt = t + seconds_to_next_round(300, t)
        assert 1_790_001_300 < nxt <= 1_790_001_302


def test_two_serve_instances_split_each_round(store_url, tmp_path):
    rnd = round_of(now_ts(), EVERY)
    f = Fleet.generate(homes=3, seed=31, start_ts=rnd - 6 * H, now_ts=rnd)
    _prepare(store_url, f)
    procs, logs = [], []
    with serve_in_thread(f, faults=Faults(latency=0.15)) as sim:
        env = cli_env(tmp_path, store_url, sim.url, VDE_SYNC_SHARDS="6", VDE_FLUKSO_CONCURRENCY="2")
        try:
            for i in range(2):
                log = tmp_path / f"serve{i}.log"
                logs.append(log)
                cmd = [sys.executable, "-m", "vde.cli", "serve", "--host", "127.0.0.1"]
                cmd += ["--port", str(_free_port()), "--sync-every", "1d"]
                procs.append(
                    subprocess.Popen(
                        cmd,
                        env={**env, "VDE_BLOCK_CACHE": str(tmp_path / f"blocks{i}.sqlite")},
                        cwd=tmp_path,
                        stdout=subprocess.DEVNULL,
                        stderr=log.open("w"),
                    )
                )
            deadline = time.monotonic() + 240
            while not all(
                any(e["event"] == "sync_worker_done" for e in _events(log)) for log in logs
            ):
                for p, log in zip(procs, logs, strict=True):
                    assert p.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, [log.read_text()[-2000:] for log in logs]
                time.sleep(0.3)
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=30)
    per = [_events(log) for log in logs]
    synced = [{e["sensor_id"] for e in ev if e["event"] == "sync_sensor"} for ev in per]
    powered = [[e["installation_id"] for e in ev if e["event"] == "power_recomputed"] for ev in per]
    rounds = {e["now"] for ev in per for e in ev if e["event"] == "sync_start"}
    with open_store(store_url) as s:
        cfg = s.load_config()
        got = snapshot(s, cfg)
    assert all(synced), "each instance took part of the round"
    assert not synced[0] & synced[1]  # no sensor synced by both
    assert synced[0] | synced[1] == set(cfg.sensors())
    assert sorted(powered[0] + powered[1]) == sorted(cfg.installations())  # once each
    assert len(rounds) == 1
    (tmp_path / "clean").mkdir()
    with open_store(f"sqlite:///{tmp_path / 'clean' / 'vde.db'}") as clean:
        clean.create_schema()
        with sim_env(clean, tmp_path / "clean", f) as env:
            assert env.sync().ok  # at the fleet's now: the round's instant
        assert got == snapshot(clean, env.config)
