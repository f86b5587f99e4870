"""The diagnosis on hand-built days: which workbook edits make a day coherent, and its kWh.

Each day is physical: a load L >= 0, PV output S >= 0 by day, grid clamps that count
import max(L - S, 0) and export max(S - L, 0), a PV clamp that counts S and its reverse
twin that counts the inverter's standby draw at night (part of L). Only the workbook
signs are wrong, as on the real homes of the issue.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vde.alerts.diagnose import DayModel, Limits, diagnose, standby_allowance
from vde.models import RawSeries, SensorRow
from vde.processing.configlint import home_of, lint_installation

T0 = 1_780_000_000 - 1_780_000_000 % 86400
N = 10800  # one day of 8-s slots
PERIOD = 300
LIMITS = Limits(sign_threshold_w=10, night_threshold_w=10, standby_w=30, night_min=3)


def row(inst: str, sid: str, fn: str, net: int, prod: int) -> SensorRow:
    return SensorRow(inst, sid, "t" * 32, f"FL{inst}", fn, net, prod, 0, 0, 0)


def home_day(*, standby_w: float = 12.0, seed: int = 0):
    """Raw power of a home with Mains/Mains- and PV/PV- clamps; the night mask."""
    rng = np.random.default_rng(seed)
    ts = T0 + 8 * np.arange(N, dtype=np.int64)
    hour = (ts - T0) / 3600.0
    night = (hour < 5.5) | (hour >= 21.5)
    sun = np.clip(np.sin(np.pi * (hour - 5.5) / 16), 0, None)
    s = np.where(night, 0.0, 3000.0 * sun)
    standby = np.where(night, standby_w, 0.0)
    load = 250 + 600 * np.exp(-(((hour - 19) / 1.5) ** 2)) + rng.uniform(0, 40, N) + standby
    raw = {
        "mains": np.maximum(load - s, 0.0),
        "mains-": np.maximum(s - load, 0.0),
        "pv": s,
        "pv-": standby,
    }
    # what the healthy workbook gives: the PV- twin in Prod counts the standby draw as
    # negative production, so consumption is the load without it
    net = (load - standby) * 8 / 3.6e6
    truth_kwh = {"cons": net.sum(), "prod": (standby - s).sum() * 8 / 3.6e6}
    return {k: RawSeries(ts, v) for k, v in raw.items()}, night, truth_kwh


def healthy_rows(inst: str = "H", prefix: str = "") -> list[SensorRow]:
    return [
        row(inst, prefix + "mains", "Mains", 1, 0),
        row(inst, prefix + "mains-", "Mains-", -1, 0),
        row(inst, prefix + "pv", "PV", 0, -1),
        row(inst, prefix + "pv-", "PV-", 0, 1),
    ]


def with_signs(rows: list[SensorRow], **signs: tuple[int, int]) -> list[SensorRow]:
    out = []
    for r in rows:
        key = r.function.lower().replace("-", "_minus")
        if key in signs:
            net, prod = signs[key]
            r = SensorRow(**{**r.__dict__, "net": net, "prod": prod})
        out.append(r)
    return out


def run(rows, raw, night, limits=LIMITS):
    homes = home_of(rows)
    return diagnose(
        rows,
        raw,
        T0,
        T0 + N * 8,
        night,
        homes,
        limits,
        lambda r: r.function,
        period_s=PERIOD,
    )


def edits(diag) -> set[tuple]:
    return {(e.sensor_id, e.column, e.old, e.new) for e in diag.edits}


@pytest.mark.parametrize("standby_w", [1.0, 11.0, 25.0])
def test_inverter_standby_at_night_is_coherent(standby_w):
    raw, night, _ = home_day(standby_w=standby_w)
    diag = run(healthy_rows(), raw, night)
    assert diag.edits == ()  # coherent as configured: nothing to fix, no alert


def test_a_clamp_reading_70_w_all_night_is_flagged_and_left_out_of_prod():
    raw, night, _ = home_day(standby_w=70.0)
    model = DayModel(healthy_rows(), raw, T0, T0 + N * 8, night, PERIOD)
    chk = model.check(model.net, model.prod, LIMITS, 30.0)
    # +70 W of "production" on every 5-min period of the night (8 h), nothing else wrong
    assert (chk.prod_positive, chk.max_prod_w, chk.cons_negative) == (96, 70.0, 0)
    diag = run(healthy_rows(), raw, night)
    assert edits(diag) == {("pv-", "Prod", 1, 0)}


def test_pv_counted_in_network_is_fixed_by_blanking_network_not_by_flipping_mains_minus():
    raw, night, truth = home_day()
    rows = with_signs(healthy_rows(), pv=(-1, -1), pv_minus=(1, 1))
    model = DayModel(rows, raw, T0, T0 + N * 8, night, PERIOD)
    chk = model.check(model.net, model.prod, LIMITS, 30.0)
    assert chk.cons_negative > 0 and chk.min_cons_w < -1000  # the afternoon's -kW
    # the old answer: flipping Mains- makes the curves coherent but doubles consumption
    flip = model.net.copy()
    flip[1] = -flip[1]
    assert model.check(flip, model.prod, LIMITS, 30.0).coherent(3)
    assert model.kwh_of(flip, model.prod)["cons"] > 1.5 * truth["cons"]
    diag = run(rows, raw, night)
    assert edits(diag) == {("pv", "Network", -1, 0), ("pv-", "Network", 1, 0)}
    assert diag.kwh_fixed["cons"] == pytest.approx(truth["cons"], abs=0.002)
    assert diag.kwh_fixed["prod"] == pytest.approx(truth["prod"], abs=0.002)
    assert diag.kwh_now["cons"] < diag.kwh_fixed["cons"] - 5


def test_a_reversed_pv_is_flipped_back():
    raw, night, truth = home_day()
    rows = with_signs(healthy_rows(), pv=(0, 1), pv_minus=(0, -1))
    diag = run(rows, raw, night)
    assert edits(diag) == {("pv", "Prod", 1, -1), ("pv-", "Prod", -1, 1)}
    assert diag.kwh_fixed["cons"] == pytest.approx(truth["cons"], abs=0.002)


def test_a_pv_clamp_on_a_consumption_phase_has_no_fix():
    raw, night, _ = home_day()
    phase = RawSeries(raw["mains"].ts, raw["mains"].power_w * 0.5 + 100)
    raw = {**raw, "pv": phase}  # the PV clamp sits on a phase: it measures consumption
    rows = [r for r in healthy_rows() if r.function != "PV-"]
    diag = run(rows, raw, night)
    assert diag.edits is None and diag.kwh_fixed is None and not diag.found


def test_a_group_is_diagnosed_home_by_home_and_names_the_edits_in_the_group():
    raw_a, night, _ = home_day(seed=1)
    raw_b, _, _ = home_day(seed=2)
    raw = {**{"a" + k: v for k, v in raw_a.items()}, **{"b" + k: v for k, v in raw_b.items()}}
    home_a = with_signs(healthy_rows("A", "a"), pv=(-1, -1), pv_minus=(1, 1))
    home_b = healthy_rows("B", "b")
    group = [SensorRow(**{**r.__dict__, "installation_id": "G"}) for r in home_a + home_b]
    rows = home_a + home_b + group
    homes = home_of(rows)
    assert homes["apv"] == "A" and homes["bpv"] == "B"
    assert standby_allowance(group, homes, 30) == 60  # two inverters
    diag = diagnose(
        group, raw, T0, T0 + N * 8, night, homes, LIMITS, lambda r: r.function, period_s=PERIOD
    )
    assert {(e.installation_id, e.sensor_id, e.column, e.new) for e in diag.edits} == {
        ("G", "apv", "Network", 0),
        ("G", "apv-", "Network", 0),
    }


@settings(max_examples=12, deadline=None)
@given(st.sampled_from([-1, 1]), st.sampled_from([-1, 1]), st.sampled_from([-1, 1]))
def test_the_wrong_signs_are_exactly_the_ones_flipped_back(pv, mains, mains_minus):
    """Property: whatever signs are wrong (up to 3), the fix flips those and only those."""
    raw, night, truth = home_day()
    rows = with_signs(
        healthy_rows(),
        pv=(0, pv),
        pv_minus=(0, -pv),
        mains=(mains, 0),
        mains_minus=(mains_minus, 0),
    )
    wrong = {
        ("pv", "Prod", pv, -pv) if pv != -1 else None,
        ("pv-", "Prod", -pv, pv) if pv != -1 else None,
        ("mains", "Network", mains, -mains) if mains != 1 else None,
        ("mains-", "Network", mains_minus, -mains_minus) if mains_minus != -1 else None,
    } - {None}
    diag = run(rows, raw, night)
    if not wrong:
        assert diag.edits == () and lint_installation(rows) == []
    elif diag.edits == ():
        # Mains- with Mains' sign only inflates consumption: the day stays coherent and
        # nothing alerts, but the configuration lint names the twins
        assert wrong == {("mains-", "Network", 1, -1)}
        assert [f.code for f in lint_installation(rows)] == ["twins_same_sign"]
    elif len(wrong) <= 3:
        assert edits(diag) == wrong
        assert diag.kwh_fixed["cons"] == pytest.approx(truth["cons"], abs=0.002)
