"""A blank StartDate (no start limit): the workbook imports, sync backfills the sensors over
``backfill_horizon`` like any new sensor, and power counts them from their first data."""

from __future__ import annotations

from dataclasses import replace

from syncenv import BIG, sim_env

from vde.models import NO_START_TS
from vde.processing.workbook import write_workbook
from vde.simulator import Fleet
from vde.sync.importer import import_workbook
from vde.timeutil import ceil_grid

H = 3600
DAY = 86400
T0 = 1_790_000_000 - 1_790_000_000 % DAY


def test_blank_start_date_is_backfilled_from_the_horizon(store, tmp_path):
    fleet = Fleet.generate(homes=2, seed=3, start_ts=T0, now_ts=T0 + 2 * DAY)
    rows = [replace(r, start_ts=NO_START_TS) for r in fleet.config_rows()]
    path = tmp_path / "Configuration.xlsx"
    write_workbook(path, rows, fleet.access_rows(), fleet.captions())
    res = import_workbook(store, path)
    no_start = [w for w in res.warnings if "StartDate blank" in w.message]
    installations = {r.installation_id for r in rows}
    assert len(no_start) == len(installations)  # one warning per installation, not per row
    config = store.load_config()
    assert config is not None and {r.start_ts for r in config.rows} == {NO_START_TS}

    horizon = 6 * H
    with sim_env(store, tmp_path, fleet, backfill_horizon=horizon) as env:
        report = env.sync()
        assert report.ok, report.failed
        first_expected = ceil_grid(fleet.now - horizon)
        for sid in config.sensors():
            raw = store.read_raw(sid, 0, BIG)
            assert len(raw) > 0, sid
            # from the horizon, not from 1970 nor from the meter's first day
            assert first_expected <= raw.ts[0] < first_expected + 10 * 60, sid
        for inst in installations:
            power = store.read_power(inst, 0, BIG)
            assert len(power) > 0 and first_expected <= power.ts[0] < first_expected + 10 * 60
        assert all(m.start_ts >= first_expected for m in store.missing())
