"""Sharing computation: the hand-computed quarter of energy-sharing rules, balances from
8-s power, DST days, dated keys, and hypothesis properties of every key."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vde.processing.sharing import (
    QUARTER_S,
    SharingKey,
    allocate,
    quarter_balances,
    quarter_grid,
    run_sharing,
)
from vde.processing.sharing_indicators import Prices, indicators, period_labels
from vde.timeutil import local_day_bounds

# The worked example: producer A injects 2000 Wh; B, C, D take 1000, 500, 1500 Wh.
MEMBERS = ("A", "B", "C", "D")
OFF = np.array([[0.0, 1000.0, 500.0, 1500.0]])
INJ = np.array([[2000.0, 0.0, 0.0, 0.0]])
FIXED = {"B": 50.0, "C": 30.0, "D": 20.0}


@pytest.mark.parametrize(
    ("key", "expected", "a_out"),
    [
        (SharingKey("prorata"), [2000 / 3, 1000 / 3, 1000.0], 2000.0),
        (SharingKey("fixed", shares=FIXED), [1000.0, 500.0, 500.0], 2000.0),
        (SharingKey("fixed", shares=FIXED, redistribute=False), [1000.0, 500.0, 400.0], 1900.0),
        (SharingKey("hybrid", shares=FIXED), [1000.0, 500.0, 500.0], 2000.0),
        (SharingKey("priority", order=("D", "B", "C")), [500.0, 0.0, 1500.0], 2000.0),
    ],
    ids=["prorata", "fixed", "fixed-noredistribute", "hybrid", "priority"],
)
def test_worked_example(key: SharingKey, expected: list[float], a_out: float) -> None:
    got, out = allocate(key, MEMBERS, OFF, INJ)
    assert got[0].tolist() == pytest.approx([0.0, *expected])
    assert out[0].tolist() == pytest.approx([a_out, 0.0, 0.0, 0.0])
    # A's residual injection is what the key could not place (100 Wh without redistribution)
    assert INJ[0, 0] - out[0, 0] == pytest.approx(2000.0 - a_out)


def test_prorata_residual_offtake_of_the_example() -> None:
    got, _ = allocate(SharingKey("prorata"), MEMBERS, OFF, INJ)
    assert (OFF - got)[0, 1:].tolist() == pytest.approx([1000 / 3, 500 / 3, 500.0])


def test_hybrid_differs_from_fixed_when_several_keep_residual_offtake() -> None:
    # 1200 Wh shared; fixed 50/50 of B (100 Wh) and C (1000 Wh) with D (500, no share)
    members = ("P", "B", "C", "D")
    off = np.array([[0.0, 100.0, 1000.0, 500.0]])
    inj = np.array([[1200.0, 0.0, 0.0, 0.0]])
    shares = {"B": 50.0, "C": 50.0}
    fixed, _ = allocate(SharingKey("fixed", shares=shares), members, off, inj)
    hybrid, _ = allocate(SharingKey("hybrid", shares=shares), members, off, inj)
    # fixed: B 100 (capped), C 600 + the 500 B could not take -> 1000 (capped); D nothing
    assert fixed[0].tolist() == pytest.approx([0.0, 100.0, 1000.0, 0.0])
    # hybrid: B 100, C 600, then 500 pro rata of residual offtake C 400 : D 500
    assert hybrid[0].tolist() == pytest.approx([0.0, 100.0, 600 + 500 * 4 / 9, 500 * 5 / 9])


def test_several_producers_share_out_pro_rata_of_injection() -> None:
    members = ("P1", "P2", "C")
    off = np.array([[0.0, 0.0, 600.0]])
    inj = np.array([[300.0, 900.0, 0.0]])
    got, out = allocate(SharingKey("prorata"), members, off, inj)
    assert got[0].tolist() == pytest.approx([0.0, 0.0, 600.0])
    assert out[0].tolist() == pytest.approx([150.0, 450.0, 0.0])


T_HALF_HOUR = 1_790_000_000 - 1_790_000_000 % 1800  # a quarter that starts on a slot


def test_quarter_balances_do_not_net_across_slots() -> None:
    t0 = T_HALF_HOUR
    # 450 W for 8 s = 1 Wh. Quarter 1: +1, -2, +3 Wh (three slots); quarter 2: one -1 Wh slot
    ts = np.array([t0, t0 + 8, t0 + 16, t0 + QUARTER_S + 804])
    p = np.array([450.0, -900.0, 1350.0, -450.0])
    b = quarter_balances(ts, p, t0, t0 + 3 * QUARTER_S)
    assert b.ts.tolist() == [t0, t0 + QUARTER_S, t0 + 2 * QUARTER_S]
    assert b.offtake_wh.tolist() == pytest.approx([4.0, 0.0, 0.0])
    assert b.injection_wh.tolist() == pytest.approx([2.0, 1.0, 0.0])
    assert b.covered_s.tolist() == [24, 8, 0]


def test_slot_across_two_quarters_is_split_by_its_seconds() -> None:
    # 900 s = 112.5 slots: the slot at t0 + 896 lies 4 s in each quarter
    t0 = T_HALF_HOUR
    b = quarter_balances(np.array([t0 + 896]), np.array([900.0]), t0, t0 + 2 * QUARTER_S)
    assert b.offtake_wh.tolist() == pytest.approx([1.0, 1.0])
    assert b.covered_s.tolist() == [4, 4]
    # and a window starting at the second quarter still gets its half
    c = quarter_balances(np.array([t0 + 896]), np.array([-900.0]), t0 + QUARTER_S, t0 + 1800)
    assert c.injection_wh.tolist() == pytest.approx([1.0])


@settings(max_examples=100, deadline=None)
@given(
    mask=hnp.arrays(np.bool_, st.integers(1, 700)),
    power=st.floats(-5000, 5000, allow_nan=False),
    shift=st.integers(0, 3),
)
def test_balances_conserve_energy(mask, power, shift) -> None:
    t0 = T_HALF_HOUR + shift * 8
    ts = t0 + 8 * np.flatnonzero(mask)
    p = np.where(np.arange(len(ts)) % 3 == 0, -power, power).astype(np.float64)
    b = quarter_balances(ts, p, int(ts.min(initial=t0)), int(t0 + 8 * len(mask)))
    assert b.offtake_wh.sum() == pytest.approx(np.maximum(p, 0).sum() * 8 / 3600, abs=1e-6)
    assert b.injection_wh.sum() == pytest.approx(np.maximum(-p, 0).sum() * 8 / 3600, abs=1e-6)
    assert b.covered_s.sum() == 8 * len(ts)
    assert np.all(b.covered_s <= QUARTER_S)


@pytest.mark.parametrize(("day", "quarters"), [("2026-03-29", 92), ("2026-10-25", 100)])
def test_dst_days_have_92_and_100_quarters(day: str, quarters: int) -> None:
    start, end = local_day_bounds(date.fromisoformat(day))
    grid = quarter_grid(start, end)
    assert len(grid) == quarters
    labels = period_labels(grid, "day")
    assert set(labels) == {day}
    # one full local day of data sums as one day of that many quarters
    ts = np.arange(start, end, 8, dtype=np.int64)
    b = quarter_balances(ts, np.full(len(ts), 450.0), start, end)
    assert b.covered_s.tolist() == [QUARTER_S] * quarters
    res = run_sharing(
        ["H"], b.ts, b.offtake_wh[:, None], b.injection_wh[:, None], b.covered_s[:, None],
        [SharingKey("prorata")],
    )  # fmt: skip
    ind = indicators(res, Prices(), "day")
    assert ind.labels == [day]
    assert ind.quarters.tolist() == [quarters]
    assert ind.offtake_wh[0, 0] == pytest.approx(quarters * 112.5)
    assert ind.coverage[0, 0] == pytest.approx(1.0)


def test_incomplete_quarter_is_computed_on_what_exists_and_flagged() -> None:
    t0 = T_HALF_HOUR
    full = np.arange(t0, t0 + QUARTER_S, 8)
    half = full[:56]
    a = quarter_balances(full, np.full(len(full), -450.0), t0, t0 + QUARTER_S)
    b = quarter_balances(half, np.full(len(half), 450.0), t0, t0 + QUARTER_S)
    off = np.column_stack([a.offtake_wh, b.offtake_wh])
    inj = np.column_stack([a.injection_wh, b.injection_wh])
    res = run_sharing(
        ["A", "B"], a.ts, off, inj, np.column_stack([a.covered_s, b.covered_s]),
        [SharingKey("prorata")],
    )  # fmt: skip
    # A injects 112.5 Wh over the whole quarter (its last slot half in it); B takes 56 Wh
    assert a.injection_wh[0] == pytest.approx(112.5)
    assert res.received_wh[0].tolist() == pytest.approx([0.0, 56.0])
    assert res.shared_out_wh[0].tolist() == pytest.approx([56.0, 0.0])
    assert res.flagged[0].tolist() == [False, True]
    assert res.coverage[0].tolist() == pytest.approx([1.0, 448 / 900])


def test_dated_keys_apply_from_their_date_and_nothing_before() -> None:
    ts = np.array([0, 900, 1800, 2700]) + 1_790_000_100 - 1_790_000_100 % 900
    off = np.tile([[0.0, 1000.0, 500.0, 1500.0]], (4, 1))
    inj = np.tile([[2000.0, 0.0, 0.0, 0.0]], (4, 1))
    keys = [
        SharingKey("prorata", valid_from=int(ts[1])),
        SharingKey("priority", order=("D", "B", "C"), valid_from=int(ts[3])),
    ]
    res = run_sharing(MEMBERS, ts, off, inj, np.full((4, 4), QUARTER_S), keys)
    assert res.key_index.tolist() == [-1, 0, 0, 1]
    assert res.received_wh[0].sum() == 0.0
    assert res.received_wh[1].tolist() == pytest.approx([0, 2000 / 3, 1000 / 3, 1000])
    assert res.received_wh[3].tolist() == pytest.approx([0, 500, 0, 1500])


def test_bad_keys_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="add up to 90"):
        SharingKey("fixed", shares={"A": 60, "B": 30})
    with pytest.raises(ValueError, match="unknown sharing key"):
        SharingKey("lottery")
    with pytest.raises(ValueError, match="ordered list"):
        SharingKey("priority")


def test_prices_and_indicators_hand_computed() -> None:
    prices = Prices(
        shared_eur_kwh=0.15, supplier_eur_kwh=0.35, injection_eur_kwh=0.05,
        network_reduction_eur_kwh=0.04,
    )  # fmt: skip
    res = run_sharing(
        MEMBERS, np.array([1_790_000_100 - 1_790_000_100 % 900]), OFF, INJ,
        np.full((1, 4), QUARTER_S), [SharingKey("priority", order=("D", "B", "C"))],
    )  # fmt: skip
    ind = indicators(res, prices, "all")
    # D receives 1.5 kWh: 1.5 * (0.35 - 0.15 + 0.04) = 0.36 €; A shares out 2 kWh at +0.10
    assert ind.saved_eur[0].tolist() == pytest.approx([0.2, 0.5 * 0.24, 0.0, 0.36])
    assert ind.collective_self_consumption()[0] == pytest.approx(1.0)
    assert ind.self_sufficiency()[0] == pytest.approx(2000 / 3000)
    spread, _ = ind.fairness()
    # € per kWh offtake: B 0.12/1, C 0/0.5, D 0.36/1.5 -> spread 0.24
    assert spread[0] == pytest.approx(0.24)


# --- properties ---------------------------------------------------------------------------

N = 5
energy = st.floats(0.0, 5000.0, allow_nan=False, allow_infinity=False)
matrix = hnp.arrays(np.float64, st.tuples(st.integers(1, 6), st.just(N)), elements=energy)
percent = st.lists(st.integers(0, 10), min_size=N, max_size=N).filter(lambda w: sum(w) > 0)
keys = st.one_of(
    st.just(("prorata", None)),
    st.tuples(st.sampled_from(["fixed", "fixed-noredistribute", "hybrid"]), percent),
    st.tuples(st.just("priority"), st.permutations(range(N))),
)
NAMES = [f"M{i}" for i in range(N)]


def _key(spec) -> SharingKey:
    name, arg = spec
    if name == "prorata":
        return SharingKey("prorata")
    if name == "priority":
        return SharingKey("priority", order=tuple(NAMES[i] for i in arg[:3]))
    total = sum(arg)
    shares = {m: 100.0 * w / total for m, w in zip(NAMES, arg, strict=True)}
    return SharingKey("fixed" if name != "hybrid" else "hybrid", shares=shares,
                      redistribute=name != "fixed-noredistribute")  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(off=matrix, inj_scale=st.floats(0.0, 2.0), spec=keys, data=st.data())
def test_identities_of_every_key(off, inj_scale, spec, data) -> None:
    inj = data.draw(hnp.arrays(np.float64, off.shape, elements=energy)) * inj_scale
    key = _key(spec)
    got, out = allocate(key, NAMES, off, inj)
    shareable = np.minimum(off.sum(axis=1), inj.sum(axis=1))
    tol = 1e-9 * (1 + off.sum() + inj.sum())
    # Σ received = Σ shared out <= min(Σ injection, Σ offtake)
    assert np.allclose(got.sum(axis=1), out.sum(axis=1), atol=tol)
    assert np.all(got.sum(axis=1) <= shareable + tol)
    # 0 <= received <= offtake; 0 <= shared out <= injection
    assert np.all(got >= -tol) and np.all(got <= off + tol)
    assert np.all(out >= -tol) and np.all(out <= inj + tol)
    # keys that always share all there is
    if key.method in ("prorata", "hybrid", "priority"):
        assert np.allclose(got.sum(axis=1), shareable, atol=tol)


@settings(max_examples=200, deadline=None)
@given(off=matrix, inj_total=energy)
def test_prorata_same_ratio_for_every_consumer(off, inj_total) -> None:
    inj = np.zeros_like(off)
    inj[:, 0] = inj_total
    off[:, 0] = 0.0
    got, _ = allocate(SharingKey("prorata"), NAMES, off, inj)
    for q in range(len(off)):
        has = off[q] > 1e-6
        if has.any():
            ratios = got[q][has] / off[q][has]
            assert np.allclose(ratios, ratios[0], rtol=1e-9, atol=1e-12)


@settings(max_examples=200, deadline=None)
@given(weights=percent, shared=st.floats(1.0, 1000.0), big=st.floats(1.0, 10.0))
def test_fixed_percentages_hold_when_nobody_is_capped(weights, shared, big) -> None:
    key = _key(("fixed", weights))
    off = np.full((1, N), shared * big + 1.0)  # everyone can take the whole shared energy
    off[0, 0] = shared * big + 1.0
    inj = np.zeros((1, N))
    inj[0, 0] = shared
    off_cons = off.copy()
    got, _ = allocate(key, NAMES, off_cons, inj)
    expected = key.weights(NAMES) * shared
    assert got[0] == pytest.approx(expected, rel=1e-9, abs=1e-9)
