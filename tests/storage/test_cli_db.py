"""``vde db create / info / migrate`` on both backends (the real CLI, via CliRunner)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from vde.cli import cli
from vde.storage import TABLES, open_store

T0 = 1_774_569_600  # 2026-03-27T00:00:00Z


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_create_is_idempotent_and_info_shows_tables(store_url):
    code, out = run("db", "create", "--db", store_url)
    assert code == 0 and "schema ready" in out
    code, out = run("db", "create", "--db", store_url, "--table", "raw")
    assert code == 0 and "raw" in out
    with open_store(store_url) as s:
        s.write_raw("s1", np.array([T0, T0 + 8]), np.array([1.0, 2.0]), 1)
    code, out = run("db", "info", "--db", store_url)
    assert code == 0
    assert "schema version: 1" in out and "2026-03-27" in out
    code, out = run("db", "info", "--db", store_url, "--json")
    data = json.loads(out)
    assert set(data["tables"]) == set(TABLES)
    assert data["tables"]["raw"] == {"rows": 2, "min_ts": T0, "max_ts": T0 + 8}
    assert data["backend"] in ("sqlite", "cassandra")


def test_create_one_table_on_a_new_sqlite_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    code, _ = run("db", "create", "--db", url, "--table", "users")
    assert code == 0
    data = json.loads(run("db", "info", "--db", url, "--json")[1])
    assert set(data["tables"]) == {"users", "meta"}


def test_info_of_empty_database_says_what_to_do(tmp_path):
    code, out = run("db", "info", "--db", f"sqlite:///{tmp_path / 'empty.db'}")
    assert code == 0 and "vde db create" in out


def test_migrate_via_cli(store_url, tmp_path):
    src = f"sqlite:///{tmp_path / 'src.db'}"
    with open_store(src) as s:
        s.create_schema()
        s.write_raw("s1", np.arange(T0, T0 + 86400 * 3, 8), np.ones(86400 * 3 // 8), 1)
        s.set_meta("secret_key", "abc")
    code, out = run("db", "migrate", "--db", src, "--to", store_url, "--chunk-days", "1")
    assert code == 0, out
    assert "migrated 32,4" in out  # 32,400 raw rows + small tables
    with open_store(store_url) as t:
        assert len(t.read_raw("s1", 0, 2**40)) == 32400
        assert t.get_meta("secret_key") == "abc"
    code, out = run("db", "migrate", "--db", src, "--to", src)
    assert code != 0 and "same database" in out


def test_bad_url_is_one_clear_line_without_password():
    import subprocess
    import sys

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vde.cli",
            "db",
            "info",
            "--db",
            "cassandra://ann:hunter2@127.0.0.1:1/ks",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "cannot reach Cassandra" in proc.stderr and "hunter2" not in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("url", ["nonsense", "sqlite://", "cassandra://h/ks?nope=1"])
def test_bad_url_exit_code(url):
    from vde.errors import StorageError

    with pytest.raises(StorageError):
        run("db", "info", "--db", url)
