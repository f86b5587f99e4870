"""The wiring of real homes, reproduced with the simulator's fault switches over real HTTP.

One simulated community (4 homes, groups CDBA01 = CDB001+CDB002, CDBA02 = CDB003, CDBZ01 =
all), one June day synced from the simulator, the workbook imported as an administrator
does (``import_workbook``: lint warnings, recompute), alerts emailed to a real SMTP server:

1. ``standby`` at 20 W on CDB004 (inverter draw, the PV- twin in Prod): a healthy home, no
   alert; ``standby`` at 70 W on CDB002 (a clamp reading 70 W all night): wrong sign, fix
   "blank Prod of PV-";
2. the administrator then imports a workbook with ``pvinnetwork=CDB004`` and
   ``reversed=<CDB003's PV>``: CDB004's fix blanks Network on PV and PV- (not a flip of
   Mains-), CDB003's flips its PV back; the groups' alerts are folded into the homes';
3. the administrator applies every fix the alerts gave and imports again: each alert that
   was sent becomes ``resolved``, and the admin page says so.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from alerts_support import mail_settings

from vde.alerts.run import run_alerts
from vde.models import SensorRow
from vde.processing.configlint import LintFinding
from vde.processing.workbook import write_workbook
from vde.simulator import Faults, Fleet, serve_in_thread
from vde.sync.importer import import_workbook
from vde.sync.pipeline import run_sync
from vde.timeutil import local_day_bounds
from vde.web.admin import alerts_list, installations_config

# Once, on SQLite: the storage operations of an alert run (put_alert, alerts, read_raw,
# read_power, missing, lock, load_config, save_config) are proven on both backends by the contract
# suite (tests/storage/test_contract.py: test_alerts, test_raw_*, test_power_*,
# test_missing_intervals_replace, test_lock_*, test_config_versions;
# save_config: tests/config/test_config_hostile.py::test_store_save_config_is_all_or_nothing).
pytestmark = [pytest.mark.slow, pytest.mark.backends("sqlite")]

DAY = date(2026, 6, 20)
START, END = local_day_bounds(DAY)
COLUMN = {"Network": "net", "Prod": "prod"}


def sid(fleet: Fleet, home: str, function: str) -> str:
    return next(s.sensor_id for s in fleet.sensors_of(home) if s.function == function)


def import_rows(store, fleet: Fleet, rows: list[SensorRow], path) -> list[str]:
    """Write ``rows`` as the workbook and import it; its wiring warnings as printed."""
    write_workbook(path, rows, fleet.access_rows(), fleet.captions())
    res = import_workbook(store, path)
    return [str(w) for w in res.warnings if isinstance(w, LintFinding)]


def apply_fixes(rows: list[SensorRow], alerts) -> list[SensorRow]:
    """The workbook after every edit of every alert's ``fix``."""
    cells = {}
    for a in alerts:
        for e in a.details["fix"]:
            cells[(e["installation"], e["sensor_id"], COLUMN[e["column"]])] = (e["from"], e["to"])
    out = []
    for r in rows:
        for attr in ("net", "prod"):
            edit = cells.pop((r.installation_id, r.sensor_id, attr), None)
            if edit is not None:
                assert getattr(r, attr) == edit[0]  # the fix names the cell as it is
                r = replace(r, **{attr: edit[1]})
        out.append(r)
    assert cells == {}  # every edit named an existing row
    return out


