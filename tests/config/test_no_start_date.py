"""A blank StartDate through the CLI: the real-shaped workbook imports with one warning per
installation, and ``config show`` / ``list`` / ``diff`` say "no start date"."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from click.testing import CliRunner
from wbshape import NO_START_HOMES, S, real_shape, set_cell, write_real_shape

from vde.cli import cli
from vde.models import NO_START_TS
from vde.processing.workbook import read_workbook, write_workbook


def test_real_shape_with_blank_start_dates_imports(tmp_path: Path) -> None:
    wb = tmp_path / "Configuration.xlsx"
    write_real_shape(wb)
    db = ["--db", f"sqlite:///{tmp_path / 'vde.db'}"]
    res = CliRunner().invoke(cli, ["config", "import", str(wb), *db])
    assert res.exit_code == 0, res.output
    assert "478 rows, 60 installations, 206 sensors" in res.stdout
    blank = [ln for ln in res.stderr.splitlines() if "StartDate blank" in ln]
    # one warning per installation (18 homes, 60 rows), each naming the home and its rows
    assert len(blank) == len(NO_START_HOMES) == 18
    assert all(ln.startswith("warning: ") and "no start limit" in ln for ln in blank)
    assert any("installation CDB029: StartDate blank in row(s) 112, 113, 114" in ln for ln in blank)

    shown = CliRunner().invoke(cli, ["config", "show", *db])
    cdb029 = [ln for ln in shown.stdout.splitlines() if ln.startswith("CDB029 ")]
    assert len(cdb029) == 3 and all(ln.endswith("no start date") for ln in cdb029)
    doc = json.loads(CliRunner().invoke(cli, ["config", "show", "--json", *db]).stdout)
    starts = {r["installation_id"]: r["start"] for r in doc["rows"]}
    assert starts["CDB029"] is None and starts["CDB001"].endswith("Z")

    listing = CliRunner().invoke(cli, ["config", "list", *db])
    assert "18 installation(s) with no start date" in listing.stdout
    [version] = json.loads(CliRunner().invoke(cli, ["config", "list", "--json", *db]).stdout)
    assert version["no_start_date"] == sorted(NO_START_HOMES)

    # setting a date later is a change of the installation, shown as such
    rows, access, captions = real_shape()
    dated = [
        replace(r, start_ts=1_620_000_000) if r.installation_id == "CDB029" else r for r in rows
    ]
    write_workbook(wb, dated, access, captions)
    res = CliRunner().invoke(cli, ["config", "import", str(wb), "--no-recompute", *db])
    assert res.exit_code == 0, res.output
    assert "StartDate: no start date -> 2021-05-03T00:00:00Z" in res.stdout
    assert "CDB029" in res.stdout


def test_blank_start_round_trips_and_a_non_date_stays_an_error(tmp_path: Path) -> None:
    wb = tmp_path / "Configuration.xlsx"
    rows, _, _ = write_real_shape(wb)
    parsed = read_workbook(wb)
    assert parsed.errors == [] and parsed.rows == rows
    assert sum(r.start_ts == NO_START_TS for r in parsed.rows) == 60
    set_cell(wb, S, 112, "StartDate", "   ")  # spaces only: blank
    set_cell(wb, S, 2, "StartDate", "n/a")
    [error] = read_workbook(wb).errors
    assert (error.row, error.column) == (2, "StartDate") and "is not a date" in error.message
