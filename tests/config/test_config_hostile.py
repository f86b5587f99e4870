"""Workbooks that are hostile or careless: size bombs, lying dimensions, ambiguous sheets,
oversized or control-character cells, and an import whose write fails half-way."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from rawxlsx import write_xlsx
from wbshape import S, real_shape, set_cell, write_real_shape

from vde.errors import ConfigWorkbookError, StorageError
from vde.models import ConfigVersion, SensorRow
from vde.processing.workbook import (
    ACCESS_COLUMNS,
    CAPTION_COLUMNS,
    SENSOR_COLUMNS,
    SHEET_ACCESS,
    SHEET_CAPTIONS,
    read_workbook,
)
from vde.processing.xlsxsafe import MAX_UNCOMPRESSED_BYTES
from vde.storage.base import Store
from vde.sync.importer import import_workbook

HERE = Path(__file__).parent
START = "2021-03-01"  # a StartDate as text (these checks are not about blank dates)


def small_sheets(n_homes: int = 3) -> dict[str, list[list]]:
    """A valid workbook's sheets: n homes of one Mains sensor each."""
    rows: list[list] = [list(SENSOR_COLUMNS)]
    for i in range(n_homes):
        rows.append(
            [f"H{i:03d}", START, "FL1", "Mains", 1, None, 1, None, f"{i:032x}", f"{i + 1:032x}"]
        )
    access = [list(ACCESS_COLUMNS)] + [[f"H{i:03d}", f"H{i:03d}"] for i in range(n_homes)]
    return {S: rows, SHEET_ACCESS: access, SHEET_CAPTIONS: [list(CAPTION_COLUMNS)]}


def _read_in_subprocess(path: Path, timeout: float) -> dict:
    """read_workbook in a child (a hang or a memory blow-up must not take the test run)."""
    # VmHWM is the child's own peak: ru_maxrss survives exec on Linux, so it would report
    # the (large) test process that spawned the child
    code = (
        "import json, re, sys\n"
        "from vde.processing.workbook import read_workbook\n"
        "p = read_workbook(sys.argv[1])\n"
        "hwm = int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))\n"
        "print(json.dumps({'rows': len(p.rows), 'errors': [str(e) for e in p.errors],"
        " 'maxrss_kib': hwm}))\n"
    )
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    doc = json.loads(out.stdout)
    doc["elapsed_s"] = time.perf_counter() - t0
    return doc


def test_absurd_declared_dimension_reads_at_once(tmp_path: Path) -> None:
    # 13 KB declaring A1:XFD1048576, with an empty cell in its last row and column (as
    # formatting leaves): openpyxl would pad 1,048,576 rows to 16,384 columns each
    path = tmp_path / "dim.xlsx"
    sheets = small_sheets()
    write_xlsx(
        path,
        sheets,
        dimensions=dict.fromkeys(sheets, "A1:XFD1048576"),
        tail_rows=dict.fromkeys(sheets, 1_048_576),
    )
    assert path.stat().st_size < 20_000
    doc = _read_in_subprocess(path, timeout=120)
    print(f"\nabsurd dimension: {doc['elapsed_s']:.2f} s, peak RSS {doc['maxrss_kib'] // 1024} MiB")
    assert doc["errors"] == [] and doc["rows"] == 3
    assert doc["elapsed_s"] < 30


def test_zip_bomb_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xlsx"
    write_xlsx(path, small_sheets(), pad={S: MAX_UNCOMPRESSED_BYTES + 2**20})
    assert path.stat().st_size < 4 * 2**20  # a few MB that inflate past the limit
    doc = _read_in_subprocess(path, timeout=120)
    print(f"\nzip bomb: {doc['elapsed_s']:.2f} s, peak RSS {doc['maxrss_kib'] // 1024} MiB")
    [error] = doc["errors"]
    assert "bomb.xlsx" in error and "MiB once uncompressed" in error and "zip bomb" in error
    assert doc["maxrss_kib"] < 300 * 1024


