"""scripts/cassandra_node.py: install is idempotent, a node that cannot start says why,
and the Cassandra store never shows a password."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from vde.storage import open_store

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import cassandra_node  # noqa: E402

sys.path.pop(0)


def test_install_is_a_no_op_when_installed():
    lib = cassandra_node.install(quiet=True)  # the first call may download
    t = time.perf_counter()
    assert cassandra_node.install(quiet=True) == lib
    assert time.perf_counter() - t < 1.0
    jar = lib / f"cassandra-all-{cassandra_node.VERSION}.jar"
    assert cassandra_node._sha512(jar) == cassandra_node.SERVER_JAR_SHA512


def test_a_node_that_cannot_start_fails_with_reason_and_log(tmp_path):
    with pytest.raises(cassandra_node.NodeError) as exc:
        cassandra_node.start(tmp_path / "run", heap="1Q", timeout=60)  # invalid heap size
    msg = str(exc.value)
    assert "exited with code" in msg and "stdout.log" in msg and "heap" in msg.lower()


def test_private_configuration_lives_in_the_run_folder(tmp_path):
    conf = cassandra_node._write_conf(tmp_path, "127.0.0.1", 19999, 17999)
    import json

    cfg = json.loads((conf / "cassandra.yaml").read_text())
    assert cfg["native_transport_port"] == 19999
    assert cfg["seed_provider"][0]["parameters"][0]["seeds"] == "127.0.0.1:17999"
    for key in ("commitlog_directory", "hints_directory", "saved_caches_directory"):
        assert cfg[key].startswith(str(tmp_path))
    assert all(d.startswith(str(tmp_path)) for d in cfg["data_file_directories"])


@pytest.mark.cassandra
def test_password_is_never_shown(cassandra_node):
    host, port = cassandra_node
    # the test node accepts any credentials (AllowAllAuthenticator)
    with open_store(f"cassandra://ann:hunter2@{host}:{port}/vde_pw_check") as s:
        assert "hunter2" not in s.url and "ann:***@" in s.url
        assert "hunter2" not in repr(s.info())
        s.drop_keyspace()
