"""``vde export`` through the real CLI (CliRunner) on the shared SQLite fleet."""

from __future__ import annotations

import json

from click.testing import CliRunner
from export_support import END, HOMES, START

from vde.cli import cli


def _run(*args: str):
    return CliRunner().invoke(cli, ["export", *args], catch_exceptions=False)


def test_cli_exports_then_resumes_from_the_mark(fleet, tmp_path):
    db = fleet.url
    out = tmp_path / "out"
    first = _run(
        "--db",
        db,
        "--since",
        str(START),
        "--until",
        str(START + 86400 - 3600),
        "--out",
        str(out),
        "--format",
        "parquet",
    )
    assert first.exit_code == 0, first.output
    assert "exported 2 file(s)" in first.output
    again = _run("--db", db, "--until", str(END), "--out", str(out), "--format", "parquet")
    assert again.exit_code == 0, again.output
    doc = json.loads((out / "manifest.json").read_text())
    names = [e["file"] for e in doc["files"]]
    assert len(names) == 4 * len(HOMES)  # day 28 in two parts, 29, 30
    # the cut first day and the rest: adjacent windows, no row twice
    assert "CDB001_20260328T0000-20260328T2300_8s.parquet" in names
    assert "CDB001_20260328T2300-20260329T0000_8s.parquet" in names
    nothing = _run("--db", db, "--until", str(END), "--out", str(out), "--format", "parquet")
    assert "exported 0 file(s), 0 rows" in nothing.output


def test_cli_refuses_bad_options_clearly(fleet, tmp_path):
    bad = _run("--db", fleet.url, "--since", "yesterday-ish", "--out", str(tmp_path))
    assert bad.exit_code == 2 and "not a date" in bad.output
    empty = CliRunner().invoke(
        cli,
        [
            "export",
            "--db",
            fleet.url,
            "--since",
            str(END),
            "--until",
            str(START),
            "--out",
            str(tmp_path),
        ],
    )
    assert empty.exit_code != 0 and "not before --until" in str(empty.exception)
    raw = CliRunner().invoke(
        cli,
        [
            "export",
            "--db",
            fleet.url,
            "--raw",
            "--resolution",
            "1h",
            "--since",
            str(START),
            "--until",
            str(END),
            "--out",
            str(tmp_path),
        ],
    )
    assert raw.exit_code != 0 and "--raw" in str(raw.exception or raw.output)
    pw = CliRunner().invoke(
        cli,
        [
            "export",
            "--db",
            fleet.url,
            "--to",
            "sftp://lab:s3cret@127.0.0.1:22/in",
            "--out",
            str(tmp_path),
        ],
    )
    assert pw.exit_code != 0 and "s3cret" not in pw.output + str(pw.exception)
