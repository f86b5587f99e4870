"""The pure checks, on small hand-computed arrays and with hypothesis."""

from __future__ import annotations

from datetime import date

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from vde.alerts.checks import (
    day_slots,
    merge_periods,
    missing_periods,
    present_mask,
    sign_check,
)
from vde.models import SensorRow
from vde.timeutil import local_day_bounds

T0 = 1_780_000_000 - 1_780_000_000 % 8


def row(sid: str, net: int, prod: int, inst: str = "H") -> SensorRow:
    return SensorRow(inst, sid, "t" * 32, "FL1", sid.upper(), net, prod, 0, 0, 0)


def test_day_slots_count_23_24_25_hour_days():
    counts = {}
    for d in (date(2026, 3, 29), date(2026, 6, 1), date(2026, 10, 25)):
        start, end = local_day_bounds(d)
        slots = day_slots(start, end)
        counts[d.isoformat()] = slots.size
        assert slots[0] == start and slots[-1] == end - 8
        assert np.all(np.diff(slots) == 8)
    assert counts == {"2026-03-29": 10350, "2026-06-01": 10800, "2026-10-25": 11250}


def test_present_mask_hand_computed():
    slots = T0 + 8 * np.arange(6)
    ts = np.array([T0 - 8, T0, T0 + 16, T0 + 40, T0 + 48])
    assert present_mask(slots, ts).tolist() == [True, False, True, False, False, True]
    assert present_mask(slots, np.empty(0, np.int64)).tolist() == [False] * 6


def test_merge_periods_hand_computed():
    slots = T0 + 8 * np.arange(8)
    mask = np.array([1, 1, 0, 0, 1, 0, 1, 1], bool)
    assert merge_periods(slots, mask) == [(T0, T0 + 16), (T0 + 32, T0 + 40), (T0 + 48, T0 + 64)]
    assert merge_periods(slots, np.zeros(8, bool)) == []


@given(st.lists(st.booleans(), min_size=1, max_size=200))
def test_merge_periods_covers_exactly_the_true_slots(flags):
    slots = T0 + 8 * np.arange(len(flags))
    periods = merge_periods(slots, np.array(flags))
    covered = np.zeros(len(flags), bool)
    for a, b in periods:
        assert a < b
        covered[(a - T0) // 8 : (b - T0) // 8] = True
    assert covered.tolist() == flags
    # periods are maximal: two of them never touch
    assert all(p[1] < q[0] for p, q in zip(periods, periods[1:], strict=False))


def test_missing_periods_name_the_sensor_without_raw():
    slots = T0 + 8 * np.arange(10)
    present = np.array([1, 1, 0, 0, 1, 1, 1, 0, 1, 1], bool)
    gaps = {"mains": [(T0 + 16, T0 + 32)], "pv": [(T0 + 56, T0 + 64), (T0 + 500, T0 + 600)]}
    got = missing_periods(slots, present, gaps)
    assert [(p.start_ts, p.end_ts, p.sensors) for p in got] == [
        (T0 + 16, T0 + 32, ("mains",)),
        (T0 + 56, T0 + 64, ("pv",)),
    ]
    # a period where every sensor had raw (power not computed) names nobody
    assert missing_periods(slots, present, {})[0].sensors == ()


def test_sign_check_counts_and_extremes():
    p_cons = np.array([100, -5, -30, 200, 50.0])
    p_prod = np.array([-500, 5, 40, 0, -80.0])
    night = np.array([False, False, False, True, True])
    chk = sign_check(p_cons, p_prod, night, sign_threshold_w=10, night_threshold_w=10)
    assert (chk.cons_negative, chk.prod_positive, chk.night_production) == (1, 1, 1)
    assert (chk.min_cons_w, chk.max_prod_w, chk.max_night_prod_w) == (-30, 40, 80)
    assert not chk.sign_ok and not chk.coherent()
    ok = sign_check(p_cons[:2], p_prod[:2], night[:2], sign_threshold_w=10, night_threshold_w=10)
    assert ok.coherent() and ok.min_cons_w is None


def test_standby_allowance_and_night_production_are_one_sided():
    """Positive production up to the standby allowance is an inverter's night draw; night
    production means negative production (as the workbook's signs make it)."""
    p_prod = np.array([25.0, 29.0, 31.0, -5.0, -40.0])
    night = np.ones(5, bool)
    chk = sign_check(
        np.full(5, 100.0), p_prod, night, sign_threshold_w=10, night_threshold_w=10, standby_w=30
    )
    assert (chk.prod_positive, chk.max_prod_w) == (1, 31.0)
    assert (chk.night_production, chk.max_night_prod_w) == (1, 40.0)
