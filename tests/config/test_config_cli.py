"""``vde config ...`` and ``vde recompute`` through click's CliRunner on a SQLite file."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from wbshape import INVALID, real_shape, write_real_shape

from vde.cli import cli
from vde.logs import mask
from vde.processing.workbook import read_workbook, write_workbook
from vde.storage import open_store
from vde.timeutil import iso_utc

ROWS, ACCESS, CAPTIONS = real_shape()
TOKENS = {r.token for r in ROWS}


@pytest.fixture
def run(tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'x.db'}"

    def invoke(*args: str) -> Result:
        result = CliRunner().invoke(
            cli, [*args, "--db", db] if args[0] != "template" else list(args)
        )
        for token in TOKENS:  # secrets never reach the terminal
            assert token not in result.output
        return result

    invoke.db = db  # type: ignore[attr-defined]
    return invoke


@pytest.fixture
def wb(tmp_path: Path) -> Path:
    path = tmp_path / "Configuration.xlsx"
    write_real_shape(path)
    return path


def test_import_list_show(run, wb: Path) -> None:
    res = run("config", "import", str(wb))
    assert res.exit_code == 0, res.output
    assert "created configuration version" in res.stdout
    assert "478 rows, 60 installations, 206 sensors" in res.stdout
    assert "access list: 177 rows" in res.stdout and "captions: 4" in res.stdout
    assert "warning: Export_Access" in res.stderr and "25 installation(s)" in res.stderr

    again = run("config", "import", str(wb))
    assert again.exit_code == 0 and "sensors unchanged" in again.stdout

    listing = run("config", "list")
    assert listing.exit_code == 0
    [line] = [ln for ln in listing.stdout.splitlines() if "current" in ln]
    assert "478" in line and " 60 " in line and "206" in line
    # the import time as people read it: a local (Europe/Brussels) date-time, not µs
    assert "Europe/Brussels" in listing.stdout
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", line), line
    # one version: nothing to compare yet is said plainly, and it is not an error
    diff = run("config", "diff")
    assert diff.exit_code == 0, diff.output
    assert "only one configuration version" in diff.stdout and "error" not in diff.output

    shown = run("config", "show")
    assert shown.exit_code == 0
    assert mask(ROWS[0].token) in shown.stdout and ROWS[0].sensor_id in shown.stdout
    assert len(shown.stdout.splitlines()) == 2 + 478


def test_show_json_round_trips(run, wb: Path) -> None:
    assert run("config", "import", str(wb)).exit_code == 0
    res = run("config", "show", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    expected = sorted(
        (
            {
                "installation_id": r.installation_id,
                "sensor_id": r.sensor_id,
                "token": mask(r.token),
                "flm_id": r.flm_id,
                "function": r.function,
                "net": r.net,
                "prod": r.prod,
                "cons": r.cons,
                "ve": r.ve,
                "start": iso_utc(r.start_ts) if r.start_ts else None,  # blank StartDate
                "start_ts": r.start_ts,
            }
            for r in ROWS
        ),
        key=lambda d: (d["installation_id"], d["sensor_id"]),
    )
    assert doc["rows"] == expected
    assert sorted(map(tuple, doc["access"])) == sorted(ACCESS)
    assert doc["captions"] == CAPTIONS
    listing = json.loads(run("config", "list", "--json").stdout)
    assert doc["version_id"] == listing[0]["version_id"] and listing[0]["current"]
    # the same version by its ISO form
    by_iso = json.loads(run("config", "show", listing[0]["version"], "--json").stdout)
    assert by_iso == doc


@pytest.mark.parametrize(
    "case", ["token short", "two tokens", "no network sensor", "missing sheet"]
)
def test_invalid_import_prints_every_problem_and_exits_2(run, wb: Path, case: str) -> None:
    mutate, expected = INVALID[case]
    mutate(wb)
    if case != "missing sheet":  # plus a second error in another row
        INVALID["sign out of range"][0](wb)
    res = run("config", "import", str(wb))
    assert res.exit_code == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("error: ")]
    assert any(all(f in ln for f in expected) for ln in lines), lines
    if case != "missing sheet":
        assert any("Prod in row 12 is 2" in ln for ln in lines)
        assert lines[-1] == "error: Configuration.xlsx: 2 error(s), nothing imported"
    assert run("config", "list").stdout.startswith("no configuration imported yet")


def test_dry_run_and_diff(run, wb: Path, tmp_path: Path) -> None:
    assert run("config", "import", str(wb)).exit_code == 0
    rows = list(ROWS)
    rows[1] = replace(rows[1], net=-rows[1].net)
    write_workbook(wb, rows, ACCESS, CAPTIONS)
    dry = run("config", "import", "--dry-run", str(wb))
    assert dry.exit_code == 0 and "dry run, nothing written: would create" in dry.stdout
    assert f"~ CDB001 {rows[1].sensor_id} net: -1 -> 1" in dry.stdout
    assert len(json.loads(run("config", "list", "--json").stdout)) == 1

    imported = run("config", "import", "--no-recompute", str(wb))
    assert imported.exit_code == 0
    assert "when ready run: vde recompute --installations CDB001" in imported.stdout
    diff = run("config", "diff")
    assert diff.exit_code == 0
    assert f"~ CDB001 {rows[1].sensor_id} net: -1 -> 1" in diff.stdout
    assert "to recompute: CDB001" in diff.stdout
    ids = [v["version_id"] for v in json.loads(run("config", "list", "--json").stdout)]
    back = json.loads(run("config", "diff", str(ids[1]), str(ids[0]), "--json").stdout)
    assert back["changes"] == [
        {
            "installation_id": "CDB001",
            "sensor_id": rows[1].sensor_id,
            "field": "net",
            "old": 1,
            "new": -1,
        }
    ]
    assert json.loads(run("config", "diff", str(ids[0]), "--json").stdout)["new_version"] == ids[1]
    missing = run("config", "show", "12345")
    assert missing.exit_code != 0


def test_only_access(run, wb: Path) -> None:
    res = run("config", "import", "--only", "access", str(wb))
    assert res.exit_code == 0 and "access list: 177 rows" in res.stdout
    assert "configuration version" not in res.stdout
    with open_store(run.db) as store:
        assert len(store.access()) == 177 and store.config_versions() == []


def test_template_imports_cleanly(run, tmp_path: Path) -> None:
    path = tmp_path / "template.xlsx"
    res = CliRunner().invoke(cli, ["config", "template", str(path)])
    assert res.exit_code == 0 and "wrote" in res.stdout
    parsed = read_workbook(path)
    assert parsed.problems == []
    assert len({r.installation_id for r in parsed.rows}) == 6 and len(parsed.captions) == 2
    assert len({login for login, _ in parsed.access}) == 4
    imported = run("config", "import", str(path))
    assert imported.exit_code == 0 and "warning" not in imported.output
    again = CliRunner().invoke(cli, ["config", "template", str(path)])
    assert again.exit_code != 0 and "exists" in again.output
    other = tmp_path / "t2.xlsx"
    CliRunner().invoke(cli, ["config", "template", str(other)])
    assert {r.token for r in read_workbook(other).rows}.isdisjoint({r.token for r in parsed.rows})


def test_recompute_command(run, tmp_path: Path) -> None:
    path = tmp_path / "c.xlsx"
    rows = [r for r in ROWS if r.installation_id in ("CDB001", "CDB002")]
    write_workbook(path, rows, [("CDB001", "CDB001")], {})
    assert run("config", "import", str(path)).exit_code == 0
    t0 = 1773097200  # 2026-03-10 00:00 Brussels
    ts = t0 + 8 * np.arange(450, dtype=np.int64)
    with open_store(run.db) as store:
        for r in rows:
            store.write_raw(r.sensor_id, ts, np.full(450, 100.0), 1)
    res = run("recompute", "--installations", "CDB001", "--no-progress", "--since", "2026-03-10")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert list(summary["installations"]) == ["CDB001"] and summary["rows"] == 450
    with open_store(run.db) as store:
        power = store.read_power("CDB001", t0, t0 + 3600)
        assert len(power) == 450 and store.read_power("CDB002", t0, t0 + 3600).ts.size == 0
    bad = run("recompute", "--installations", "NOPE")
    assert bad.exit_code == 2 and "not in the configuration: NOPE" in bad.output


def test_fresh_database_without_schema(run, wb: Path) -> None:
    assert run("config", "list").stdout.startswith("no configuration imported yet")
    dry = run("config", "import", "--dry-run", str(wb))
    assert dry.exit_code == 0, dry.output
    assert "would create configuration version: 478 rows" in dry.stdout
    shown = run("config", "show")
    assert shown.exit_code != 0 and "no configuration imported yet" in str(shown.exception)
    INVALID["two tokens"][0](wb)
    assert run("config", "import", str(wb)).exit_code == 2
    with open_store(run.db) as store:
        assert store.schema_version() is None  # an invalid workbook writes nothing at all
    write_real_shape(wb)
    assert run("config", "import", str(wb)).exit_code == 0  # creates the schema itself
