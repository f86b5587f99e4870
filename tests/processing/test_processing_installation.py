"""installation_power: signs, start dates, missing slots and who caused them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vde.models import RawSeries, SensorRow
from vde.processing.installation import (
    installation_power,
    installation_power_detail,
    mask_to_intervals,
    sum_of_homes,
)

T0 = 1_700_000_000


def row(sid, net=0, prod=0, inst="CDB001", start_ts=0):
    return SensorRow(
        installation_id=inst,
        sensor_id=sid,
        token="t" * 32,
        flm_id="FL1",
        function="Mains",
        net=net,
        prod=prod,
        cons=0,
        ve=0,
        start_ts=start_ts,
    )


def raw(ts, p):
    return RawSeries(ts=np.asarray(ts, np.int64), power_w=np.asarray(p, np.float64))


def test_home_with_mains_and_pv():
    # mains measures import (+), PV sensor measures production as positive power
    rows = [row("m", net=1), row("pv", net=-1, prod=-1)]
    ts = [T0, T0 + 8, T0 + 16]
    data = {"m": raw(ts, [500.0, 100.0, 0.0]), "pv": raw(ts, [0.0, 300.0, 800.0])}
    s = installation_power(rows, data, T0, T0 + 24)
    assert s.ts.tolist() == ts
    assert s.p_tot.tolist() == [500.0, -200.0, -800.0]
    assert s.p_prod.tolist() == [0.0, -300.0, -800.0]
    assert s.p_cons.tolist() == [500.0, 100.0, 0.0]


def test_missing_if_any_contributing_sensor_missing():
    rows = [row("a", net=1), row("b", net=1), row("info", net=0, prod=0)]
    data = {
        "a": raw([T0, T0 + 8, T0 + 16, T0 + 24], [1, 2, 3, 4]),
        "b": raw([T0, T0 + 24], [10, 40]),
        # the informative sensor has no data at all: it does not count
    }
    d = installation_power_detail(rows, data, T0, T0 + 32)
    assert d.series.ts.tolist() == [T0, T0 + 24]
    assert d.series.p_tot.tolist() == [11.0, 44.0]
    assert d.missing_slots == 2
    assert d.expected_slots == 4
    assert d.missing_by_sensor == {"b": [(T0 + 8, T0 + 24)]}


def test_sensor_contributes_only_from_its_start():
    rows = [row("a", net=1), row("b", net=1, start_ts=T0 + 16)]
    data = {"a": raw([T0, T0 + 8, T0 + 16, T0 + 24], [1, 1, 1, 1]), "b": raw([T0 + 16], [5])}
    d = installation_power_detail(rows, data, T0, T0 + 32)
    # before b's start, a alone; after, both needed (b lacks T0+24)
    assert d.series.ts.tolist() == [T0, T0 + 8, T0 + 16]
    assert d.series.p_tot.tolist() == [1.0, 1.0, 6.0]
    assert d.missing_by_sensor == {"b": [(T0 + 24, T0 + 32)]}


def test_no_started_sensor_means_nothing_expected():
    rows = [row("a", net=1, start_ts=T0 + 1000)]
    d = installation_power_detail(rows, {"a": raw([T0], [1])}, T0, T0 + 80)
    assert len(d.series) == 0 and d.missing_slots == 0 and d.expected_slots == 0


def test_nan_is_missing():
    rows = [row("a", net=1)]
    d = installation_power_detail(rows, {"a": raw([T0, T0 + 8], [np.nan, 3])}, T0, T0 + 16)
    assert d.series.ts.tolist() == [T0 + 8]
    assert d.missing_by_sensor == {"a": [(T0, T0 + 8)]}


def test_mask_to_intervals():
    grid = T0 + 8 * np.arange(6)
    m = np.array([1, 1, 0, 1, 0, 1], bool)
    assert mask_to_intervals(grid, m) == [(T0, T0 + 16), (T0 + 24, T0 + 32), (T0 + 40, T0 + 48)]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([-1, 0, 1]), st.sampled_from([-1, 0, 1])),
        min_size=1,
        max_size=6,
    ),
    st.integers(0, 2**31),
)
def test_group_power_is_sum_of_homes(signs, seed):
    # homes of one sensor each; the group lists every home's row with the same signs
    rng = np.random.default_rng(seed)
    n = 50
    grid = T0 + 8 * np.arange(n)
    data, homes, group = {}, [], []
    for k, (net, prod) in enumerate(signs):
        sid = f"s{k}"
        keep = rng.random(n) > 0.1
        data[sid] = raw(grid[keep], rng.uniform(0, 3000, n)[keep])
        homes.append([row(sid, net, prod, inst=f"H{k}")])
        group.append(row(sid, net, prod, inst="G"))
    g = installation_power(group, data, T0, T0 + 8 * n)
    hs = [installation_power(h, data, T0, T0 + 8 * n) for h in homes]
    for ts in g.ts:
        # a group slot exists only if every contributing home has it
        tot = prod = 0.0
        for h in hs:
            i = np.searchsorted(h.ts, ts)
            if i < len(h) and h.ts[i] == ts:
                tot += h.p_tot[i]
                prod += h.p_prod[i]
        gi = np.searchsorted(g.ts, ts)
        assert g.p_tot[gi] == pytest.approx(tot, abs=1e-6)
        assert g.p_prod[gi] == pytest.approx(prod, abs=1e-6)
    # and the group slot set is the intersection of the contributing homes' slot sets
    contributing = [h for h, (net, prod) in zip(hs, signs, strict=True) if net or prod]
    if contributing:
        inter = set(contributing[0].ts.tolist())
        for h in contributing[1:]:
            inter &= set(h.ts.tolist())
        assert set(g.ts.tolist()) == inter
    else:
        assert len(g) == 0


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(
                st.sampled_from([-1, 0, 1]),
                st.sampled_from([-1, 0, 1]),
                st.sampled_from([0, 0, 80, 200]),  # start offset [s]
            ),
            min_size=1,
            max_size=3,
        ),
        min_size=1,
        max_size=4,
    ),
    st.integers(0, 2**31),
)
def test_group_slot_sums_the_complete_homes_and_counts_them(homes_signs, seed):
    """Given each sensor's home, a group slot is the sum of the homes complete there (energy
    conserved), emitted when at least one home counts, and ``homes`` is how many count."""
    rng = np.random.default_rng(seed)
    n = 40
    grid = T0 + 8 * np.arange(n)
    data, home_rows, group, home_of = {}, {}, [], {}
    for h, sensors in enumerate(homes_signs):
        for k, (net, prod, offset) in enumerate(sensors):
            sid = f"s{h}_{k}"
            keep = rng.random(n) > 0.25
            est = rng.random(n) < 0.1
            data[sid] = RawSeries(grid[keep], rng.uniform(0, 3000, n)[keep], est[keep])
            home_rows.setdefault(f"H{h}", []).append(row(sid, net, prod, f"H{h}", T0 + offset))
            group.append(row(sid, net, prod, "G", T0 + offset))
            home_of[sid] = f"H{h}"
    g = installation_power_detail(group, data, T0, T0 + 8 * n, home_of)
    # each home on its own, as a home installation (its slot needs all of its sensors)
    hs = {h: installation_power(rs, data, T0, T0 + 8 * n, home_of) for h, rs in home_rows.items()}
    assert all(s.homes is None and s.p_import is None for s in hs.values())
    s = g.series
    contributing = [rs for rs in home_rows.values() if any(r.net or r.prod for r in rs)]
    if not contributing:  # no sensor counts anywhere: nothing to sum
        assert len(s) == 0 and g.members == 0
        return
    assert s.homes is not None and s.p_import is not None
    expected_ts = []
    for ts in grid.tolist():
        counted = [h for h in hs.values() if ts in set(h.ts.tolist())]
        if not counted:
            assert ts not in set(s.ts.tolist())
            continue
        expected_ts.append(ts)
        i = int(np.searchsorted(s.ts, ts))
        at = [(h, int(np.searchsorted(h.ts, ts))) for h in counted]
        assert s.homes[i] == len(counted)
        for field in ("p_tot", "p_prod", "p_cons"):
            total = sum(getattr(h, field)[j] for h, j in at)
            assert getattr(s, field)[i] == pytest.approx(total, abs=1e-6), field
        own_import = sum(max(h.p_tot[j], 0.0) for h, j in at)
        assert s.p_import[i] == pytest.approx(own_import, abs=1e-6)
        assert bool(s.estimated[i]) == any(bool(h.estimated[j]) for h, j in at)
    assert s.ts.tolist() == expected_ts
    # the same group from the homes' own power (how a group's stored power can be checked)
    again = sum_of_homes(list(hs.values()))
    assert again.ts.tolist() == s.ts.tolist() and again.homes.tolist() == s.homes.tolist()
    for field in ("p_tot", "p_prod", "p_cons", "p_import"):
        assert np.allclose(getattr(again, field), getattr(s, field), atol=1e-6), field
    assert again.estimated.tolist() == s.estimated.tolist()
    # energy conserved: the group's energy is the counted homes' energy, slot by slot
    home_total = sum(float(h.p_tot.sum()) for h in hs.values())
    assert float(s.p_tot.sum()) == pytest.approx(home_total, abs=1e-6)
    assert g.members == len(contributing)


def test_group_with_one_home_missing_a_phase_keeps_the_other_homes():
    """The issue's case: one home's missing phase no longer blanks the group."""
    rows = [row("a1", net=1, inst="G"), row("a2", net=1, inst="G"), row("b", net=1, inst="G")]
    homes = {"a1": "HA", "a2": "HA", "b": "HB"}
    ts = [T0, T0 + 8, T0 + 16]
    data = {
        "a1": raw(ts, [100.0, 100.0, 100.0]),
        "a2": raw([T0, T0 + 16], [10.0, 10.0]),  # HA's second phase misses T0 + 8
        "b": raw(ts, [-50.0, -50.0, -50.0]),
    }
    d = installation_power_detail(rows, data, T0, T0 + 24, homes)
    assert d.series.ts.tolist() == ts
    assert d.series.homes.tolist() == [2, 1, 2]
    assert d.series.p_tot.tolist() == [60.0, -50.0, 60.0]
    # each home's own import: HA imports 110 W, HB exports 50 W (not a net 60 W import)
    assert d.series.p_import.tolist() == [110.0, 0.0, 110.0]
    assert d.missing_slots == 1 and d.missing_by_sensor == {"a2": [(T0 + 8, T0 + 16)]}
    assert d.members == 2
    # without homes, a group slot needs every sensor, as before
    old = installation_power_detail(rows, data, T0, T0 + 24)
    assert old.series.ts.tolist() == [T0, T0 + 16] and old.series.homes is None