def test_rows_of_is_linear_in_the_rows() -> None:
    # 200,000 rows of 50,000 installations: grouping once, not one scan per installation
    rows = tuple(
        SensorRow(f"H{i // 4:06d}", f"{i:032x}", "0" * 32, "FL1", "Mains", 1, 0, 1, 0, 0)
        for i in range(200_000)
    )
    config = ConfigVersion(version_id=1, rows=rows)
    t0 = time.process_time()
    sizes = [len(config.rows_of(inst)) for inst in config.installations()]
    cpu = time.process_time() - t0
    print(f"\nrows_of over 50,000 installations of 200,000 rows: {cpu:.3f} s CPU")
    assert sizes == [4] * 50_000
    assert cpu < 5  # a scan per installation is 10^10 comparisons: hours


def test_many_rows_import_in_linear_time(store: Store, tmp_path: Path) -> None:
    def sheets(n: int) -> dict[str, list[list]]:
        rows: list[list] = [list(SENSOR_COLUMNS)]
        for i in range(n):
            h = f"H{i // 4:06d}"
            rows.append([h, START, "FL1", "Mains", 1, None, 1, None, f"{i:032x}", f"{i + 1:032x}"])
        access = [list(ACCESS_COLUMNS)] + [[f"H{i:06d}", f"H{i:06d}"] for i in range(n // 4)]
        return {S: rows, SHEET_ACCESS: access, SHEET_CAPTIONS: [list(CAPTION_COLUMNS)]}

    cpu = {}
    for n in (2_000, 8_000):
        path = tmp_path / f"w{n}.xlsx"
        write_xlsx(path, sheets(n), dimensions=dict.fromkeys(sheets(0), f"A1:J{n + 1}"))
        t0 = time.process_time()
        res = import_workbook(store, path)
        cpu[n] = time.process_time() - t0
        assert res.rows == n and res.installations == n // 4
    print(
        f"\nimport CPU ({store.backend}): 2,000 rows {cpu[2_000]:.2f} s, 8,000 {cpu[8_000]:.2f} s"
    )
    assert cpu[8_000] < 8 * cpu[2_000] + 1  # 4x the rows: about 4x the time, not 16x


def test_ambiguous_sheet_names_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "amb.xlsx"
    sheets = small_sheets()
    sheets[SHEET_ACCESS + " "] = [list(ACCESS_COLUMNS), ["intruder", "H000"]]
    write_xlsx(path, sheets)
    parsed = read_workbook(path)
    [error] = parsed.errors
    assert "two sheets are named 'Export_Access'" in str(error)
    assert "'Export_Access '" in str(error) and parsed.access == []


def test_duplicated_column_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "dup.xlsx"
    sheets = small_sheets()
    sheets[SHEET_ACCESS] = [["Login", "InstallationId", "Login"], ["H000", "H000", "intruder"]]
    write_xlsx(path, sheets)
    [error] = read_workbook(path).errors
    assert "column 'Login' appears twice in row 1 (columns A and C)" in str(error)
    assert "Export_Access, row 1" in str(error)


def test_empty_access_sheet_needs_the_flag(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "noaccess.xlsx"
    sheets = small_sheets()
    sheets[SHEET_ACCESS] = [list(ACCESS_COLUMNS)]
    write_xlsx(path, sheets)
    with pytest.raises(ConfigWorkbookError) as info:
        import_workbook(store, path)
    [error] = info.value.problems
    assert "access sheet has no rows" in str(error) and "--allow-empty-access" in str(error)
    assert store.config_versions() == []
    res = import_workbook(store, path, allow_empty_access=True)
    assert res.version_id is not None and store.access() == []


@pytest.mark.parametrize(
    ("sheet", "excel_row", "column", "value", "fragment"),
    [
        (S, 2, "InstallationId", "CDB001\x9b", "contains control character(s) U+009B"),
        (S, 3, "InstallationId", "CDB\u202e100", "contains control character(s) U+202E"),
        (S, 4, "InstallationId", "CDB 001", "other than letters, digits, '-', '_' and '.'"),
        (S, 5, "InstallationId", "C" * 65, "is 65 characters long, at most 64"),
        (S, 6, "FlmId", "FL08\n000475", "contains control character(s) U+000A"),
        (S, 7, "Function", "PV\t", "contains control character(s) U+0009"),
        (SHEET_ACCESS, 2, "Login", "L" * 65, "is 65 characters long, at most 64"),
        (SHEET_ACCESS, 3, "Login", "CDB006\t", "contains control character(s) U+0009"),
        (SHEET_ACCESS, 4, "InstallationId", "CDB001/..", "other than letters"),
        (SHEET_CAPTIONS, 2, "Caption", "x" * 201, "is 201 characters long, at most 200"),
        (SHEET_CAPTIONS, 3, "Caption", "Quartier\x7fA", "contains control character(s) U+007F"),
    ],
)
def test_oversized_and_control_character_cells_are_named(
    tmp_path: Path, sheet: str, excel_row: int, column: str, value: str, fragment: str
) -> None:
    path = tmp_path / "Configuration.xlsx"
    write_real_shape(path)
    set_cell(path, sheet, excel_row, column, value)
    parsed = read_workbook(path)
    [error] = parsed.errors
    assert (error.sheet, error.row, error.column) == (sheet, excel_row, column)
    assert fragment in error.message and f"{column} in row {excel_row}" in error.message


def test_failed_import_write_leaves_the_previous_configuration(tmp_path: Path) -> None:
    # The write of the captions fails after the version and the access list were written:
    # nothing of the new import may remain (SQLite refuses through a trigger).
    db = tmp_path / "vde.db"
    from vde.storage import open_store

    path = tmp_path / "Configuration.xlsx"
    rows, access, captions = write_real_shape(path)
    with open_store(f"sqlite:///{db}") as store:
        store.create_schema()
        import_workbook(store, path)
        before = (store.config_versions(), sorted(store.access()), store.captions())
    with sqlite3.connect(db) as conn:
        conn.execute(
            'CREATE TRIGGER full BEFORE INSERT ON "group" '
            "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
    rows2, _, _ = real_shape(seed=1)
    from vde.processing.workbook import write_workbook

    write_workbook(path, rows2, [*access, ("intruder", "CDBZ01")], {**captions, "CDBZ01": "z"})
    with open_store(f"sqlite:///{db}") as store:
        with pytest.raises(StorageError, match="database or disk is full"):
            import_workbook(store, path)
        after = (store.config_versions(), sorted(store.access()), store.captions())
    assert after == before
    assert ("intruder", "CDBZ01") not in after[1]


def test_store_save_config_is_all_or_nothing(store: Store, tmp_path: Path) -> None:
    # Both backends: a part that cannot be written (a lone surrogate cannot be encoded)
    # leaves the previous version, access list and captions as they were.
    rows, access, captions = real_shape()
    v1 = ConfigVersion(version_id=1_000_000, rows=tuple(rows))
    store.save_config(v1, access, captions)
    before = (store.config_versions(), sorted(store.access()), store.captions())
    v2 = ConfigVersion(version_id=2_000_000, rows=tuple(replace(r, cons=0) for r in rows))
    with pytest.raises((StorageError, UnicodeEncodeError)):
        store.save_config(v2, [*access, ("intruder", "CDBZ01")], {"CDBZ01": "bad \ud800"})
    after = (store.config_versions(), sorted(store.access()), store.captions())
    assert after == before
    loaded = store.load_config()
    assert loaded is not None and loaded.version_id == v1.version_id
    # and a good import afterwards goes through whole
    store.save_config(v2, access, {**captions, "CDBZ01": "z"})
    assert store.load_config().version_id == v2.version_id  # type: ignore[union-attr]
    assert store.captions()["CDBZ01"] == "z" and sorted(store.access()) == sorted(set(access))
