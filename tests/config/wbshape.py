"""Generated workbooks shaped like the real Configuration.xlsx (no real data).

``real_shape()`` builds the community's numbers from the workbook note (the real file in numbers):
478 sensor rows, 60 installations (57 homes + 3 groups with sensors), a 4th captioned
group without sensors, 206 distinct sensors each under 2+ installations, 54 Fluksometers,
177 access rows for 81 logins (62 see 2, 17 see 3, 2 see 1), 25 installations in the
access sheet without sensors, blank signs and the text '1'/'-1' in VE, and a blank
StartDate on every row of 18 homes (60 rows: ``NO_START_HOMES``; their group rows keep
the date).
``edit_sheet`` rewrites a saved workbook's sheet to build the broken variants.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from openpyxl import load_workbook

from vde.models import NO_START_TS, SensorRow
from vde.processing.workbook import (
    SHEET_ACCESS,
    SHEET_CAPTIONS,
    SHEET_SENSORS,
    excel_to_ts,
    write_workbook,
)

S = SHEET_SENSORS

# (Function, Network, Prod, Cons, VE) of the sensors of a home; '-' = reverse twin.
FOUR = [("Mains", 1, 0, 1, 0), ("Mains-", -1, 0, -1, 0), ("PV", 1, -1, -1, 0), ("PV-", -1, 1, 1, 0)]
THREE = [("Mains", 1, 0, 1, 0), ("Mains-", -1, 0, -1, 0), ("Phase L1", 0, 0, 1, 0)]
EV = [
    ("Mains", 1, 0, 1, 0),
    ("Mains-", -1, 0, -1, 0),
    ("Borne VE", 0, 0, 0, 1),
    ("Borne VE-", 0, 0, 0, -1),
]


#: The 18 homes whose own rows have a blank StartDate: 12 three-sensor homes of group A
#: and 6 four-sensor homes of group B (CDB045 with its EV charger among them) = 60 rows.
NO_START_HOMES = tuple(f"CDB{i:03d}" for i in [*range(29, 41), *range(41, 47)])


def hex32(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def real_shape(
    seed: int = 0,
) -> tuple[list[SensorRow], list[tuple[str, str]], dict[str, str]]:
    """(rows, access, captions) with the real workbook's shape."""
    rng = random.Random(seed)
    # Homes 1-40 form group A (26 with 4 sensors + 14 with 3 = 146 rows); homes 41-57 form
    # group B (9 x 4 + 8 x 3 = 60); group C holds 15 four- and 2 three-sensor homes of A (66).
    sizes = [4] * 26 + [3] * 14 + [4] * 9 + [3] * 8
    homes = [f"CDB{i:03d}" for i in range(1, 58)]
    first = datetime(2021, 1, 4, 9, 30)
    home_rows: dict[str, list[SensorRow]] = {}
    for i, (home, size) in enumerate(zip(homes, sizes, strict=True)):
        layout = FOUR if size == 4 else THREE
        if home == "CDB045":  # the one home with an EV charger (VE '1' and '-1')
            layout = EV
        start = excel_to_ts(
            first + timedelta(days=rng.randrange(0, 480), minutes=rng.randrange(0, 600))
        )
        flm = f"FL0800{(i % 54) + 400:04d}"  # 54 Fluksometers: three are shared by two homes
        home_rows[home] = [
            SensorRow(home, hex32(rng), hex32(rng), flm, f, n, p, c, v, start)
            for f, n, p, c, v in layout
        ]
    a_homes = homes[:40]
    c_homes = homes[:15] + homes[26:28]
    groups = {"CDBA01": a_homes, "CDBA02": homes[40:], "CDBA03": c_homes}
    rows = [
        replace(r, start_ts=NO_START_TS) if h in NO_START_HOMES else r
        for h in homes
        for r in home_rows[h]
    ]
    for group, members in groups.items():
        rows += [
            SensorRow(
                group,
                r.sensor_id,
                r.token,
                r.flm_id,
                r.function,
                r.net,
                r.prod,
                r.cons,
                r.ve,
                r.start_ts,
            )
            for h in members
            for r in home_rows[h]
        ]
    unequipped = [f"CDB{i:03d}" for i in range(58, 82)]  # 24 homes without sensors yet
    access: list[tuple[str, str]] = []
    for h in homes:
        access.append((h, h))
        access += [(h, g) for g, members in groups.items() if h in members]
    for h in unequipped:
        access.append((h, h))
        if h not in ("CDB080", "CDB081"):
            access.append((h, "CDBA04"))  # the captioned group without sensors
    captions = {
        "CDBA01": "Quartier A – toutes les maisons",
        "CDBA02": "Quartier B – toutes les maisons",
        "CDBA03": "Rue des Panneaux",
        "CDBA04": "Quartier C (pas encore équipé)",
    }
    return rows, access, captions


_written: dict[int, bytes] = {}


def write_real_shape(
    path: Path, seed: int = 0
) -> tuple[list[SensorRow], list[tuple[str, str]], dict[str, str]]:
    """Write the real-shaped workbook to ``path`` (built once per seed, then copied)."""
    shape = real_shape(seed)
    if seed not in _written:
        write_workbook(path, *shape)
        _written[seed] = path.read_bytes()
    else:
        path.write_bytes(_written[seed])
    return shape


