"""The fleet model: determinism, identities, workbook rows, access and captions."""

from __future__ import annotations

import re
from collections import Counter

from simhelpers import NOW

from vde.simulator import Fleet


def test_same_seed_same_fleet_other_seed_other_fleet():
    a = Fleet.generate(homes=10, seed=5, now_ts=NOW)
    b = Fleet.generate(homes=10, seed=5, now_ts=NOW)
    c = Fleet.generate(homes=10, seed=6, now_ts=NOW)
    assert a.sensors == b.sensors and a.config_rows() == b.config_rows()
    assert [s.sensor_id for s in a.sensors] != [s.sensor_id for s in c.sensors]
    assert a.start_ts == NOW - 30 * 86400 - (NOW - 30 * 86400) % 256


def test_identities_have_the_real_formats():
    fleet = Fleet.generate(homes=57, seed=1, now_ts=NOW)
    ids = [s.sensor_id for s in fleet.sensors]
    tokens = [s.token for s in fleet.sensors]
    assert all(re.fullmatch(r"[0-9a-f]{32}", x) for x in ids + tokens)
    assert len(set(ids)) == len(ids) and len(set(tokens)) == len(tokens)
    assert all(re.fullmatch(r"FL0800\d{4}", s.flm_id) for s in fleet.sensors)
    assert all(re.fullmatch(r"CDB\d{3}", h) for h in fleet.homes)
    assert len({s.flm_id for s in fleet.sensors}) == 57
    # Real-sized: about 200 sensors, every kind of wiring present.
    assert 170 <= len(fleet.sensors) <= 240
    functions = Counter(s.function for s in fleet.sensors)
    for f in ("Mains", "Mains-", "PV", "PV-", "Phase L1", "Phase L3-", "EV", "EV-"):
        assert functions[f] > 0, f
    assert {s.kind for s in fleet.sensors} == {"mains", "pv", "ev"}
    assert Counter(s.meter for s in fleet.sensors)["pulse"] > 0
    pv_homes = {s.home_id for s in fleet.sensors if s.function == "PV"}
    assert 0.3 * 57 <= len(pv_homes) <= 0.7 * 57
    assert {h.phases for h in fleet.home_specs} == {1, 2, 3}


def test_twins_have_opposite_signs():
    fleet = Fleet.generate(homes=30, seed=2, now_ts=NOW)
    by_name = {(s.home_id, s.function): s for s in fleet.sensors}
    twins = 0
    for (home, function), s in by_name.items():
        if function.endswith("-") and function != "PV-":
            fwd = by_name[(home, function[:-1])]
            assert (s.net, s.cons, s.ve) == (-fwd.net, -fwd.cons, -fwd.ve)
            twins += 1
    assert twins > 10


def test_config_rows_cover_homes_and_groups():
    fleet = Fleet.generate(homes=12, seed=3, now_ts=NOW)
    rows = fleet.config_rows()
    by_inst: dict[str, set[str]] = {}
    for r in rows:
        by_inst.setdefault(r.installation_id, set()).add(r.sensor_id)
        assert r.start_ts == fleet.start_ts
    assert set(by_inst) == set(fleet.homes) | set(fleet.groups)
    for home in fleet.homes:
        assert by_inst[home] == {s.sensor_id for s in fleet.sensors_of(home)}
    for group, members in fleet.groups.items():
        assert by_inst[group] == set().union(*(by_inst[h] for h in members))
    assert set(fleet.groups) == {"CDBA01", "CDBA02", "CDBZ01"}
    assert set(fleet.groups["CDBZ01"]) == set(fleet.homes)
    # Every sensor appears under two installations or more; no pair repeats.
    per_sensor = Counter(r.sensor_id for r in rows)
    assert min(per_sensor.values()) >= 2
    assert len({(r.installation_id, r.sensor_id) for r in rows}) == len(rows)
    row = next(r for r in rows if r.sensor_id == fleet.sensors[0].sensor_id)
    assert fleet.sensors[0].token not in repr(row)


def test_access_and_captions():
    fleet = Fleet.generate(homes=12, seed=3, now_ts=NOW)
    access = fleet.access_rows()
    seen: dict[str, set[str]] = {}
    for login, inst in access:
        seen.setdefault(login, set()).add(inst)
    for home in fleet.homes:
        assert home in seen[home] and "CDBZ01" in seen[home]
        assert 2 <= len(seen[home]) <= 3
    unequipped = set(seen) - set(fleet.homes)
    assert unequipped and all(login in seen[login] for login in unequipped)
    captions = fleet.captions()
    assert set(fleet.groups) < set(captions)  # one captioned group has no sensors yet


def test_custom_groups():
    homes = [f"CDB{i:03d}" for i in range(1, 5)]
    fleet = Fleet.generate(homes=4, seed=1, now_ts=NOW, groups={"CDBA07": homes[:2]})
    assert fleet.groups == {"CDBA07": homes[:2]}
    assert {r.installation_id for r in fleet.config_rows()} == set(homes) | {"CDBA07"}
