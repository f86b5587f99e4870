"""compute_rollups / combine_rollups: hand-computed buckets, DST days, properties."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vde.models import ROLLUP_FIELDS, PowerSeries
from vde.processing.rollups import bucket_bounds, combine_rollups, compute_rollups
from vde.timeutil import local_day_bounds

T0 = 1_700_000_000 - 1_700_000_000 % 3600  # an hour start


def ps(ts, tot, prod=None):
    ts = np.asarray(ts, np.int64)
    tot = np.asarray(tot, np.float64)
    prod = np.zeros(len(ts)) if prod is None else np.asarray(prod, np.float64)
    return PowerSeries(ts=ts, p_cons=tot - prod, p_prod=prod, p_tot=tot)


def test_minute_buckets_hand_computed():
    # 450 W for 8 s = 1 Wh; slots in two minutes
    s = ps([T0, T0 + 8, T0 + 16, T0 + 64], [450.0, -900.0, 900.0, 450.0], [0, -900.0, 0, 0])
    b = compute_rollups(s, 60)
    assert b.ts.tolist() == [T0, T0 + 60]
    c = b.columns
    assert set(c) == set(ROLLUP_FIELDS)
    assert c["n"].tolist() == [3, 1]
    assert c["e_tot_wh"].tolist() == pytest.approx([1.0, 1.0])
    assert c["e_import_wh"].tolist() == pytest.approx([3.0, 1.0])
    assert c["e_export_wh"].tolist() == pytest.approx([2.0, 0.0])
    assert c["e_prod_wh"].tolist() == pytest.approx([-2.0, 0.0])
    assert c["e_cons_wh"].tolist() == pytest.approx([3.0, 1.0])
    assert c["p_tot_min"].tolist() == [-900.0, 450.0]
    assert c["p_tot_max"].tolist() == [900.0, 450.0]
    assert c["p_tot_mean"].tolist() == pytest.approx([150.0, 450.0])
    assert c["n"].dtype == np.int64


def test_empty():
    b = compute_rollups(ps([], []), 3600)
    assert len(b) == 0 and set(b.columns) == set(ROLLUP_FIELDS)


@pytest.mark.parametrize(
    ("day", "hours"),
    [(date(2026, 3, 29), 23), (date(2026, 10, 25), 25), (date(2026, 6, 1), 24)],
)
def test_day_buckets_follow_local_midnight_on_dst_days(day, hours):
    start, end = local_day_bounds(day)
    assert end - start == hours * 3600
    ts = np.arange(start - 3600, end + 3600, 8)  # one hour either side
    b = compute_rollups(ps(ts, np.full(len(ts), 450.0)), 86400)
    prev_start = local_day_bounds(day - timedelta(days=1))[0]
    assert b.ts.tolist() == [prev_start, start, end]
    assert b.columns["n"].tolist() == [450, hours * 450, 450]
    assert b.columns["e_tot_wh"][1] == pytest.approx(hours * 450.0)
    assert bucket_bounds(start + 5, end - 5, 86400) == (start, end)


def test_hours_are_local_hours_too():
    start, end = local_day_bounds(date(2026, 3, 29))
    ts = np.arange(start, end, 8)
    b = compute_rollups(ps(ts, np.ones(len(ts))), 3600)
    assert len(b) == 23
    assert b.ts[0] == start and np.all(np.diff(b.ts) == 3600)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 3 * 86400 // 8), st.integers(0, 400 * 86400))
def test_combine_equals_direct(seed, n, offset):
    rng = np.random.default_rng(seed)
    base = 1_767_225_600 + offset  # 2026-01-01 plus up to 400 days (both DST changes)
    base -= base % 8
    ts = np.sort(rng.choice(np.arange(base, base + 8 * n, 8), size=max(1, n // 3), replace=False))
    tot = rng.uniform(-3000, 3000, len(ts))
    prod = -rng.uniform(0, 2000, len(ts))
    s = ps(ts, tot, prod)
    hours = compute_rollups(s, 3600)
    for res in (900, 3600, 86400):
        direct = compute_rollups(s, res)
        fine = compute_rollups(s, 60)
        for src in (fine, hours) if res >= 3600 else (fine,):
            comb = combine_rollups(src, res)
            assert comb.ts.tolist() == direct.ts.tolist()
            for f in ROLLUP_FIELDS:
                assert np.allclose(comb.columns[f], direct.columns[f], rtol=1e-9, atol=1e-6), f
    # energy totals equal whatever the resolution
    for res in (60, 900, 3600, 86400):
        b = compute_rollups(s, res)
        assert b.columns["n"].sum() == len(ts)
        assert b.columns["e_tot_wh"].sum() == pytest.approx(tot.sum() * 8 / 3600)
        imp, exp = b.columns["e_import_wh"].sum(), b.columns["e_export_wh"].sum()
        assert imp - exp == pytest.approx(tot.sum() * 8 / 3600, abs=1e-6)
        assert exp >= 0 and imp >= 0


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 2 * 86400 // 8), st.integers(0, 400 * 86400))
def test_group_buckets_count_homes_and_keep_the_homes_own_import(seed, n, offset):
    """A group's buckets: homes_n = Σ homes per slot, homes_min/max, import from the homes'
    own (p_import), export = import - total; coarser buckets combine exactly."""
    rng = np.random.default_rng(seed)
    base = 1_767_225_600 + offset
    base -= base % 8
    ts = np.sort(rng.choice(np.arange(base, base + 8 * n, 8), size=max(1, n // 3), replace=False))
    s = ps(ts, rng.uniform(-3000, 3000, len(ts)), -rng.uniform(0, 2000, len(ts)))
    s.homes = rng.integers(1, 13, len(ts))
    s.p_import = np.maximum(s.p_tot, 0.0) + rng.uniform(0, 500, len(ts))
    for res in (60, 900, 3600, 86400):
        b = compute_rollups(s, res)
        c = b.columns
        assert c["homes_n"].sum() == s.homes.sum() and c["homes_n"].dtype == np.int64
        assert c["homes_min"].min() == s.homes.min() and c["homes_max"].max() == s.homes.max()
        assert np.all(c["homes_min"] <= c["homes_max"])
        assert np.all(c["homes_n"] >= c["homes_min"] * c["n"])
        assert np.all(c["homes_n"] <= c["homes_max"] * c["n"])
        assert c["e_import_wh"].sum() == pytest.approx(s.p_import.sum() * 8 / 3600)
        assert np.allclose(c["e_import_wh"] - c["e_export_wh"], c["e_tot_wh"], atol=1e-6)
        if res > 60:
            comb = combine_rollups(compute_rollups(s, 60), res)
            for f in ROLLUP_FIELDS:
                assert np.allclose(comb.columns[f], c[f], rtol=1e-9, atol=1e-6), f
    # a home's buckets count no homes
    home = compute_rollups(ps(ts, s.p_tot), 3600)
    assert set(home.columns["homes_n"].tolist()) == {0}
    assert set(home.columns["homes_max"].tolist()) == {0}
