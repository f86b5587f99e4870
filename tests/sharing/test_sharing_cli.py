"""``vde sharing``: the commands on a SQLite file, and the SharingKeys sheet parser."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import Workbook
from sharing_support import T0, write_community

from vde.cli import cli
from vde.errors import SharingError
from vde.processing.sharingkeys import keys_from_settings, read_sharing_keys
from vde.storage import open_store

WINDOW = ["--since", "2025-11-28T00:00Z", "--until", "2025-11-30T00:00Z"]


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'vde.db'}"
    with open_store(url) as s:
        s.create_schema()
        write_community(s)
    toml = tmp_path / "vde.toml"
    toml.write_text(
        "sharing_price_supplier = 0.30\n"
        "[[sharing_keys.CDBZ01]]\n"
        'method = "hybrid"\n'
        "shares = { C1 = 60, C2 = 40 }\n"
    )
    monkeypatch.setenv("VDE_CONFIG", str(toml))
    return url


def _wb(path: Path, rows: list[list]) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = "SharingKeys"
    ws.append(["Community", "ValidFrom", "Key", "InstallationId", "Share", "Rank"])
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


def test_simulate_prints_a_table_and_json(db: str) -> None:
    r = CliRunner().invoke(
        cli, ["sharing", "simulate", "--community", "CDBZ01", "--keys", "prorata,hybrid", *WINDOW, "--db", db]
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == "community CDBZ01: 4 members (kWh received, € saved)"
    c1 = next(line for line in lines if line.startswith("C1 "))
    # prorata: 32 quarters x 125 x 75/450 Wh = 0.67 kWh; hybrid: 60 % of 125 capped at 75 -> 2.40
    assert c1.split("|")[1].split() == ["0.7", "0.10"]  # x (0.30 - 0.15) €/kWh
    assert c1.split("|")[2].split() == ["2.4", "0.36"]
    assert any(line.startswith("prorata: collective self-consumption 100.0 %") for line in lines)
    assert "1 member-quarter(s) computed on incomplete data" in r.stdout

    j = CliRunner().invoke(
        cli, ["sharing", "simulate", "--community", "CDBZ01", "--keys", "priority", *WINDOW, "--db", db, "--json"]
    )  # fmt: skip
    assert isinstance(j.exception, SharingError)
    assert "no priority order configured" in str(j.exception)


def test_run_report_and_keys_show(db: str) -> None:
    runner = CliRunner()
    r = runner.invoke(
        cli, ["sharing", "run", "--community", "CDBZ01", *WINDOW, "--db", db, "--json"]
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["keys"] == ["hybrid"] and data["shared_kwh"] == pytest.approx(4.0)
    rep = runner.invoke(
        cli, ["sharing", "report", "--community", "CDBZ01", "--period", "day", *WINDOW, "--db", db, "--json"]
    )  # fmt: skip
    assert rep.exit_code == 0, rep.output
    periods = json.loads(rep.stdout)["periods"]
    assert [p["period"] for p in periods] == ["2025-11-28", "2025-11-29", "2025-11-30"]
    assert [p["shared_kwh"] for p in periods] == pytest.approx([2.0, 2.0, 0.0])
    text = runner.invoke(cli, ["sharing", "report", "--community", "CDBZ01", *WINDOW, "--db", db])
    assert text.stdout.splitlines()[1].startswith("2025-11 ")
    show = runner.invoke(cli, ["sharing", "keys", "show", "--community", "CDBZ01", "--db", db])
    assert show.stdout.strip() == "from the beginning: hybrid {'C1': 60.0, 'C2': 40.0}"


def test_unknown_community_and_bad_window_are_clear(db: str) -> None:
    vde = Path(sys.executable).with_name("vde")
    r = subprocess.run(
        [str(vde), "sharing", "run", "--community", "NOPE", *WINDOW, "--db", db],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == (
        "error: community 'NOPE' is not a group with sensors in the configuration; groups: CDBZ01"
    )
    bad = CliRunner().invoke(
        cli, ["sharing", "simulate", "--community", "CDBZ01", "--since", "2026-01-02", "--until", "2026-01-01", "--db", db]
    )  # fmt: skip
    assert bad.exit_code == 2 and "--until must be after --since" in bad.output


def test_keys_import_from_the_workbook_sheet(db: str, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "empty.toml").write_text("")
    monkeypatch.setenv("VDE_CONFIG", str(tmp_path / "empty.toml"))
    wb = _wb(
        tmp_path / "cfg.xlsx",
        [
            ["CDBZ01", None, "fixed", "C1", 70, None],
            ["CDBZ01", None, "fixed", "C2", 30, None],
            ["CDBZ01", "2025-11-29", "priority", "C2", None, 2],
            ["CDBZ01", "2025-11-29", "priority", "C3", None, 1],
        ],
    )
    runner = CliRunner()
    r = runner.invoke(cli, ["sharing", "keys", "import", str(wb), "--db", db])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "CDBZ01: 2 key version(s) stored"
    show = runner.invoke(cli, ["sharing", "keys", "show", "--community", "CDBZ01", "--db", db])
    assert show.stdout.splitlines() == [
        "from the beginning: fixed {'C1': 70.0, 'C2': 30.0}",
        "from 2025-11-29: priority ['C3', 'C2']",
    ]
    run = runner.invoke(cli, ["sharing", "run", "--community", "CDBZ01", *WINDOW, "--db", db])
    assert run.exit_code == 0, run.output
    with open_store(db) as s:
        stored = s.read_sharing("CDBZ01", T0 + 10 * 3600, T0 + 10 * 3600 + 900)
    # C1: 70 % of 125 = 87.5 capped at 75; the 12.5 left goes to C2 (30 % = 37.5 + 12.5)
    assert stored.received_wh[0].tolist() == pytest.approx([75.0, 50.0, 0.0, 0.0])


def test_sheet_problems_name_row_column_and_value(tmp_path: Path) -> None:
    wb = _wb(
        tmp_path / "bad.xlsx",
        [
            ["CDBZ01", None, "fixed", "C1", 70, None],
            ["CDBZ01", None, "fixed", "C2", 20, None],  # adds up to 90
            ["CDBA01", "someday", "prorata", None, None, None],
            ["CDBA02", None, "lottery", "C1", None, None],
            ["CDBA03", None, "prorata", None, None, None],
        ],
    )
    keys, problems = read_sharing_keys(wb)
    assert list(keys) == ["CDBA03"] and keys["CDBA03"][0].method == "prorata"
    text = [str(p) for p in problems]
    assert any("row 2" in t and "add up to 90" in t for t in text)
    assert any("row 4" in t and "ValidFrom" in t and "'someday'" in t for t in text)
    assert any("row 5" in t and "column Key" in t and "'lottery'" in t for t in text)


def test_workbook_without_the_sheet_has_no_keys(tmp_path: Path) -> None:
    wb = Workbook()
    wb.active.title = "Export_Access"
    wb.save(tmp_path / "plain.xlsx")
    assert read_sharing_keys(tmp_path / "plain.xlsx") == ({}, [])


def test_toml_keys_errors_name_the_entry() -> None:
    with pytest.raises(ValueError, match=r"sharing_keys.CDBZ01 entry 2: .*not a date"):
        keys_from_settings(
            {"CDBZ01": [{"method": "prorata"}, {"method": "prorata", "valid_from": "soon"}]}
        )
    with pytest.raises(ValueError, match="unknown field"):
        keys_from_settings({"X": [{"method": "prorata", "share": {}}]})


# once, on SQLite: replace_sharing_keys / sharing_keys on both backends are in
# test_sharing_storage.py::test_results_round_trip_delete_and_keys
@pytest.mark.backends("sqlite")
def test_config_import_stores_the_sharing_keys_sheet(tmp_path: Path, store) -> None:
    from openpyxl import load_workbook

    from vde.processing.template import example_config
    from vde.processing.workbook import write_workbook
    from vde.sync.importer import import_workbook

    path = tmp_path / "Configuration.xlsx"
    write_workbook(path, *example_config())
    wb = load_workbook(path)
    ws = wb.create_sheet("SharingKeys")
    ws.append(["Community", "ValidFrom", "Key", "InstallationId", "Share", "Rank"])
    ws.append(["CDBA01", "2026-01-01", "hybrid", "CDB001", 40, None])
    ws.append(["CDBA01", "2026-01-01", "hybrid", "CDB003", 60, None])
    wb.save(path)
    import_workbook(store, path, recompute=False)
    stored = store.sharing_keys()
    assert list(stored) == ["CDBA01"]
    ((valid_from, spec),) = stored["CDBA01"]
    assert valid_from == 1_767_222_000  # 2026-01-01 00:00 Brussels
    assert json.loads(spec)["shares"] == {"CDB001": 40.0, "CDB003": 60.0}


def test_statements_dry_run_and_pages(db: str, tmp_path: Path) -> None:
    runner = CliRunner()
    assert (
        runner.invoke(
            cli, ["sharing", "run", "--community", "CDBZ01", *WINDOW, "--db", db]
        ).exit_code
        == 0
    )
    out = tmp_path / "pages"
    r = runner.invoke(
        cli,
        ["sharing", "statements", "--community", "CDBZ01", "--month", "2025-11", "--dry-run",
         "--out", str(out), "--db", db],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert r.stdout.count("Subject: Energy sharing CDBZ01 – statement 2025-11 –") == 4
    assert sorted(p.name for p in out.iterdir()) == [
        f"STATEMENT-{m}-2025-11.html" for m in ("C1", "C2", "C3", "P1")
    ]
    bad = runner.invoke(
        cli, ["sharing", "statements", "--community", "CDBZ01", "--month", "11/2025", "--db", db]
    )
    assert bad.exit_code == 2 and "is not a month: use YYYY-MM" in bad.output


def test_a_file_that_is_not_a_workbook_is_one_problem(tmp_path: Path) -> None:
    bad = tmp_path / "notes.xlsx"
    bad.write_text("not a zip")
    keys, problems = read_sharing_keys(bad)
    assert keys == {}
    assert [str(p) for p in problems] == [
        "error: cannot read notes.xlsx (not an .xlsx workbook: BadZipFile)"
        " — give the .xlsx workbook (Excel 2007+ format)"
    ]
