"""counter_to_power: hand-computed cases and hypothesis properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vde.processing.power import counter_to_power, energy_wh

T0 = 1_700_000_000  # a multiple of 8


def _cp(ts, c, rid=None, **kw):
    ts = np.asarray(ts, dtype=np.int64)
    rid = np.zeros(len(ts), np.int64) if rid is None else np.asarray(rid, np.int64)
    return counter_to_power(ts, np.asarray(c, dtype=np.float64), rid, **kw)


def test_regular_points_on_grid():
    # 1 Wh every 8 s is 450 W; 2 Wh per 8 s is 900 W
    r = _cp([T0, T0 + 8, T0 + 16, T0 + 24], [100.0, 101.0, 102.0, 104.0])
    assert r.raw.ts.tolist() == [T0, T0 + 8, T0 + 16]
    assert r.raw.power_w.tolist() == pytest.approx([450.0, 450.0, 900.0])
    assert r.gaps == []
    assert r.last == (T0 + 24, 104.0, 0)
    assert r.points == 4


def test_irregular_points_interpolate_linearly():
    # one segment of 16 s carrying 2 Wh: 1 Wh per slot
    r = _cp([T0 + 4, T0 + 20], [0.0, 2.0])
    # only [T0+8, T0+16) is fully inside [T0+4, T0+20]
    assert r.raw.ts.tolist() == [T0 + 8]
    assert r.raw.power_w.tolist() == pytest.approx([450.0])
    # resume point: the last grid point covered, with the interpolated counter
    assert r.last == (T0 + 16, pytest.approx(1.5), 0)


def test_slot_spanning_two_segments():
    # points at 0, 2, 8: 1 Wh in 2 s then 1 Wh in 6 s -> slot [0, 8) holds 2 Wh
    r = _cp([T0, T0 + 2, T0 + 8], [0.0, 1.0, 2.0])
    assert r.raw.ts.tolist() == [T0]
    assert r.raw.power_w.tolist() == pytest.approx([900.0])


def test_short_gap_is_bridged_by_spreading_energy():
    # 100 s without points, 10 Wh: energy spread evenly over the grid slots
    r = _cp([T0, T0 + 96], [0.0, 12.0], gap_threshold_s=200)
    assert len(r.raw) == 12
    assert np.allclose(r.raw.power_w, 450.0)
    assert r.gaps == []


def test_long_gap_stays_missing_never_zero():
    ts = [T0, T0 + 8, T0 + 16, T0 + 16 + 5000, T0 + 16 + 5008]
    c = [0.0, 1.0, 2.0, 50.0, 51.0]
    r = _cp(ts, c, gap_threshold_s=4000)
    assert r.raw.ts.tolist() == [T0, T0 + 8, T0 + 5016]
    assert np.all(r.raw.power_w > 0)
    assert r.gaps == [(T0 + 16, T0 + 5016)]
    # the 48 Wh of the gap are not attributed to any slot
    assert energy_wh(r.raw) == pytest.approx(3.0)


def test_counter_reset_breaks_the_series():
    ts = [T0, T0 + 8, T0 + 16, T0 + 24, T0 + 32]
    c = [1000.0, 1001.0, 3.0, 4.0, 5.0]  # reset between T0+8 and T0+16
    r = _cp(ts, c)
    assert r.raw.ts.tolist() == [T0, T0 + 16, T0 + 24]
    assert r.raw.power_w.tolist() == pytest.approx([450.0, 450.0, 450.0])
    assert r.gaps == [(T0 + 8, T0 + 16)]
    assert r.resets == 1


def test_rid_change_breaks_the_series_even_when_counter_grows():
    ts = [T0, T0 + 8, T0 + 16, T0 + 24]
    c = [10.0, 11.0, 500.0, 501.0]
    r = _cp(ts, c, rid=[1, 1, 2, 2])
    assert r.raw.ts.tolist() == [T0, T0 + 16]
    assert np.max(r.raw.power_w) == pytest.approx(450.0)
    assert r.last == (T0 + 24, 501.0, 2)


def test_unsorted_and_duplicate_points():
    r = _cp([T0 + 16, T0, T0 + 8, T0 + 8], [2.0, 0.0, 0.5, 1.0])
    assert r.raw.ts.tolist() == [T0, T0 + 8]
    assert r.raw.power_w.tolist() == pytest.approx([450.0, 450.0])


def test_empty_and_single_point():
    r = _cp([], [])
    assert len(r.raw) == 0 and r.last is None and r.gaps == []
    r = _cp([T0 + 3], [7.0])
    assert len(r.raw) == 0 and r.last == (T0 + 3, 7.0, 0)


def test_prev_resumes_exactly():
    ts = np.array([T0 + 3, T0 + 13, T0 + 29, T0 + 35, T0 + 50])
    c = np.array([0.0, 2.0, 5.0, 6.0, 9.0])
    one = _cp(ts, c)
    a = _cp(ts[:3], c[:3])
    assert a.last[0] == T0 + 24  # grid point before the last point T0+29
    b = _cp(ts[ts >= a.last[0]], c[ts >= a.last[0]], prev=a.last)
    assert np.concatenate([a.raw.ts, b.raw.ts]).tolist() == one.raw.ts.tolist()
    assert np.allclose(np.concatenate([a.raw.power_w, b.raw.power_w]), one.raw.power_w)


def test_prev_after_long_gap_reports_the_gap():
    a = _cp([T0, T0 + 16], [0.0, 2.0])
    b = _cp([T0 + 16 + 20000, T0 + 16 + 20016], [9.0, 11.0], prev=a.last)
    assert b.gaps == [(T0 + 16, T0 + 16 + 20000)]
    assert b.raw.ts.tolist() == [T0 + 20016, T0 + 20024]


def test_prev_with_no_new_points():
    a = _cp([T0, T0 + 16], [0.0, 2.0])
    b = _cp([T0 + 16], [2.0], prev=a.last)
    assert len(b.raw) == 0 and b.last == a.last and b.points == 0


# --- properties ---------------------------------------------------------------------------


@st.composite
def counter_points(draw, max_points: int = 120):
    n = draw(st.integers(2, max_points))
    dts = draw(st.lists(st.integers(1, 900), min_size=n - 1, max_size=n - 1))
    incs = draw(
        st.lists(
            st.floats(0, 50, allow_nan=False).map(lambda x: round(x, 3)),
            min_size=n - 1,
            max_size=n - 1,
        )
    )
    start = T0 + draw(st.integers(0, 15))
    ts = start + np.concatenate(([0], np.cumsum(dts))).astype(np.int64)
    c = 1000.0 + np.concatenate(([0.0], np.cumsum(incs)))
    return ts, c


@settings(max_examples=200, deadline=None)
@given(counter_points(), st.data())
def test_energy_conserved_over_any_window(points, data):
    ts, c = points
    r = _cp(ts, c, gap_threshold_s=10_000)  # every segment bridged: one run
    assert r.gaps == []
    n = len(r.raw)
    if n == 0:
        return
    assert np.all(np.diff(r.raw.ts) == 8) and np.all(r.raw.ts % 8 == 0)
    assert np.all(r.raw.power_w >= 0)
    i = data.draw(st.integers(0, n - 1))
    j = data.draw(st.integers(i + 1, n))
    a, b = int(r.raw.ts[i]), int(r.raw.ts[j - 1]) + 8
    e_slots = float(np.sum(r.raw.power_w[i:j]) * 8 / 3600)
    e_counter = float(np.interp(b, ts, c) - np.interp(a, ts, c))
    assert e_slots == pytest.approx(e_counter, rel=1e-3, abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(counter_points(), st.lists(st.integers(1, 119), max_size=4), st.integers(200, 2000))
def test_split_and_resume_equals_one_shot(points, cuts, threshold):
    ts, c = points
    rid = np.zeros(len(ts), np.int64)
    one = counter_to_power(ts, c, rid, gap_threshold_s=threshold)
    parts_ts, parts_p = [], []
    prev = None
    lo = 0
    for cut in sorted({k for k in cuts if k < len(ts)} | {len(ts)}):
        # a resumed fetch starts at the stored last ts (inclusive), as the sync does
        sel = np.arange(len(ts)) < cut
        if prev is not None:
            sel &= ts >= prev[0]
        else:
            sel &= np.arange(len(ts)) >= lo
        r = counter_to_power(ts[sel], c[sel], rid[sel], gap_threshold_s=threshold, prev=prev)
        parts_ts.append(r.raw.ts)
        parts_p.append(r.raw.power_w)
        prev = r.last if r.last is not None else prev
    got_ts = np.concatenate(parts_ts)
    got_p = np.concatenate(parts_p)
    assert got_ts.tolist() == one.raw.ts.tolist()
    assert np.allclose(got_p, one.raw.power_w, rtol=1e-9, atol=1e-6)


@settings(max_examples=100, deadline=None)
@given(counter_points(), st.lists(st.integers(0, 119), max_size=5), st.integers(100, 1000))
def test_breaks_never_make_negative_or_huge_power(points, breaks, threshold):
    ts, c = points
    c = c.copy()
    rid = np.zeros(len(ts), np.int64)
    for k in breaks:
        if 0 < k < len(ts):
            if k % 2:
                c[k:] -= c[k] - 1.0  # counter reset to ~1 Wh
            else:
                rid[k:] += 1
    r = counter_to_power(ts, c, rid, gap_threshold_s=threshold)
    assert np.all(r.raw.power_w >= 0)
    # no slot carries more than the largest per-second rate of any valid segment
    seg_rate = np.diff(c) / np.diff(ts)
    ok = (np.diff(c) >= 0) & (rid[1:] == rid[:-1])
    cap = float(seg_rate[ok].max()) * 3600 if ok.any() else 0.0
    assert np.all(r.raw.power_w <= cap + 1e-6)
    # emitted slots and gaps never overlap
    for g0, g1 in r.gaps:
        assert g0 % 8 == 0 and g1 % 8 == 0 and g1 > g0
        assert not np.any((r.raw.ts >= g0) & (r.raw.ts < g1))
