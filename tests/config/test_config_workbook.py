"""Reading and validating the configuration workbook (pure: no database)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from wbshape import (
    INVALID,
    TOKEN_ROW2,
    edit_sheet,
    real_shape,
    rows0,
    set_cell,
    set_cells,
    write_real_shape,
)

from vde.models import SensorRow
from vde.processing.workbook import (
    SHEET_ACCESS,
    SHEET_CAPTIONS,
    SHEET_SENSORS,
    excel_to_ts,
    read_workbook,
    write_workbook,
)

S = SHEET_SENSORS


@pytest.fixture
def wb(tmp_path: Path) -> Path:
    path = tmp_path / "Configuration.xlsx"
    write_real_shape(path)
    return path


def errors_of(path: Path) -> list[str]:
    parsed = read_workbook(path)
    return [str(p) for p in parsed.errors]


def test_real_shape_reads_cleanly(wb: Path) -> None:
    parsed = read_workbook(wb)
    rows, access, captions = real_shape()
    assert parsed.errors == []
    assert parsed.rows == rows
    assert parsed.access == access
    assert parsed.captions == captions
    assert len(parsed.rows) == 478
    assert len({r.installation_id for r in parsed.rows}) == 60
    per_sensor = Counter(r.sensor_id for r in parsed.rows)
    assert len(per_sensor) == 206 and min(per_sensor.values()) >= 2
    assert len(parsed.access) == 177 and len({login for login, _ in parsed.access}) == 81
    seen_per_login = Counter(Counter(login for login, _ in parsed.access).values())
    assert seen_per_login == {2: 62, 3: 17, 1: 2}
    assert len({r.flm_id for r in parsed.rows}) == 54
    assert max(Counter(r.installation_id for r in parsed.rows).values()) == 146
    homes = {r.installation_id for r in parsed.rows} - set(captions)
    assert len(homes) == 57 and len(parsed.captions) == 4
    # the 25 installations of the access list without sensors: one warning, not an error
    [warning] = [w for w in parsed.warnings if w.sheet == SHEET_ACCESS]
    assert "25 installation(s) in the access list have no sensor rows" in str(warning)
    assert "CDBA04" in warning.message


def test_quirks_blank_signs_text_ve_and_datetimes(wb: Path) -> None:
    sheet = load_workbook(wb)[S]
    header = [c.value for c in sheet[1]]
    cells = list(sheet.iter_rows(min_row=2, values_only=True))
    # the file really holds blanks, ints, text signs and datetimes, as the real one does
    assert None in {r[header.index("Network")] for r in cells}
    assert {r[header.index("VE")] for r in cells} == {None, "1", "-1"}
    starts = [r[header.index("StartDate")] for r in cells]
    assert all(isinstance(v, datetime) for v in starts if v is not None)
    assert starts.count(None) == 60  # every row of 18 homes, as in the real workbook
    parsed = read_workbook(wb)
    assert Counter(r.ve for r in parsed.rows) == {0: 474, 1: 2, -1: 2}
    assert {r.net for r in parsed.rows} == {-1, 0, 1}


def test_naive_start_date_is_brussels_local_time(tmp_path: Path) -> None:
    rows = [
        SensorRow("H1", "a" * 32, "b" * 32, "FL1", "Mains", 1, 0, 1, 0, 0),
        SensorRow("H2", "c" * 32, "d" * 32, "FL1", "Mains", 1, 0, 1, 0, 0),
    ]
    write_workbook(tmp_path / "w.xlsx", rows, [], {})
    set_cell(tmp_path / "w.xlsx", S, 2, "StartDate", datetime(2021, 7, 1, 0, 0))  # CEST
    set_cell(tmp_path / "w.xlsx", S, 3, "StartDate", datetime(2021, 1, 1, 0, 0))  # CET
    parsed = read_workbook(tmp_path / "w.xlsx")
    assert parsed.rows[0].start_ts == int(datetime(2021, 6, 30, 22, tzinfo=UTC).timestamp())
    assert parsed.rows[1].start_ts == int(datetime(2020, 12, 31, 23, tzinfo=UTC).timestamp())


def test_column_order_and_header_whitespace_do_not_matter(wb: Path) -> None:
    expected = read_workbook(wb).rows

    def shuffle(rows: list[list]) -> list[list]:
        order = [9, 3, 0, 8, 5, 1, 7, 2, 6, 4]
        out = [[r[i] for i in order] for r in rows]
        out[0] = [f"  {h} " for h in out[0]]
        return out

    edit_sheet(wb, S, shuffle)
    parsed = read_workbook(wb)
    assert parsed.errors == []
    assert parsed.rows == expected


def test_blank_lines_are_skipped_and_row_numbers_stay_excel_numbers(wb: Path) -> None:
    def insert_blank(rows: list[list]) -> list[list]:
        return rows[:3] + [[None] * len(rows[0])] + rows[3:]

    edit_sheet(wb, S, insert_blank)
    set_cell(wb, S, 6, "Network", 5)
    [err] = errors_of(wb)
    assert "row 6" in err and "Network in row 6 is 5" in err
    assert len(read_workbook(wb).rows) == 478


def test_only_the_named_part_is_read(wb: Path) -> None:
    wbk = load_workbook(wb)
    del wbk[SHEET_CAPTIONS]
    wbk.save(wb)
    assert any("InstallationCaptions" in e for e in errors_of(wb))
    parsed = read_workbook(wb, ("access",))
    assert parsed.errors == [] and len(parsed.access) == 177 and parsed.rows == []


# --- every invalid case: its precise message ---------------------------------------------


@pytest.mark.parametrize("case", list(INVALID), ids=list(INVALID))
def test_invalid_case_gives_its_precise_message(wb: Path, case: str) -> None:
    mutate, expected = INVALID[case]
    mutate(wb)
    errs = errors_of(wb)
    assert len(errs) == 1, errs
    for fragment in expected:
        assert fragment in errs[0], (fragment, errs[0])
    for r in rows0:  # no token value ever appears in a message
        assert r.token not in errs[0]
        assert r.token[:31] not in errs[0]


def test_every_problem_is_reported_at_once(wb: Path) -> None:
    set_cells(
        wb,
        S,
        {
            (12, "Prod"): 2,
            (5, "SensorId"): "x",
            (2, "Token"): TOKEN_ROW2[:31],
            (20, "StartDate"): "soon",
        },
    )
    set_cell(wb, SHEET_ACCESS, 3, "Login", None)
    errs = errors_of(wb)
    assert len(errs) == 5
    assert [e.split(",")[1].strip() for e in errs[:4]] == ["row 2", "row 5", "row 12", "row 20"]


@pytest.mark.parametrize("content", [b"not a workbook at all", b"PK\x03\x04garbage", b""])
def test_unreadable_file_is_one_clear_error(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "Configuration.xlsx"
    p.write_bytes(content)
    [err] = errors_of(p)
    assert "cannot read Configuration.xlsx (not an .xlsx workbook" in err


def test_missing_file(tmp_path: Path) -> None:
    [err] = errors_of(tmp_path / "nope.xlsx")
    assert "cannot read nope.xlsx (No such file or directory)" in err


# --- round trip ---------------------------------------------------------------------------

hex32 = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)
sign = st.sampled_from([-1, 0, 1])
# whole minutes between 2000 and 2037, as Excel datetimes hold them exactly
start = st.integers(946684800 // 60, 2114380800 // 60).map(lambda m: m * 60)
row = st.builds(
    SensorRow,
    installation_id=st.sampled_from(["CDB001", "CDB002", "CDBA01"]),
    sensor_id=hex32,
    token=hex32,
    flm_id=st.sampled_from(["FL08000475", "FL08000476"]),
    function=st.sampled_from(["Mains", "Mains-", "PV", "Phase L1", "Borne VE"]),
    net=st.just(1),
    prod=sign,
    cons=sign,
    ve=sign,
    start_ts=start,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(row, min_size=1, max_size=8, unique_by=lambda r: r.sensor_id))
def test_write_then_read_round_trips(tmp_path: Path, rows: list[SensorRow]) -> None:
    path = tmp_path / "rt.xlsx"
    access = [(r.installation_id, r.installation_id) for r in rows]
    write_workbook(path, rows, access, {"CDBA01": "groupe"})
    parsed = read_workbook(path)
    assert parsed.errors == []
    assert parsed.rows == rows
    assert parsed.captions == {"CDBA01": "groupe"}


def test_excel_datetimes_round_trip_across_dst() -> None:
    from vde.processing.workbook import ts_to_excel

    # around the 2021 switches: 2021-03-28 00:59Z/01:00Z, 2021-10-31 00:00Z (02:00 CEST)
    for ts in (1616893140, 1616893200, 1635638400, 1635638400 - 60):
        assert excel_to_ts(ts_to_excel(ts)) == ts
    # the repeated autumn hour is ambiguous in a naive datetime: it reads as the first one
    assert excel_to_ts(ts_to_excel(1635642000).replace(fold=0)) == 1635638400


def test_corrupt_sheet_inside_a_valid_zip(wb: Path) -> None:
    import zipfile

    src = wb.read_bytes()
    broken = wb.with_name("broken.xlsx")
    with zipfile.ZipFile(wb) as zin, zipfile.ZipFile(broken, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data[: len(data) // 2]  # truncated XML
            zout.writestr(item, data)
    assert wb.read_bytes() == src
    parsed = read_workbook(broken)
    assert [str(p) for p in parsed.problems] == [
        "error: cannot read broken.xlsx (not an .xlsx workbook: ParseError) — give the .xlsx "
        "file exported from the installation database (Excel 2007+ format)"
    ]
    assert parsed.rows == []


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(row, min_size=1, max_size=6, unique_by=lambda r: r.sensor_id),
    pick=st.integers(0, 5),
    column=st.sampled_from(["Network", "Prod", "Cons", "VE"]),
    bad=st.one_of(st.integers(2, 99), st.integers(-99, -2), st.sampled_from(["+", "x1", "1.5"])),
)
def test_any_bad_sign_is_one_error_at_its_cell(
    tmp_path: Path, rows: list[SensorRow], pick: int, column: str, bad: object
) -> None:
    path = tmp_path / "bad.xlsx"
    write_workbook(path, rows, [], {})
    excel_row = 2 + pick % len(rows)
    set_cell(path, S, excel_row, column, bad)
    parsed = read_workbook(path)
    [problem] = parsed.errors
    assert (problem.sheet, problem.row, problem.column) == (S, excel_row, column)
    assert f"{column} in row {excel_row} is" in problem.message
