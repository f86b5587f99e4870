"""Periods, resolution choice and exact energy, on hand-made numbers."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vde.models import PowerSeries
from vde.timeutil import local_day_bounds
from vde.web.series import (
    MAX_POINTS,
    MAX_RANGE_S,
    bucket_grid,
    choose_resolution,
    energy_wh,
    expected_slots,
    period_bounds,
    totals_kwh,
)

from .conftest import DAY, write_power


@pytest.mark.parametrize(
    ("period", "day", "hours"),
    [
        ("day", date(2026, 3, 29), 23),
        ("day", date(2026, 10, 25), 25),
        ("week", date(2026, 3, 25), 7 * 24 - 1),  # Monday 23 .. Sunday 29 March
        ("month", date(2026, 2, 10), 28 * 24),
        ("month", date(2026, 10, 1), 31 * 24 + 1),
        ("year", date(2026, 7, 1), 365 * 24),
    ],
)
def test_periods_are_local_calendar_periods(period, day, hours):
    start, end = period_bounds(period, day)
    assert end - start == hours * 3600


def test_weeks_start_on_monday():
    start, _ = period_bounds("week", date(2026, 6, 18))  # a Thursday
    assert start == local_day_bounds(date(2026, 6, 15))[0]


@settings(deadline=None)
@given(st.integers(1, MAX_RANGE_S))
def test_resolution_keeps_every_series_under_the_limit(span):
    res = choose_resolution(0, span)
    assert len(bucket_grid(7, 7 + span, res)) <= MAX_POINTS


def test_day_buckets_start_at_local_midnight_across_dst():
    start, end = period_bounds("month", date(2026, 3, 1))
    grid = bucket_grid(start, end, 86400)
    assert len(grid) == 31
    assert np.diff(grid).tolist().count(23 * 3600) == 1


def test_totals_rates():
    e = {"n": 10800.0, "cons": 10000.0, "prod": -8000.0, "import": 4000.0, "export": 2000.0}
    t = totals_kwh(e, 10800)
    assert t["consumed_kwh"] == 10 and t["produced_kwh"] == 8 and t["self_consumed_kwh"] == 6
    assert t["self_consumption"] == 0.75 and t["self_sufficiency"] == 0.6
    assert t["coverage"] == 1 and t["complete"] is True
    none = totals_kwh({"n": 100.0, "cons": 0.0, "prod": 0.0, "import": 0.0, "export": 0.0}, 100)
    assert none["self_consumption"] is None and none["self_sufficiency"] is None
    assert none["produced_kwh"] == 0 and str(none["produced_kwh"]) == "0.0"  # never -0.0


def test_no_data_is_null_never_zero_kwh():
    t = totals_kwh({"n": 0.0, "cons": 0.0, "prod": 0.0, "import": 0.0, "export": 0.0}, 10800)
    for k in ("consumed_kwh", "produced_kwh", "imported_kwh", "exported_kwh", "self_consumption"):
        assert t[k] is None, k
    assert t["coverage"] == 0 and t["complete"] is False


def test_rates_hidden_on_a_mostly_missing_period():
    """42 % of a day with data: kWh are shown (with their coverage), rates are not, because
    they would describe a few hours, not the day."""
    e = {"n": 4536.0, "cons": 3000.0, "prod": -500.0, "import": 2500.0, "export": 0.0}
    t = totals_kwh(e, 10800)
    assert t["consumed_kwh"] == 3 and t["coverage"] == 0.42 and t["complete"] is False
    assert t["self_consumption"] is None and t["self_sufficiency"] is None


def test_expected_slots_stop_at_now():
    start = local_day_bounds(DAY)[0]
    assert expected_slots(start, start + 86400, now=start + 3600) == 450
    assert expected_slots(start, start + 86400, now=start + 10 * 86400) == 10800
    assert expected_slots(start, start + 86400, now=start - 5) == 0


@pytest.fixture(scope="module")
def power_store(tmp_path_factory):
    """Two days of irregular 8-s power (random values, random gaps) and their rollups."""
    from vde.storage import open_store

    path = tmp_path_factory.mktemp("series") / "vde.db"
    s = open_store(f"sqlite:///{path}")
    s.create_schema()
    start = local_day_bounds(DAY)[0] - 86400
    rng = np.random.default_rng(7)
    ts = np.arange(start, start + 2 * 86400, 8, dtype=np.int64)
    ts = ts[rng.random(len(ts)) > 0.2]
    cons = rng.uniform(0, 3000, len(ts))
    prod = -rng.uniform(0, 4000, len(ts))
    write_power(s, "X", PowerSeries(ts, cons, prod, cons + prod))
    yield s, start
    s.close()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(a=st.integers(0, 2 * 86400), b=st.integers(0, 2 * 86400))
def test_energy_of_any_range_equals_the_sum_of_8s_power(power_store, a, b):
    s, base = power_store
    start, end = base + min(a, b), base + max(a, b) + 1
    e = energy_wh(s, "X", start, end)
    p = s.read_power("X", start, end)
    assert e["cons"] == pytest.approx(p.p_cons.sum() * 8 / 3600, abs=1e-6, rel=1e-9)
    assert e["prod"] == pytest.approx(p.p_prod.sum() * 8 / 3600, abs=1e-6, rel=1e-9)
    assert e["import"] == pytest.approx(p.p_tot.clip(0).sum() * 8 / 3600, abs=1e-6, rel=1e-9)
    assert e["export"] == pytest.approx(-p.p_tot.clip(None, 0).sum() * 8 / 3600, abs=1e-6, rel=1e-9)
    assert e["n"] == len(p)  # slots with data, the coverage's numerator


def test_totals_carry_the_estimated_share_of_their_slots():
    e = {"n": 400.0, "estimated": 100.0, "cons": 1.0, "prod": 0.0, "import": 1.0, "export": 0.0}
    assert totals_kwh(e, 800)["estimated"] == 0.25
    assert totals_kwh({**e, "n": 0.0, "estimated": 0.0}, 800)["estimated"] is None
