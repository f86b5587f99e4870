"""Sharded sync on a 3-node cluster (RF 3, LOCAL_QUORUM) while one node is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sync"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import cassandra_node
from syncenv import sim_env, snapshot

from vde.models import ConfigVersion
from vde.simulator import Faults, Fleet, serve_in_thread
from vde.storage import open_store

H = 3600
T0 = 1_790_000_000 - 1_790_000_000 % 86400


@pytest.fixture
def cluster_url(request) -> str:
    shared = request.getfixturevalue("_cassandra_session_store")
    shared.truncate_all()
    assert "consistency=LOCAL_QUORUM" in shared.url
    return shared.url


def _env(tmp: Path, db_url: str, sim_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VDE_")}
    empty = tmp / "empty.toml"
    empty.write_text("")
    env.update(
        VDE_CONFIG=str(empty),
        VDE_DATABASE=db_url,
        VDE_FLUKSO_API_URL=sim_url,
        VDE_BLOCK_CACHE=str(tmp / "blocks.sqlite"),
        VDE_FLUKSO_CONCURRENCY="2",
        VDE_SYNC_SHARDS="6",
        VDE_LOG_FORMAT="json",
    )
    return env


def test_sharded_sync_survives_a_killed_node(cluster_url, tmp_path):
    run_dir = Path(os.environ["VDE_TEST_CLUSTER"])
    layout = json.loads((run_dir / "cluster.json").read_text())
    victim = layout["nodes"][2]
    f = Fleet.generate(homes=4, seed=11, start_ts=T0, now_ts=T0 + 12 * H)
    with open_store(cluster_url) as s:
        s.save_config_version(ConfigVersion(1, tuple(f.config_rows())))
    clean = open_store(f"sqlite:///{tmp_path / 'clean.db'}")
    clean.create_schema()
    (tmp_path / "clean").mkdir()
    with sim_env(clean, tmp_path / "clean", f) as env:
        assert env.sync().ok
    want = snapshot(clean, env.config)
    clean.close()

    cmd = [sys.executable, "-m", "vde.cli", "sync", "--workers", "2", "--json", "--now", str(f.now)]
    with serve_in_thread(f, faults=Faults(latency=0.1)) as srv:
        proc = subprocess.Popen(
            cmd,
            env=_env(tmp_path, cluster_url, srv.url),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        with open_store(cluster_url) as s:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and proc.poll() is None and not s.raw_sensors():
                time.sleep(0.1)
        assert proc.poll() is None, "the sync ended before a node could be killed"
        os.kill(victim["pid"], signal.SIGKILL)  # a node this test run started
        killed_at = time.monotonic()
        out, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err.decode()[-3000:]
        report = json.loads(out)
        print(
            f"\nsync with node {victim['host']} killed: {report['elapsed_s']} s after start,"
            f" {time.monotonic() - killed_at:.1f} s after the kill"
        )
        assert report["workers"] == 2 and report["ok"]
        with open_store(cluster_url) as s:
            assert snapshot(s, s.load_config()) == want
        # a re-run (same round, nothing new) changes nothing
        again = subprocess.run(
            cmd,
            env=_env(tmp_path, cluster_url, srv.url),
            cwd=tmp_path,
            capture_output=True,
            timeout=900,
        )
        assert again.returncode == 0, again.stderr.decode()[-3000:]
    t0 = time.monotonic()
    node = cassandra_node.restart_node(run_dir, 2)
    print(
        f"node {node.host} restarted in {time.monotonic() - t0:.1f} s,"
        f" RSS {cassandra_node.rss_mib(node.pid):.0f} MiB"
    )
    with open_store(cluster_url) as s:
        assert snapshot(s, s.load_config()) == want
