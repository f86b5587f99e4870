"""``make test-cluster``: a 3-node Cassandra cluster on 127.0.0.1-3, and the tests on it.

Starts the nodes (small heaps), prints each node's start-up time and memory, runs the
storage contract suite and tests/cluster (sharded sync with a node killed) against a
keyspace with replication factor 3 and LOCAL_QUORUM, prints memory again, stops the nodes
it started (by pid) and exits with pytest's code.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import cassandra_node  # noqa: E402


def _memory(run_dir: Path) -> str:
    import json

    layout = json.loads((run_dir / "cluster.json").read_text())
    parts = [f"{n['host']} {cassandra_node.rss_mib(n['pid']):.0f} MiB" for n in layout["nodes"]]
    return ", ".join(parts)


def main() -> int:
    run_dir = Path(tempfile.mkdtemp(prefix="vde-cluster-"))
    heap = os.environ.get("VDE_CLUSTER_HEAP", "512M")
    t0 = time.monotonic()
    nodes = cassandra_node.start_cluster(run_dir, nodes=3, heap=heap)
    try:
        print(f"cluster of 3 ready in {time.monotonic() - t0:.1f} s (heap {heap} each):")
        for n in nodes:
            print(f"  {n.host}:{n.port} start-up {n.started_s:.1f} s")
        print(f"memory (RSS) after start: {_memory(run_dir)}")
        env = {
            **os.environ,
            "VDE_TEST_CASSANDRA": f"{nodes[0].host}:{nodes[0].port}",
            "VDE_TEST_CASSANDRA_OPTIONS": "?replication=NetworkTopologyStrategy&datacenter1=3"
            "&consistency=LOCAL_QUORUM",
            "VDE_TEST_CLUSTER": str(run_dir),
        }
        pytest = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider"]
        t1 = time.monotonic()
        contract = [*pytest, "tests/storage/test_contract.py", "-k", "cassandra", *sys.argv[1:]]
        code = subprocess.run(contract, env=env, cwd=ROOT).returncode
        print(f"contract suite on the cluster: {time.monotonic() - t1:.1f} s", flush=True)
        t1 = time.monotonic()
        code = code or subprocess.run([*pytest, "tests/cluster"], env=env, cwd=ROOT).returncode
        print(f"cluster tests: {time.monotonic() - t1:.1f} s", flush=True)
        print(f"memory (RSS) after the tests: {_memory(run_dir)}")
        return code
    finally:
        for d in sorted(run_dir.glob("node*")):
            cassandra_node.stop_dir(d)


if __name__ == "__main__":
    sys.exit(main())
