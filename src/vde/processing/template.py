"""The example workbook written by ``vde config template``: a few homes and groups.

Wired as the simulator and the docs describe: ``Mains`` counts grid import (Network +1),
``Mains-`` export (Network -1), ``PV`` the inverter output (Prod -1, Cons +1), an EV charger
only its VE sign. So P_prod <= 0, P_cons >= 0 and P_tot > 0 means import.
Ids and tokens are random hex: never real data.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import datetime

from vde.models import SensorRow
from vde.processing.workbook import excel_to_ts

# (Function, Network, Prod, Cons, VE) per sensor of each example home
LAYOUTS: list[list[tuple[str, int, int, int, int]]] = [
    [("Mains", 1, 0, 1, 0), ("Mains-", -1, 0, -1, 0), ("PV", 0, -1, 1, 0), ("PV-", 0, 0, 0, 0)],
    [("Mains", 1, 0, 1, 0), ("Mains-", -1, 0, -1, 0)],
    [("Mains phase 1", 1, 0, 1, 0), ("Mains phase 1-", -1, 0, -1, 0), ("PV", 0, -1, 1, 0)],
    [("Mains", 1, 0, 1, 0), ("Mains-", -1, 0, -1, 0), ("Borne VE", 0, 0, 0, 1)],
]


def example_config() -> tuple[list[SensorRow], list[tuple[str, str]], dict[str, str]]:
    """Rows, access pairs and captions of 4 homes in 2 groups (random ids and tokens)."""
    homes = ["CDB001", "CDB002", "CDB003", "CDB004"]
    groups = {"CDBA01": homes, "CDBA02": homes[2:]}
    home_rows: dict[str, list[SensorRow]] = {}
    for i, (home, layout) in enumerate(zip(homes, LAYOUTS, strict=True)):
        start = excel_to_ts(datetime(2021, 3 + 2 * i, 1))
        flm = f"FL0800{secrets.randbelow(10**4):04d}"
        home_rows[home] = [
            SensorRow(home, secrets.token_hex(16), secrets.token_hex(16), flm, f, n, p, c, v, start)
            for f, n, p, c, v in layout
        ]
    rows = [r for home in homes for r in home_rows[home]]
    for group, members in groups.items():
        rows += [replace(r, installation_id=group) for home in members for r in home_rows[home]]
    access = [(h, h) for h in homes] + [(h, g) for g, members in groups.items() for h in members]
    captions = {"CDBA01": "Quartier exemple – toutes les maisons", "CDBA02": "Rue exemple"}
    return rows, access, captions
