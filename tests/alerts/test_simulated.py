"""Alerts on a day synced from the simulator over real HTTP, with two faults at once.

- CDB002's PV has Prod = +1 in the workbook (a flipped sign): wrong-sign alert whose fix
  flips it back;
- CDB003's production is measured on a consumption phase (the workbook counts its mains
  sensor as production, as when the PV clamp sits on a consumption phase): production
  while the sun is below the horizon, which no workbook edit explains.

Groups (CDBA01 = CDB001, CDBA02 = CDB002, CDBZ01 = all three) inherit their homes' faults
and their alerts are folded into their homes'. The simulator's wiring fault switches
(``standby``, ``pvinnetwork``, ``reversed``) are in ``test_wiring``.
"""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
from alerts_support import mail_settings

from vde.alerts.run import run_alerts
from vde.models import ConfigVersion, SensorRow
from vde.simulator import Fleet, serve_in_thread
from vde.sync.pipeline import run_sync
from vde.timeutil import local_day_bounds

# Once, on SQLite: the storage operations of an alert run (put_alert, alerts, read_raw,
# read_power, missing, lock, load_config) are proven on both backends by the contract
# suite (tests/storage/test_contract.py: test_alerts, test_raw_*, test_power_*,
# test_missing_intervals_replace, test_lock_*, test_config_versions).
pytestmark = [pytest.mark.slow, pytest.mark.backends("sqlite")]

DAY = date(2026, 6, 20)
START, END = local_day_bounds(DAY)


def _faulty_rows(fleet: Fleet) -> list[SensorRow]:
    rows = []
    for r in fleet.config_rows():
        home = fleet.sensor(r.sensor_id).home_id
        if home == "CDB002" and r.function == "PV":
            r = dataclasses.replace(r, prod=1)  # the workbook's sign is flipped
        elif home == "CDB003" and r.function == "PV":
            r = dataclasses.replace(r, prod=0)  # the PV clamp is not on the inverter...
        elif home == "CDB003" and r.function == "Mains":
            r = dataclasses.replace(r, prod=-1)  # ...but on a consumption phase
        rows.append(r)
    return rows


def test_simulated_day_with_flipped_pv_and_pv_on_a_phase(store, tmp_path, smtp_factory):
    fleet = Fleet.generate(homes=3, seed=0, start_ts=START - 3600, now_ts=END + 1800)
    assert [h.pv_kwp > 0 for h in fleet.home_specs] == [False, True, True]
    pv2 = next(s for s in fleet.sensors_of("CDB002") if s.function == "PV")
    mains3 = next(s for s in fleet.sensors_of("CDB003") if s.function == "Mains")
    store.save_config_version(ConfigVersion(1, tuple(_faulty_rows(fleet))))
    srv = smtp_factory()
    with serve_in_thread(fleet) as sim:
        settings = mail_settings(
            srv,
            database=store.url,
            flukso_api_url=sim.url,
            block_cache=str(tmp_path / "blocks.sqlite"),
        )
        # the second sync re-fetches what a loaded machine may have timed out on, as the
        # service does every few minutes
        for _ in range(2):
            run_sync(store, settings, now_ts=fleet.now, progress=False)
    res = run_alerts(store, settings, now_ts=fleet.now)
    assert res.day == "2026-06-20" and res.sent
    found = {a.alert_id.rsplit(":", 1)[0]: a for a in res.found}
    # one alert per cause: the groups only repeat their homes' problems
    assert {k.split(":")[1] for k in found} == {"CDB002", "CDB003"}

    # the flipped PV: the fix flips it back, in the home and in both of its groups
    a = found["sign:CDB002"]
    assert a.details["flip_sensor"] == pv2.sensor_id
    assert f"flip the sign of PV (sensor {pv2.sensor_id}) in Prod" in a.details["action"]
    assert {(e["installation"], e["from"], e["to"]) for e in a.details["fix"]} == {
        ("CDB002", 1, -1),
        ("CDBA02", 1, -1),
        ("CDBZ01", 1, -1),
    }
    assert a.details["also_in"] == ["CDBA02", "CDBZ01"]
    assert "night:CDB002" not in found

    # production at night on CDB003 (its mains counted as production): no workbook edit
    # makes the day coherent without breaking what the Function names say
    n = found["night:CDB003"]
    assert n.details["night_production"] > 60  # 5-min periods: most of a June night
    assert n.details["fix"] == [] and not n.details["fix_found"]
    assert n.details["action"].startswith("no fix found")
    assert any("grid clamp Mains counted in Prod" in w for w in n.details["lint"])

    (msg,) = srv.messages
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert max(len(line) for line in text.splitlines()) <= 100
    for a in found.values():
        assert f">{a.installation_id}</td>" in html
    assert f"(sensor {pv2.sensor_id})" in text
    assert {a.status for a in store.alerts()} == {"sent"}
    assert mains3.sensor_id in {r.sensor_id for r in store.load_config().rows_of("CDB003")}


def test_healthy_simulated_fleet_raises_no_alert_on_a_25_hour_day(store, tmp_path, smtp_factory):
    """No false alarm: meter jitter, twilight and the clock change are not problems."""
    day = date(2026, 10, 25)
    start, end = local_day_bounds(day)
    fleet = Fleet.generate(homes=4, seed=5, start_ts=start - 3600, now_ts=end + 1800)
    assert any(h.pv_kwp > 0 for h in fleet.home_specs)
    store.save_config_version(ConfigVersion(1, tuple(fleet.config_rows())))
    srv = smtp_factory()
    with serve_in_thread(fleet) as sim:
        settings = mail_settings(
            srv,
            database=store.url,
            flukso_api_url=sim.url,
            block_cache=str(tmp_path / "blocks.sqlite"),
        )
        for _ in range(2):  # as above: a transient timeout is not what this test is about
            run_sync(store, settings, now_ts=fleet.now, progress=False)
    res = run_alerts(store, settings, now_ts=fleet.now)
    assert res.day == "2026-10-25" and len(res.checked) == 7
    assert res.found == [] and srv.messages == [] and store.alerts() == []
