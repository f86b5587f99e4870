"""counter_to_power: hand-computed cases and hypothesis properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vde.processing.power import counter_to_power, energy_wh, spread_clock_jumps

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


def test_long_span_proven_by_two_counters_is_stored_flat_and_estimated():
    ts = [T0, T0 + 8, T0 + 16, T0 + 16 + 5000, T0 + 16 + 5008]
    c = [0.0, 1.0, 2.0, 50.0, 51.0]
    r = _cp(ts, c, gap_threshold_s=4000)
    # longer than the gap threshold, but both ends are counters of one rid: the 48 Wh
    # between them are proven and stored, as flat power
    assert r.raw.ts.tolist() == list(range(T0, T0 + 5016 + 8, 8))
    assert r.gaps == [] and r.proven_spans == 1
    assert energy_wh(r.raw) == pytest.approx(51.0)
    bridge = (r.raw.ts >= T0 + 16) & (r.raw.ts < T0 + 5016)
    assert r.raw.estimated.tolist() == bridge.tolist()
    assert np.allclose(r.raw.power_w[bridge], 48.0 * 3600 / 5000)


def test_short_holes_are_bridged_without_the_flag():
    ts = [T0, T0 + 8, T0 + 8 + 600, T0 + 616]  # 10 min: a lost 256-s block or two
    r = _cp(ts, [0.0, 1.0, 6.0, 7.0])
    assert r.gaps == [] and not r.raw.estimated.any()
    assert energy_wh(r.raw) == pytest.approx(7.0)
    long = _cp([T0, T0 + 8, T0 + 8 + 2 * 3600, T0 + 16 + 7200], [0.0, 1.0, 6.0, 7.0])
    assert long.raw.estimated.sum() == 7200 // 8 and long.proven_spans == 0


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


def test_prev_after_long_gap_bridges_it_estimated():
    a = _cp([T0, T0 + 16], [0.0, 2.0])
    b = _cp([T0 + 16 + 20000, T0 + 16 + 20016], [9.0, 11.0], prev=a.last)
    assert b.gaps == []
    assert b.raw.ts.tolist() == list(range(T0 + 16, T0 + 20024 + 8, 8))
    assert b.raw.estimated.tolist() == (b.raw.ts < T0 + 20016).tolist()
    assert energy_wh(b.raw) == pytest.approx(9.0)


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


# --- backward clock jumps ---------------------------------------------------------------------


def _clamp_points(seconds: int, watts: float, seed: int = 1):
    rng = np.random.default_rng(seed)
    ts = T0 + np.concatenate(([0], np.cumsum(rng.integers(1, 31, size=seconds // 15))))
    ts = ts[ts < T0 + seconds]
    p = watts * (1 + 0.3 * np.sin(ts / 700.0))  # a smooth load [W]
    c = np.concatenate(([0.0], np.cumsum(p[:-1] * np.diff(ts) / 3600.0)))
    return ts, c


def test_backward_clock_jump_is_spread_not_a_spike():
    ts, c = _clamp_points(6 * 3600, 100.0)
    # the clock goes back 60 s at point 500: the next point carries 60 s more energy
    c = c.copy()
    c[500:] += 100.0 * 60 / 3600
    rid = np.zeros(len(ts), np.int64)
    ts2, c2, r2, jumps = spread_clock_jumps(ts, c, rid)
    assert jumps == 1
    assert ts2[0] == ts[0] and ts2[-1] == ts[-1] and c2[-1] == c[-1]
    spiky = _cp(ts, c)
    smooth = _cp(ts2, c2, r2)
    assert spiky.raw.power_w.max() > 300  # the spike, before
    assert smooth.raw.power_w.max() < 2.6 * 130  # at most about twice the load, after
    assert energy_wh(smooth.raw) == pytest.approx(energy_wh(spiky.raw))


def test_smooth_loads_and_pulse_meters_have_no_clock_jump():
    ts, c = _clamp_points(6 * 3600, 300.0, seed=3)
    assert spread_clock_jumps(ts, c, np.zeros(len(ts), np.int64))[3] == 0
    # a pulse meter: one point per 1-Wh pulse, jittered times (1-s steps between slow ones)
    rng = np.random.default_rng(5)
    dts = np.where(rng.random(3000) < 0.05, 1, rng.integers(5, 9, size=3000))
    pts = T0 + np.concatenate(([0], np.cumsum(dts)))
    pc = np.arange(len(pts), dtype=np.float64)
    assert spread_clock_jumps(pts, pc, np.zeros(len(pts), np.int64))[3] == 0


@given(counter_points(), st.integers(0, 130))
@settings(max_examples=60, deadline=None)
def test_spreading_clock_jumps_conserves_energy(points, cut):
    ts, c = points
    rid = (np.arange(len(ts)) >= cut).astype(np.int64)  # maybe a recycle id change
    ts2, c2, r2, _ = spread_clock_jumps(ts, c, rid)
    assert ts2[0] == ts[0] and ts2[-1] == ts[-1] and c2[-1] == c[-1]
    kept = np.isin(ts, ts2)
    assert np.array_equal(c[kept], c2) and np.array_equal(rid[kept], r2)
