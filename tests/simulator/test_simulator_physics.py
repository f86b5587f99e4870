"""Physics: PV follows the sun over Brussels, energies are plausible, signs are right."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from astral import LocationInfo
from astral.sun import sun
from hypothesis import given, settings
from hypothesis import strategies as st

from vde.simulator import Fleet

BRUSSELS = LocationInfo("Brussels", "Belgium", "Europe/Brussels", 50.85, 4.35)
WINTER = int(datetime(2026, 11, 20, tzinfo=UTC).timestamp())
SUMMER = int(datetime(2026, 6, 20, tzinfo=UTC).timestamp())


def _fleet(day0: int) -> Fleet:
    return Fleet.generate(homes=20, seed=11, start_ts=day0 - 86400, now_ts=day0 + 2 * 86400)


def _counter_at(fleet: Fleet, sensor_id: str, grid: np.ndarray) -> np.ndarray:
    ts, c, _ = fleet.counter_truth(sensor_id, int(grid[0]) - 3600, int(grid[-1]) + 3600)
    return np.interp(grid, ts, c)


@pytest.mark.parametrize("day0", [WINTER, SUMMER])
def test_pv_is_zero_at_night_and_positive_at_noon(day0):
    fleet = _fleet(day0)
    times = sun(BRUSSELS.observer, date=datetime.fromtimestamp(day0, UTC).date())
    sunrise, sunset = int(times["sunrise"].timestamp()), int(times["sunset"].timestamp())
    pv = [s for s in fleet.sensors if s.function == "PV"]
    assert pv
    for s in pv:
        night1 = fleet.energy_truth(s.sensor_id, day0, sunrise - 1800)
        night2 = fleet.energy_truth(s.sensor_id, sunset + 1800, day0 + 86400)
        day = fleet.energy_truth(s.sensor_id, sunrise, sunset)
        assert night1 == 0.0 and night2 == 0.0
        assert day > 0
    for s in (s for s in fleet.sensors if s.function == "PV-"):
        # the inverter's standby draw: only at night, a few W
        night = fleet.energy_truth(s.sensor_id, day0, sunrise - 1800)
        assert 0 < night / ((sunrise - 1800 - day0) / 3600) < 10
        assert fleet.energy_truth(s.sensor_id, sunrise + 3600, sunset - 3600) == 0.0


def _daily(fleet: Fleet, day0: int) -> tuple[np.ndarray, np.ndarray]:
    """Per home: (consumption, production) over one day [Wh], by the workbook signs."""
    cons, prod = [], []
    for home in fleet.homes:
        e_tot = e_prod = 0.0
        for s in fleet.sensors_of(home):
            e = fleet.energy_truth(s.sensor_id, day0, day0 + 86400)
            assert e >= 0
            e_tot += s.net * e
            e_prod += s.prod * e
        cons.append(e_tot - e_prod)
        prod.append(e_prod)
    return np.asarray(cons), np.asarray(prod)


def test_daily_energies_are_plausible():
    cons_w, prod_w = _daily(_fleet(WINTER), WINTER)
    cons_s, prod_s = _daily(_fleet(SUMMER), SUMMER)
    for cons, prod in ((cons_w, prod_w), (cons_s, prod_s)):
        assert np.all((cons > 3_000) & (cons < 25_000)), cons
        assert np.all((prod > -22_000) & (prod <= 0)), prod
        assert 0.3 < np.mean(prod < 0) < 0.7  # about half the homes have PV
    assert np.median(cons_w) > np.median(cons_s)  # heating season
    pv = prod_s < 0
    assert np.median(prod_s[pv]) < 2 * np.median(prod_w[pv])  # more sun in June
    assert prod_s.min() < -10_000


def test_signs_give_consumption_positive_and_production_negative_every_block():
    fleet = _fleet(SUMMER)
    grid = np.arange(SUMMER, SUMMER + 86400 + 1, 256)
    exporting = 0
    for home in fleet.homes:
        tot = np.zeros(len(grid) - 1)
        prod = np.zeros(len(grid) - 1)
        for s in fleet.sensors_of(home):
            e = np.diff(_counter_at(fleet, s.sensor_id, grid))
            tot += s.net * e
            prod += s.prod * e
        cons = tot - prod
        # 256-s energies from points interpolated at the block bounds: exact up to the
        # interpolation inside one step of a few seconds.
        assert prod.max() <= 1e-9
        assert cons.min() >= -0.5, (home, cons.min())
        exporting += bool((tot < 0).any())
    assert exporting >= 3  # PV homes inject into the grid at noon


def test_energy_truth_matches_interpolated_counters():
    fleet = _fleet(WINTER)
    s = fleet.sensors[0]
    grid = np.arange(WINTER, WINTER + 7200, 8)
    c = _counter_at(fleet, s.sensor_id, grid)
    for i, j in ((0, 1), (3, 400), (10, 899)):
        e = fleet.energy_truth(s.sensor_id, int(grid[i]), int(grid[j]))
        assert e == pytest.approx(c[j] - c[i], abs=1e-9)


def test_points_are_irregular_and_counters_rounded():
    fleet = _fleet(WINTER)
    for s in fleet.sensors[:12]:
        ts, c, rid = fleet.counter_truth(s.sensor_id, WINTER, WINTER + 86400)
        steps = np.diff(ts)
        assert steps.min() >= 1 and np.all(np.diff(c) >= 0)
        np.testing.assert_allclose(np.round(c, 3), c, atol=1e-9)
        if s.meter == "clamp":
            assert steps.max() <= 30 and len(np.unique(steps)) > 10
        else:
            np.testing.assert_allclose(np.diff(c), s.pulse_wh)  # one point per pulse


ADD_FLEET = Fleet.generate(homes=3, seed=13, start_ts=WINTER - 86400, now_ts=WINTER + 86400)


@settings(max_examples=60, deadline=None)
@given(
    a=st.integers(WINTER - 90000, WINTER + 80000),
    d1=st.integers(0, 20000),
    d2=st.integers(0, 20000),
    i=st.integers(0, 50),
)
def test_energy_truth_is_additive_and_non_negative(a, d1, d2, i):
    s = ADD_FLEET.sensors[i % len(ADD_FLEET.sensors)]
    b, c = a + d1, a + d1 + d2
    whole = ADD_FLEET.energy_truth(s.sensor_id, a, c)
    parts = ADD_FLEET.energy_truth(s.sensor_id, a, b) + ADD_FLEET.energy_truth(s.sensor_id, b, c)
    assert whole >= 0
    assert whole == pytest.approx(parts, abs=1e-6)
