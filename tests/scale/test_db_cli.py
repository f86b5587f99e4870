"""``vde db prune`` and ``vde db estimate`` as people run them (both backends)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sync"))
from syncenv import sim_env

from vde.cli import cli
from vde.simulator import Fleet
from vde.storage import open_store
from vde.storage.estimate import YEAR_S

DAY = 86400
T0 = 1_790_000_000 - 1_790_000_000 % DAY


def _env(tmp: Path, db_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VDE_")}
    empty = tmp / "empty.toml"
    empty.write_text("")
    env.update(VDE_CONFIG=str(empty), VDE_DATABASE=db_url, **extra)
    return env


def test_estimate_measures_sqlite_and_caps_by_retention(tmp_path):
    runner = CliRunner()
    db = f"sqlite:///{tmp_path / 'none.db'}"
    args = ["db", "estimate", "--homes", "100", "--years", "2", "--sensors-per-home", "3"]
    res = runner.invoke(cli, [*args, "--json"], env=_env(tmp_path, db))
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    t = {r["table"]: r for r in out["tables"]}
    assert t["raw"]["rows"] == int(300 * YEAR_S / 8 * 2)
    assert t["power"]["rows"] == int(100 * YEAR_S / 8 * 2)
    # measured on a sample: an 8-s row costs tens of bytes in SQLite, a rollup more
    assert 16 < t["raw"]["sqlite_bytes_per_row"] < 200
    assert t["power_rollup"]["sqlite_bytes_per_row"] > t["raw"]["sqlite_bytes_per_row"]
    for r in t.values():
        assert (
            r["sqlite_bytes"] == int(r["rows"] * r["sqlite_bytes_per_row"])
            or abs(r["sqlite_bytes"] - r["rows"] * r["sqlite_bytes_per_row"]) <= r["rows"] * 0.05
        )  # bytes/row shown rounded to 0.1
        assert r["cassandra_bytes"] == r["rows"] * r["cassandra_bytes_per_row"] * 3
    assert out["total_sqlite_bytes"] == sum(r["sqlite_bytes"] for r in t.values())
    # a 30-day raw retention keeps 30 days of raw rows whatever the years; rollups stay
    env = _env(tmp_path, db, VDE_RAW_RETENTION="30d")
    capped = json.loads(runner.invoke(cli, [*args, "--json"], env=env).stdout)
    c = {r["table"]: r for r in capped["tables"]}
    assert c["raw"]["rows"] == int(300 * YEAR_S / 8 * (30 * DAY / YEAR_S))
    assert c["power_rollup"]["rows"] == t["power_rollup"]["rows"]
    table = runner.invoke(cli, args, env=_env(tmp_path, db))
    assert table.exit_code == 0 and "power_rollup" in table.stdout and "SQLite" in table.stdout


# the CLI over prune; prune on Cassandra: tests/scale/test_retention.py
@pytest.mark.backends("sqlite")
def test_prune_cli_and_sensors_per_home_from_the_configuration(store_url, tmp_path):
    f = Fleet.generate(homes=2, seed=7, start_ts=T0, now_ts=T0 + 2 * DAY + 3600)
    with open_store(store_url) as store:
        store.create_schema()
        with sim_env(store, tmp_path, f) as env:
            assert env.sync().ok
        sensors = sorted(store.raw_sensors())
    runner = CliRunner()
    res = runner.invoke(cli, ["db", "prune", "--now", str(f.now)], env=_env(tmp_path, store_url))
    assert res.exit_code == 0 and "nothing to prune" in res.output
    env = _env(tmp_path, store_url, VDE_RAW_RETENTION="1d")
    res = runner.invoke(cli, ["db", "prune", "--json", "--now", str(f.now)], env=env)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    cutoff = ((f.now - DAY) // DAY) * DAY
    assert out["raw_sensors_pruned"] == len(sensors) and out["power_installations_pruned"] == 0
    with open_store(store_url) as store:
        assert all(store.raw_bounds(s)[0] >= cutoff for s in sensors)
        assert all(store.rollup_bounds(i, 60)[0] < cutoff for i in env_insts(store))
    res = runner.invoke(cli, ["db", "estimate", "--homes", "10", "--years", "1", "--json"], env=env)
    assert res.exit_code == 0, res.output
    per_home = len(f.sensors) / len(f.homes)
    assert json.loads(res.stdout)["sensors_per_home"] == round(per_home, 2)


def env_insts(store) -> list[str]:
    return store.load_config().installations()
