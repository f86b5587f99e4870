"""The wiring fault switches seen on real homes: standby draw, PV in Network, reversed signs.

``standby`` changes what the meters measure (served over real HTTP, the ground truth
follows); ``pvinnetwork`` and ``reversed`` change only the workbook rows the fleet writes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from simhelpers import NOW, START, decode, get_block, get_sync

from vde.cli import cli
from vde.processing.workbook import read_workbook
from vde.simulator import Faults, Fleet, serve_in_thread
from vde.simulator.profiles import solar_position

VDE = str(Path(sys.executable).with_name("vde"))
SEED = 5  # CDB002 and CDB004 have PV and a PV- twin, CDB003 PV only, CDB001 no PV


@pytest.fixture
def fleet() -> Fleet:
    return Fleet.generate(homes=4, seed=SEED, start_ts=START, now_ts=NOW)


def sid(fleet: Fleet, home: str, function: str) -> str:
    return next(s.sensor_id for s in fleet.sensors_of(home) if s.function == function)


def signs(fleet: Fleet) -> dict[tuple[str, str], tuple[int, int, int]]:
    return {(r.installation_id, r.sensor_id): (r.net, r.prod, r.cons) for r in fleet.config_rows()}


def test_the_fleet_has_the_homes_these_tests_rely_on(fleet):
    twins = {h.home_id: (h.pv_kwp > 0, h.pv_twin) for h in fleet.home_specs}
    assert twins == {
        "CDB001": (False, False),
        "CDB002": (True, True),
        "CDB003": (True, False),
        "CDB004": (True, True),
    }


def test_parse_the_three_switches_and_refuse_bad_ones():
    f = Faults.parse("standby=abc:20,pvinnetwork=CDB004,reversed=def,standby=ghi:7.5", now=NOW)
    assert [(s.sensor_id, s.watts) for s in f.standby] == [("abc", 20.0), ("ghi", 7.5)]
    assert f.pvinnetwork == {"CDB004"} and f.reversed == {"def"}
    for spec, msg in [
        ("standby=abc", "expected 2 fields"),
        ("standby=abc:lots", "W must be a number of watts"),
        ("standby=abc:-3", "between 0 and 5000"),
        ("reversed=", "name an installation or a sensor id"),
    ]:
        with pytest.raises(ValueError, match=msg):
            Faults.parse(spec, now=NOW)


def test_unknown_ids_are_refused_when_applied(fleet):
    pv3 = sid(fleet, "CDB003", "PV")
    cases = [
        (Faults(pvinnetwork=frozenset({"CDB999"})), "unknown installation CDB999"),
        (Faults(reversed=frozenset({"f" * 32})), "unknown sensor"),
        (Faults.parse(f"standby={pv3}:20", now=NOW), "homes with a PV- twin: CDB002, CDB004"),
        (Faults.parse(f"standby={sid(fleet, 'CDB001', 'Phase L1')}:20", now=NOW), "not the PV"),
    ]
    for faults, msg in cases:
        with pytest.raises(ValueError, match=msg):
            fleet.apply_faults(faults)


def test_workbook_rows_follow_pvinnetwork_and_reversed(fleet):
    healthy = signs(fleet)
    pv4, pv3 = sid(fleet, "CDB004", "PV"), sid(fleet, "CDB003", "PV")
    mains1 = sid(fleet, "CDB001", "Phase L1")
    fleet.apply_faults(Faults(pvinnetwork=frozenset({"CDB004"}), reversed=frozenset({pv3, mains1})))
    faulty = signs(fleet)
    changed = {k: (healthy[k], v) for k, v in faulty.items() if v != healthy[k]}
    # PV of CDB004 in Network with its Prod sign, in the home and in the community group;
    # CDB003's PV and CDB001's Mains negated in every installation that lists them
    assert changed == {
        ("CDB004", pv4): ((0, -1, 1), (-1, -1, 1)),
        ("CDBZ01", pv4): ((0, -1, 1), (-1, -1, 1)),
        ("CDB003", pv3): ((0, -1, 1), (0, 1, -1)),
        ("CDBA02", pv3): ((0, -1, 1), (0, 1, -1)),
        ("CDBZ01", pv3): ((0, -1, 1), (0, 1, -1)),
        ("CDB001", mains1): ((1, 0, 1), (-1, 0, -1)),
        ("CDBA01", mains1): ((1, 0, 1), (-1, 0, -1)),
        ("CDBZ01", mains1): ((1, 0, 1), (-1, 0, -1)),
    }
    fleet.apply_faults(Faults())
    assert signs(fleet) == healthy  # switching off restores the healthy workbook


def test_standby_draw_is_measured_by_the_pv_twin_and_the_mains(fleet):
    pv, twin = sid(fleet, "CDB004", "PV"), sid(fleet, "CDB004", "PV-")
    mains = sid(fleet, "CDB004", "Mains")
    day0 = NOW - 86400 - NOW % 86400  # a whole UTC day of history
    before = {s: fleet.energy_truth(s, day0, day0 + 86400) for s in (twin, mains)}
    fleet.apply_faults(Faults.parse(f"standby={pv}:20", now=NOW))
    after = {s: fleet.energy_truth(s, day0, day0 + 86400) for s in (twin, mains)}
    # night hours of that day over Brussels, from the simulator's own sun (256-s blocks)
    bids = np.arange(day0, day0 + 86400, 256)
    el, _ = solar_position(bids + 128)
    night_h = float(np.count_nonzero(np.sin(el) <= 0.01)) * 256 / 3600
    assert after[twin] == pytest.approx(20.0 * night_h, rel=0.01)
    spec = fleet.home_specs[3]
    grown = (20.0 - spec.standby_w) * night_h
    assert after[mains] - before[mains] == pytest.approx(grown, rel=0.02)
    # the workbook lists the twin in Prod with PV's opposite sign, as on healthy real homes
    rows = {r.sensor_id: r for r in fleet.config_rows() if r.installation_id == "CDB004"}
    assert (rows[pv].prod, rows[twin].prod, rows[twin].net) == (-1, 1, 0)


def test_standby_draw_is_served_over_http(fleet):
    pv = sid(fleet, "CDB002", "PV")
    twin = fleet.sensor(sid(fleet, "CDB002", "PV-"))
    with serve_in_thread(fleet, faults=Faults.parse(f"standby={pv}:70", now=NOW)) as srv:
        ts, c = [], []
        for b in get_sync(srv.url, twin).json():
            _, t, v = decode(get_block(srv.url, twin, b["rid"], b["lvl"], b["bid"]).content)
            ts.append(t)
            c.append(v)
    t, wh = np.concatenate(ts), np.concatenate(c)
    order = np.argsort(t)
    t, wh = t[order], wh[order]
    # mean power between points two hours apart, in the middle of the last night
    night = (t >= NOW - 86400 - NOW % 86400 + 3600) & (t <= NOW - 86400 - NOW % 86400 + 4 * 3600)
    tn, cn = t[night], wh[night]
    power = (cn[-1] - cn[0]) * 3600 / (tn[-1] - tn[0])
    assert power == pytest.approx(70.0, abs=0.5)


def test_cli_writes_the_faulty_workbook(tmp_path):
    """`vde simulator --faults pvinnetwork=...` writes the workbook with PV in Network."""
    pv = sid(Fleet.generate(homes=4, seed=SEED), "CDB004", "PV")
    path = tmp_path / "fleet.xlsx"
    args = ["simulator", "--homes", "4", "--seed", str(SEED), "--port", "0"]
    args += ["--workbook", str(path)]
    res = CliRunner().invoke(cli, [*args, "--faults", "pvinnetwork=CDB004,reversed=nope"])
    assert res.exit_code == 2 and "unknown sensor nope" in res.output and not path.exists()
    # the real executable: it writes the workbook, then serves until stopped
    proc = subprocess.Popen(
        [VDE, *args, "--faults", "pvinnetwork=CDB004"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(2)]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert lines[0].startswith("workbook: ") and lines[1].startswith("simulator: http://")
    rows = {(r.installation_id, r.sensor_id): r for r in read_workbook(path).rows}
    assert rows[("CDB004", pv)].net == rows[("CDB004", pv)].prod == -1
    assert rows[("CDBZ01", pv)].net == -1
