"""The pure checks, on small hand-computed arrays and with hypothesis."""

from __future__ import annotations

from datetime import date

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from vde.alerts.checks import (
    day_slots,
    find_sign_flip,
    merge_periods,
    missing_periods,
    present_mask,
    sign_check,
)
from vde.models import RawSeries, SensorRow
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


def _house(n: int = 400, *, pv_prod_sign: int = -1, mains_net: int = 1, phase_pv: bool = False):
    """Mains (net) + PV (prod) over n slots; the 'sun' is up on the middle half."""
    ts = T0 + 8 * np.arange(n)
    night = np.ones(n, bool)
    night[n // 4 : 3 * n // 4] = False
    cons = np.full(n, 300.0)
    pv = np.where(night, 0.0, 2000.0)
    if phase_pv:
        pv = cons * 0.5  # measures a consumption phase, day and night
        mains = cons
    else:
        mains = cons - pv
    rows = [row("mains", mains_net, 0), row("pv", 0, pv_prod_sign)]
    raw = {"mains": RawSeries(ts, mains), "pv": RawSeries(ts, pv)}
    return rows, raw, ts, night


def _flip(rows, raw, ts, night):
    return find_sign_flip(
        rows, raw, int(ts[0]), int(ts[-1]) + 8, night, sign_threshold_w=10, night_threshold_w=10
    )


def test_flip_search_names_the_pv_sensor_with_the_wrong_prod_sign():
    res = _flip(*_house(pv_prod_sign=+1))
    assert not res.baseline.sign_ok
    assert res.candidates == ("pv",) and res.sensor_id == "pv"


def test_flip_search_names_the_mains_sensor_with_the_wrong_network_sign():
    res = _flip(*_house(mains_net=-1))
    assert res.sensor_id == "mains"


def test_flip_search_finds_nothing_for_a_coherent_day_or_a_miswired_pv():
    ok = _flip(*_house())
    assert ok.baseline.coherent() and ok.candidates == ()
    bad = _flip(*_house(phase_pv=True))
    assert bad.baseline.night_production > 0 and bad.candidates == ()
    assert bad.sensor_id is None


def test_flip_search_respects_start_ts_like_installation_power():
    rows, raw, ts, night = _house(pv_prod_sign=+1)
    # the PV sensor joined this house at noon (it measured another inverter before): its
    # row counts from then on, its readings before do not reach this house's mains
    late = ts[len(ts) // 2]
    pv = raw["pv"].power_w
    raw = {"mains": RawSeries(ts, np.where(ts < late, 300.0, 300.0 - pv)), "pv": raw["pv"]}
    rows = [rows[0], SensorRow(**{**rows[1].__dict__, "start_ts": int(late)})]
    res = _flip(rows, raw, ts, night)
    assert res.baseline.prod_positive == int(np.count_nonzero(~night & (ts >= late)))
    assert res.sensor_id == "pv"


@given(st.sampled_from([-1, 1]), st.sampled_from([-1, 1]), st.integers(1, 3))
def test_flipping_the_wrong_sign_back_is_always_a_candidate(pv_sign, mains_sign, scale):
    """Property: a house with exactly one wrong sign has that sensor among the candidates."""
    wrong = {"pv": pv_sign != -1, "mains": mains_sign != 1}
    rows, raw, ts, night = _house(100 * scale, pv_prod_sign=pv_sign, mains_net=mains_sign)
    res = _flip(rows, raw, ts, night)
    if sum(wrong.values()) == 1:
        (bad,) = [k for k, v in wrong.items() if v]
        assert bad in res.candidates
    elif not any(wrong.values()):
        assert res.baseline.coherent() and res.candidates == ()
    else:  # two wrong signs: no single flip can fix both
        assert res.candidates == ()
