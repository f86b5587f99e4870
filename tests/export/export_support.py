"""A small fleet written through the Store (helpers of the export tests).

Two homes over the three local days around the spring DST change (2026-03-28 .. 03-30,
Europe/Brussels; 03-29 is 23 hours long). CDB001 consumes 400 W and produces -1000 W
from 10:00 to 14:00 UTC, has no data for one hour on 03-28 (a gap: absent rows) and
estimated slots for 30 minutes on 03-30; CDB002 consumes 250 W all the time. Each home
has two sensors (mains, solar) whose raw power adds up to its total.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from vde.models import ConfigVersion, PowerSeries, SensorRow
from vde.storage import Store
from vde.sync.recompute import rollup_range
from vde.timeutil import local_day_bounds

START = local_day_bounds(date(2026, 3, 28))[0]
END = local_day_bounds(date(2026, 3, 30))[1]
GAP = (START + 6 * 3600, START + 7 * 3600)
EST = (
    local_day_bounds(date(2026, 3, 30))[0] + 12 * 3600,
    local_day_bounds(date(2026, 3, 30))[0] + 12 * 3600 + 1800,
)
HOMES = ("CDB001", "CDB002")
VERSION = 1_774_000_000_000_000


def sensors(inst: str) -> tuple[str, str]:
    return (inst.lower() + "m" * 26, inst.lower() + "p" * 26)


def config() -> ConfigVersion:
    rows = []
    for inst in HOMES:
        mains, pv = sensors(inst)
        rows.append(SensorRow(inst, mains, "t" * 32, "FL1", "Mains", 1, 0, 1, 0, 0))
        rows.append(SensorRow(inst, pv, "u" * 32, "FL1", "PV", 1, 1, 0, 0, 0))
    return ConfigVersion(VERSION, tuple(rows))


def expected_power(inst: str, start: int = START, end: int = END) -> PowerSeries:
    ts = np.arange(start, end, 8, dtype=np.int64)
    if inst == "CDB001":
        ts = ts[(ts < GAP[0]) | (ts >= GAP[1])]
        hour = (ts % 86400) // 3600
        prod = np.where((hour >= 10) & (hour < 14), -1000.0, 0.0)
        cons = np.full(len(ts), 400.0)
        est = (ts >= EST[0]) & (ts < EST[1])
    else:
        prod = np.zeros(len(ts))
        cons = np.full(len(ts), 250.0)
        est = np.zeros(len(ts), bool)
    return PowerSeries(ts, cons, prod, cons + prod, est)


def write_fleet(
    store: Store, homes: tuple[str, ...] = HOMES, start: int = START, end: int = END
) -> None:
    store.save_config_version(config())
    for inst in homes:
        p = expected_power(inst, start, end)
        mains, pv = sensors(inst)
        store.write_raw(mains, p.ts, p.p_tot - p.p_prod, VERSION, p.estimated)
        store.write_raw(pv, p.ts, p.p_prod, VERSION, p.estimated)
        store.write_power(inst, p, VERSION)
        rollup_range(store, inst, start, end)
