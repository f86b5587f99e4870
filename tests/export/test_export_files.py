"""``vde.export``: files per installation and period, columns, coverage, estimated flags,
manifest, incremental runs (a shared SQLite fleet; one export on each backend)."""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from export_support import (
    END,
    EST,
    GAP,
    HOMES,
    START,
    VERSION,
    expected_power,
    sensors,
    write_fleet,
)

from vde.errors import ExportError
from vde.export.run import commit_marks, export_folder
from vde.export.spec import ExportSpec, file_periods
from vde.timeutil import local_day_bounds

DAY28, DAY29, DAY30 = (local_day_bounds(date(2026, 3, d)) for d in (28, 29, 30))


def _read_csv(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_file_periods_are_local_days_or_months_cut_to_the_window():
    days = file_periods(START, END, 8)
    assert [p.label for p in days] == ["2026-03-28", "2026-03-29", "2026-03-30"]
    assert days[1].end - days[1].start == 23 * 3600  # the spring DST day
    cut = file_periods(START + 3600, END, 60)
    assert cut[0].label == "20260328T0100-20260329T0000" and cut[0].start == START + 3600
    months = file_periods(START, END, 900)
    assert [p.label for p in months] == ["20260328T0000-20260331T0000"]
    whole = file_periods(*local_day_bounds(date(2026, 2, 1)), 3600)
    assert whole[0].label == "20260201T0000-20260202T0000"
    feb = (local_day_bounds(date(2026, 2, 1))[0], local_day_bounds(date(2026, 3, 1))[0])
    assert [p.label for p in file_periods(*feb, 86400)] == ["2026-02"]
    with pytest.raises(ExportError, match="--raw"):
        ExportSpec(("CDB001",), START, END, "csv", 60, raw=True)


def test_csv_at_8s_holds_every_stored_row_once_with_flags(fleet, tmp_path):
    res = export_folder(fleet, tmp_path, installations=None, since=START, until=END)
    names = sorted(f.file for f in res.files)
    assert names == sorted(f"{i}_2026-03-{d}_8s.csv" for i in HOMES for d in (28, 29, 30))
    for inst in HOMES:
        rows = []
        for d in (28, 29, 30):
            rows += _read_csv(tmp_path / f"{inst}_2026-03-{d}_8s.csv")
        p = expected_power(inst)
        assert [int(r["ts"]) for r in rows] == p.ts.tolist()  # gaps absent, nothing twice
        assert [float(r["p_tot_w"]) for r in rows] == p.p_tot.tolist()
        assert [r["estimated"] == "true" for r in rows] == p.estimated.tolist()
        assert {r["coverage"] for r in rows} == {"1.0000"}
        assert {r["installation_id"] for r in rows} == {inst}
    first = _read_csv(tmp_path / "CDB001_2026-03-29_8s.csv")
    # the dashboard's cells: one decimal, ISO times in UTC and local time with the offset
    assert first[0]["utc_time"] == "2026-03-28T23:00:00Z"
    assert first[0]["local_time"] == "2026-03-29T00:00:00+01:00"
    assert first[-1]["local_time"] == "2026-03-29T23:59:52+02:00"
    assert first[0]["p_prod_w"] == "0.0" and first[0]["p_cons_w"] == "400.0"
    assert GAP[0] not in {int(r["ts"]) for r in _read_csv(tmp_path / "CDB001_2026-03-28_8s.csv")}


def test_parquet_has_proper_types_zstd_and_the_same_values(fleet, tmp_path):
    export_folder(fleet, tmp_path, installations=["CDB001"], since=START, until=END, fmt="parquet")
    path = tmp_path / "CDB001_2026-03-30_8s.parquet"
    meta = pq.ParquetFile(path).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    t = pq.read_table(path)
    types = {f.name: str(f.type) for f in t.schema}
    assert types["ts"] == "int64" and types["p_tot_w"] == "double"
    assert types["estimated"] == "bool"
    assert types["utc_time"] == "timestamp[ms, tz=UTC]"  # Parquet has no seconds unit
    assert types["local_time"] == "timestamp[ms, tz=Europe/Brussels]"
    assert types["installation_id"].startswith("dictionary")
    p = expected_power("CDB001")
    keep = (p.ts >= DAY30[0]) & (p.ts < DAY30[1])
    assert t.column("ts").to_pylist() == p.ts[keep].tolist()
    assert t.column("estimated").to_pylist() == p.estimated[keep].tolist()
    assert sum(t.column("estimated").to_pylist()) == (EST[1] - EST[0]) // 8


def test_rollups_carry_coverage_and_estimated_share(fleet, tmp_path):
    res = export_folder(
        fleet, tmp_path, installations=["CDB001"], since=START, until=END, resolution_s=3600
    )
    assert [f.file for f in res.files] == ["CDB001_20260328T0000-20260331T0000_1h.csv"]
    rows = {int(r["ts"]): r for r in _read_csv(tmp_path / res.files[0].file)}
    assert rows[GAP[0] - 3600]["coverage"] == "1.0000"
    assert GAP[0] not in rows  # an hour without data has no bucket
    est_hour = EST[0] - EST[0] % 3600
    assert rows[est_hour]["estimated"] == "true"
    assert rows[est_hour]["estimated_share"] == "0.5000"  # 30 of its 60 minutes
    assert rows[est_hour + 3600]["estimated"] == "false"
    # energy: 1 h of 400 W consumption, 1 h of -1000 W production at noon UTC
    assert float(rows[DAY28[0] + 11 * 3600]["e_cons_wh"]) == 400.0
    assert float(rows[DAY29[0] + 12 * 3600]["e_prod_wh"]) == -1000.0  # 11:00 UTC (CEST)
    days = export_folder(
        fleet, tmp_path, installations=["CDB001"], since=START, until=END, resolution_s=86400
    )
    day_rows = _read_csv(tmp_path / days.files[0].file)
    assert [int(r["duration_s"]) for r in day_rows] == [86400, 82800, 86400]
    assert [r["coverage"] for r in day_rows] == [f"{23 / 24:.4f}", "1.0000", "1.0000"]
    assert float(day_rows[1]["e_prod_wh"]) == -4000.0


def test_raw_export_holds_each_sensor(fleet, tmp_path):
    res = export_folder(
        fleet,
        tmp_path,
        installations=["CDB002"],
        since=DAY29[0],
        until=DAY29[1],
        raw=True,
        fmt="parquet",
    )
    t = pq.read_table(tmp_path / res.files[0].file)
    assert res.files[0].file == "CDB002_2026-03-29_8s_raw.parquet"
    assert sorted(set(t.column("sensor_id").to_pylist())) == sorted(sensors("CDB002"))
    assert t.num_rows == 2 * 23 * 450


def test_manifest_lists_files_rows_sha256_and_configuration(fleet, tmp_path):
    res = export_folder(fleet, tmp_path, installations=None, since=START, until=END)
    doc = json.loads((tmp_path / "manifest.json").read_text())
    assert doc["config_version"] == VERSION and doc["time_zone"] == "Europe/Brussels"
    assert len(doc["files"]) == len(res.files) == 6
    for e in doc["files"]:
        data = (tmp_path / e["file"]).read_bytes()
        assert e["sha256"] == hashlib.sha256(data).hexdigest() and e["bytes"] == len(data)
        assert e["rows"] == len(data.splitlines()) - 1
        assert e["config_versions"] == [VERSION]
    assert sum(e["rows"] for e in doc["files"]) == sum(len(expected_power(i)) for i in HOMES)


def test_since_last_resumes_and_a_rerun_never_duplicates(fleet, tmp_path):
    # first run: the first two days (a window that ends at a local midnight)
    first = export_folder(fleet, tmp_path, installations=None, since=START, until=DAY29[1])
    commit_marks(fleet, first)
    again = export_folder(fleet, tmp_path, installations=None, since=None, until=DAY29[1])
    assert again.files == []  # nothing new: no file written twice
    rest = export_folder(fleet, tmp_path, installations=None, since=None, until=END)
    commit_marks(fleet, rest)
    assert {f.file for f in rest.files} == {f"{i}_2026-03-30_8s.csv" for i in HOMES}
    # a cut window gives range-named files, never the name of a whole-day file
    doc = json.loads((tmp_path / "manifest.json").read_text())
    seen: list[int] = []
    for e in doc["files"]:
        if e["installation_id"] == "CDB001":
            seen += [int(r["ts"]) for r in _read_csv(tmp_path / e["file"])]
    assert sorted(seen) == expected_power("CDB001").ts.tolist()
    assert len(seen) == len(set(seen))
    assert fleet.export_marks(first.target) == dict.fromkeys(HOMES, END)


def test_since_last_without_marks_starts_at_the_first_data(fleet, tmp_path):
    res = export_folder(fleet, tmp_path, installations=["CDB002"], since=None, until=DAY28[1])
    assert [f.file for f in res.files] == ["CDB002_2026-03-28_8s.csv"]
    assert res.marks == {"CDB002": DAY28[1]}


def test_unknown_installation_is_named(fleet, tmp_path):
    with pytest.raises(ExportError, match="CDB999"):
        export_folder(fleet, tmp_path, installations=["CDB999"], since=START, until=END)
    assert not (tmp_path / "manifest.json").exists()


def test_marks_kept_per_target_in_both_backends(store):
    assert store.export_marks("file:///x#csv/8s/power") == {}
    store.set_export_marks("file:///x#csv/8s/power", {"A": 10, "B": 20})
    store.set_export_marks("file:///x#csv/8s/power", {"A": 30})
    store.set_export_marks("sftp://u@h:22/p#csv/8s/power", {"A": 5})
    assert store.export_marks("file:///x#csv/8s/power") == {"A": 30, "B": 20}
    assert store.export_targets() == ["file:///x#csv/8s/power", "sftp://u@h:22/p#csv/8s/power"]
    assert np.int64(store.export_marks("sftp://u@h:22/p#csv/8s/power")["A"]) == 5


def test_export_reads_both_backends(store, tmp_path):
    write_fleet(store, ("CDB001",), *DAY28)
    res = export_folder(store, tmp_path, installations=["CDB001"], since=START, until=END)
    assert [f.file for f in res.files] == ["CDB001_2026-03-28_8s.csv"]
    rows = _read_csv(tmp_path / res.files[0].file)
    p = expected_power("CDB001", *DAY28)
    assert [int(r["ts"]) for r in rows] == p.ts.tolist()
    assert [float(r["p_prod_w"]) for r in rows] == p.p_prod.tolist()
    hours = export_folder(
        store,
        tmp_path,
        installations=["CDB001"],
        since=START,
        until=END,
        resolution_s=3600,
        fmt="parquet",
    )
    t = pq.read_table(tmp_path / hours.files[0].file)
    assert t.num_rows == 23  # one hour without data
    assert t.column("coverage").to_pylist() == [1.0] * 23
    assert res.marks == {"CDB001": END}


def test_docs_list_the_columns_the_files_have(fleet, tmp_path):
    doc = (Path(__file__).resolve().parents[2] / "docs" / "data-exchange.md").read_text()
    kinds = {
        "power, 8 s": dict(resolution_s=8),
        "power, 1 min … 1 day": dict(resolution_s=900),
        "raw sensors (`--raw`)": dict(raw=True),
    }
    for label, kw in kinds.items():
        line = next(x for x in doc.splitlines() if x.startswith(f"| {label} |"))
        documented = line.split("|")[2].strip().strip("`").split(", ")
        res = export_folder(
            fleet, tmp_path / label[:5], installations=["CDB002"], since=START, until=END, **kw
        )
        header = (tmp_path / label[:5] / res.files[0].file).read_text().splitlines()[0]
        assert header.split(",") == documented, label