def test_wiring_switches_alert_fix_and_resolve(store, tmp_path, smtp_factory):
    fleet = Fleet.generate(homes=4, seed=5, start_ts=START - 3600, now_ts=END + 1800)
    pv2, pv3, pv4 = (sid(fleet, h, "PV") for h in ("CDB002", "CDB003", "CDB004"))
    twin2, twin4 = sid(fleet, "CDB002", "PV-"), sid(fleet, "CDB004", "PV-")
    meters = f"standby={pv4}:20,standby={pv2}:70"
    fleet.apply_faults(Faults.parse(meters, now=fleet.now))
    warnings = import_rows(store, fleet, fleet.config_rows(), tmp_path / "v1.xlsx")
    assert warnings == []  # the PV- twins in Prod with PV's opposite sign: healthy wiring
    srv = smtp_factory()
    with serve_in_thread(fleet, faults=Faults.parse(meters, now=fleet.now)) as sim:
        settings = mail_settings(
            srv,
            database=store.url,
            flukso_api_url=sim.url,
            block_cache=str(tmp_path / "blocks.sqlite"),
        )
        for _ in range(2):  # a second pass re-fetches what a loaded machine timed out on
            run_sync(store, settings, now_ts=fleet.now, progress=False)

    # 1. standby: 20 W is an inverter's night draw, 70 W all night is not
    first = run_alerts(store, settings, now_ts=fleet.now)
    assert [a.alert_id for a in first.found] == ["sign:CDB002:2026-06-20"]
    a = first.found[0]
    assert a.summary.startswith("production above +30 W")
    assert 65 <= a.details["max_prod_w"] <= 80 and a.details["cons_negative"] == 0
    assert [
        (e["installation"], e["sensor_id"], e["column"], e["to"]) for e in a.details["fix"]
    ] == [
        ("CDB002", twin2, "Prod", 0),
        ("CDBA01", twin2, "Prod", 0),
        ("CDBZ01", twin2, "Prod", 0),
    ]
    assert first.sent and len(srv.messages) == 1

    # 2. a new workbook with PV counted in Network on CDB004 and a reversed PV on CDB003
    fleet.apply_faults(Faults.parse(f"{meters},pvinnetwork=CDB004,reversed={pv3}", now=fleet.now))
    warnings = import_rows(store, fleet, fleet.config_rows(), tmp_path / "v2.xlsx")
    # imported anyway (the real fleet has them), with one warning per installation
    assert [w.split(":")[1].strip() for w in warnings] == ["CDB004", "CDBZ01"]
    assert "PV and PV- counted in Network" in warnings[0]
    assert "CDB004 / PV and CDB004 / PV- counted in Network" in warnings[1]
    assert all(w.startswith("warning: ") for w in warnings)
    lint = {i["installation_id"]: i["lint"] for i in installations_config(store)["installations"]}
    assert len(lint["CDB004"]) == 1 and lint["CDB003"] == [] and len(lint["CDBZ01"]) == 1

    second = run_alerts(store, settings, now_ts=fleet.now + 60)
    found = {a.alert_id.rsplit(":", 1)[0]: a for a in second.found}
    assert sorted(found) == ["sign:CDB002", "sign:CDB003", "sign:CDB004"]  # groups folded
    pv_in_net = found["sign:CDB004"]
    assert pv_in_net.details["cons_negative"] > 0 and pv_in_net.details["min_cons_w"] < -500
    assert {(e["installation"], e["sensor_id"], e["column"], e["from"], e["to"])
            for e in pv_in_net.details["fix"]} == {
        ("CDB004", pv4, "Network", -1, 0), ("CDB004", twin4, "Network", 1, 0),
        ("CDBZ01", pv4, "Network", -1, 0), ("CDBZ01", twin4, "Network", 1, 0),
    }  # fmt: skip
    # the fixed day's energy is the healthy one: consumption back above 0
    kwh = pv_in_net.details["fix_kwh"]
    assert kwh["cons"] > 3 and pv_in_net.details["kwh_now"]["cons"] < kwh["cons"] - 5
    assert kwh["prod"] == pv_in_net.details["kwh_now"]["prod"] < -5
    assert pv_in_net.details["also_in"] == ["CDBZ01"]
    reversed_pv = found["sign:CDB003"]
    assert reversed_pv.details["max_prod_w"] > 500  # the reversed PV "produces" kW by day
    assert reversed_pv.details["flip_sensor"] == pv3
    assert reversed_pv.details["also_in"] == ["CDBA02", "CDBZ01"]
    # CDB002 is unchanged and was sent a minute ago: not sent again
    assert [x.alert_id for x in second.suppressed] == ["sign:CDB002:2026-06-20"]
    assert sorted(x.alert_id for x in second.to_send) == [
        "sign:CDB003:2026-06-20",
        "sign:CDB004:2026-06-20",
    ]
    (_, msg) = srv.messages
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert max(len(line) for line in text.splitlines()) <= 100
    assert f"blank Network of PV (sensor {pv4})" in html
    assert f"flip the sign of PV (sensor {pv3}) in Prod (+1 → -1)" in html
    assert f"(sensor {pv4})" in text and f"(sensor {twin4})" in text

    # 3. the administrator applies the fixes and imports again: everything resolves
    fixed = apply_fixes(fleet.config_rows(), second.found)
    assert import_rows(store, fleet, fixed, tmp_path / "v3.xlsx") == []
    third = run_alerts(store, settings, now_ts=fleet.now + 120)
    assert third.found == [] and third.to_send == []
    assert sorted(x.alert_id for x in third.resolved) == [
        "sign:CDB002:2026-06-20",
        "sign:CDB003:2026-06-20",
        "sign:CDB004:2026-06-20",
    ]
    page = {x["alert_id"]: x["status"] for x in alerts_list(store)}
    assert set(page.values()) == {"resolved"} and len(page) == 3
    assert len(srv.messages) == 2  # resolving sends nothing
