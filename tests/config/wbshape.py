"""Generated workbooks shaped like the real Configuration.xlsx (no real data).

``real_shape()`` builds the community's numbers from /work/shared/config-workbook.md:
478 sensor rows, 60 installations (57 homes + 3 groups with sensors), a 4th captioned
group without sensors, 206 distinct sensors each under 2+ installations, 54 Fluksometers,
177 access rows for 81 logins (62 see 2, 17 see 3, 2 see 1), 25 installations in the
access sheet without sensors, blank signs and the text '1'/'-1' in VE.
``edit_sheet`` rewrites a saved workbook's sheet to build the broken variants.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from openpyxl import load_workbook

from vde.models import SensorRow
from vde.processing.workbook import excel_to_ts, write_workbook

# (Function, Network, Prod, Cons, VE) of the sensors of a home; '-' = reverse twin.
FOUR = [("Mains", 1, 0, 1, 0), ("Mains-", -1, 0, -1, 0), ("PV", 1, -1, -1, 0), ("PV-", -1, 1, 1, 0)]
THREE = [("Mains", 1, 0, 1, 0), ("Mains-", -1, 0, -1, 0), ("Phase L1", 0, 0, 1, 0)]
EV = [
    ("Mains", 1, 0, 1, 0),
    ("Mains-", -1, 0, -1, 0),
    ("Borne VE", 0, 0, 0, 1),
    ("Borne VE-", 0, 0, 0, -1),
]


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
    rows = [r for h in homes for r in home_rows[h]]
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


def write_real_shape(
    path: Path, seed: int = 0
) -> tuple[list[SensorRow], list[tuple[str, str]], dict[str, str]]:
    shape = real_shape(seed)
    write_workbook(path, *shape)
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


def set_cell(path: Path, sheet: str, excel_row: int, column: str, value: object) -> None:
    """Set one cell by Excel row number (header = 1) and header name."""

    def fn(rows: list[list]) -> None:
        rows[excel_row - 1][rows[0].index(column)] = value

    edit_sheet(path, sheet, fn)