def edit_sheet(path: Path, sheet: str, fn: Callable[[list[list]], list[list] | None]) -> None:
    """Rewrite one sheet: ``fn`` gets its rows as lists (header first) and edits them in place
    or returns new rows."""
    wb = load_workbook(path)
    ws = wb[sheet]
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    new = fn(rows)
    rows = rows if new is None else new
    ws.delete_rows(1, ws.max_row)
    for r in rows:
        ws.append(r)
    wb.save(path)


def set_cells(path: Path, sheet: str, cells: dict[tuple[int, str], object]) -> None:
    """Set cells by (Excel row number (header = 1), header name), in one load and save."""
    wb = load_workbook(path)
    ws = wb[sheet]
    header = [c.value for c in ws[1]]
    for (excel_row, column), value in cells.items():
        ws.cell(excel_row, header.index(column) + 1).value = value
    wb.save(path)


def set_cell(path: Path, sheet: str, excel_row: int, column: str, value: object) -> None:
    set_cells(path, sheet, {(excel_row, column): value})


# --- broken variants of the real-shaped workbook: (mutate, fragments of the one error) ---

rows0, _, _ = real_shape()
TOKEN_ROW2 = rows0[0].token


def _missing_sheet(p: Path) -> None:
    wbk = load_workbook(p)
    wbk[SHEET_ACCESS].title = "Access"
    wbk.save(p)


def _missing_column(p: Path) -> None:
    edit_sheet(p, S, lambda rows: [r[:-1] for r in rows])  # drop Token


def _dup_pair(p: Path) -> None:
    edit_sheet(p, S, lambda rows: rows + [list(rows[1])])


def _two_tokens(p: Path) -> None:
    # row 2 is CDB001's Mains; its group row in CDBA01 is row 208 (after the 206 home rows)
    set_cell(p, S, 208, "Token", "f" * 32)


def _no_network(p: Path) -> None:
    # CDB002 is rows 6-9 (CDB001 has 4 sensors): blank every Network
    set_cells(p, S, {(n, "Network"): None for n in range(6, 10)})


INVALID = {
    "missing sheet": (_missing_sheet, ["sheet 'Export_Access' is missing", "Access"]),
    "missing column": (_missing_column, ["column 'Token' is missing", "row 1"]),
    "sign out of range": (
        lambda p: set_cell(p, S, 12, "Prod", 2),
        [
            "Export_InstallationSensors, row 12, column Prod, value 2",
            "Prod in row 12 is 2, not a sign",
            "-1, 1 or leave",
        ],
    ),
    "sign text": (
        lambda p: set_cell(p, S, 13, "VE", "oui"),
        ["row 13, column VE, value 'oui'", "VE in row 13 is 'oui', not a sign"],
    ),
    "sign fraction": (
        lambda p: set_cell(p, S, 14, "Cons", 0.5),
        ["Cons in row 14 is 0.5, not a sign"],
    ),
    "sensor id short": (
        lambda p: set_cell(p, S, 5, "SensorId", rows0[3].sensor_id[:31]),
        ["row 5, column SensorId", "SensorId in row 5 is 31 characters, expected 32 hex"],
    ),
    "sensor id not hex": (
        lambda p: set_cell(p, S, 7, "SensorId", "g" * 32),
        ["SensorId in row 7 has non-hex characters, expected 32 hex"],
    ),
    "token short": (
        lambda p: set_cell(p, S, 2, "Token", TOKEN_ROW2[:31]),
        [
            "row 2, column Token",
            "Token in row 2 is 31 characters, expected 32 hex",
            "…" + TOKEN_ROW2[27:31],
        ],
    ),
    "token not hex": (
        lambda p: set_cell(p, S, 2, "Token", TOKEN_ROW2[:30] + "zz"),
        ["Token in row 2 has non-hex characters"],
    ),
    "token blank": (lambda p: set_cell(p, S, 3, "Token", None), ["Token in row 3 is empty"]),
    "pair repeated": (
        _dup_pair,
        ["is listed twice for installation CDB001 (rows 2 and 480)", "row 480"],
    ),
    "two tokens": (
        _two_tokens,
        [
            f"sensor {rows0[0].sensor_id} has a different token in row 208 than in row 2",
            "one token",
        ],
    ),
    "no network sensor": (
        _no_network,
        ["installation CDB002 has no Network sensor (row(s) 6, 7, 8, 9", "set Network to 1 or -1"],
    ),
    "network typo, no second error": (
        lambda p: set_cells(p, S, {(6, "Network"): 2} | {(n, "Network"): None for n in (7, 8, 9)}),
        ["Network in row 6 is 2, not a sign"],
    ),
    "start date overflow": (
        lambda p: set_cell(p, S, 4, "StartDate", 1e12),
        ["StartDate in row 4 is not a date"],
    ),
    "start date text": (
        lambda p: set_cell(p, S, 4, "StartDate", "bientôt"),
        ["row 4, column StartDate, value 'bientôt'", "StartDate in row 4 is not a date"],
    ),
    "blank access": (
        lambda p: set_cell(p, SHEET_ACCESS, 3, "Login", None),
        ["Export_Access, row 3, column Login"],
    ),
    "two captions": (
        lambda p: edit_sheet(p, SHEET_CAPTIONS, lambda rows: rows + [["CDBA01", "Autre nom"]]),
        ["installation CDBA01 has two captions (rows 2 and 6)"],
    ),
}
