"""recompute / rollup_range against real stores (both backends)."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest

from vde.models import ConfigVersion, SensorRow
from vde.processing.rollups import compute_rollups
from vde.sync.recompute import day_chunks, recompute, rollup_range
from vde.timeutil import local_day_bounds

D0, D1 = local_day_bounds(date(2026, 3, 28))  # the day before the 23-h day
D2 = local_day_bounds(date(2026, 3, 29))[1]  # end of the 23-h day


def row(inst, sid, net, prod=0, start_ts=0):
    return SensorRow(inst, sid, "0" * 32, "FL1", "Mains", net, prod, 0, 0, start_ts)


def put_raw(store, sid, start, end, watts):
    ts = np.arange(start, end, 8, dtype=np.int64)
    store.write_raw(sid, ts, np.full(len(ts), float(watts)), 1)
    return ts


def test_day_chunks_cut_at_local_midnight():
    chunks = list(day_chunks(D0 + 3600, D2))
    assert chunks == [(D0 + 3600, D1), (D1, D2)]
    assert D2 - D1 == 23 * 3600


def test_recompute_homes_group_and_rollups(store):
    cfg = ConfigVersion(
        1,
        (
            row("H1", "a", 1),
            row("H1", "pv", -1, -1),
            row("H2", "b", 1),
            row("G", "a", 1),
            row("G", "pv", -1, -1),
            row("G", "b", 1),
        ),
    )
    put_raw(store, "a", D0, D2, 900)
    put_raw(store, "pv", D0, D2, 450)
    put_raw(store, "b", D0, D1 + 3600, 450)  # b stops one hour into the second day
    summary = recompute(store, cfg, None, progress=False)
    assert set(summary["installations"]) == {"G", "H1", "H2"}

    h1 = store.read_power("H1", D0, D2)
    assert len(h1) == (D2 - D0) // 8
    assert np.allclose(h1.p_tot, 450) and np.allclose(h1.p_prod, -450)
    assert np.allclose(h1.p_cons, 900)
    g = store.read_power("G", D0, D2)
    # where b (all of H2) has no data the group goes on with H1 alone, and says so
    both = g.ts < D1 + 3600
    assert g.ts.tolist() == h1.ts.tolist()
    assert np.allclose(g.p_tot[both], 900) and np.allclose(g.p_tot[~both], 450)
    assert set(g.homes[both].tolist()) == {2} and set(g.homes[~both].tolist()) == {1}
    # the homes' own import: H1 imports 450 W, H2 450 W (none exports)
    assert np.allclose(g.p_import, g.p_tot)
    assert summary["installations"]["G"]["missing_slots"] == (D2 - D1 - 3600) // 8
    # the group's rollups count its homes: 2 per slot on day one, then 2 for an hour
    g_days = store.read_rollups("G", 86400, D0, D2)
    assert g_days.columns["homes_n"].tolist() == [2 * 86400 // 8, 2 * 450 + 22 * 3600 // 8]
    assert g_days.columns["homes_min"].tolist() == [2, 1]
    assert g_days.columns["homes_max"].tolist() == [2, 2]
    assert store.read_rollups("H1", 86400, D0, D2).columns["homes_max"].tolist() == [0, 0]

    days = store.read_rollups("H1", 86400, D0, D2)
    assert days.ts.tolist() == [D0, D1]
    assert days.columns["n"].tolist() == [86400 // 8, 23 * 3600 // 8]
    assert days.columns["e_tot_wh"][1] == pytest.approx(450 * 23)
    assert days.columns["e_prod_wh"][0] == pytest.approx(-450 * 24)
    for res in (60, 900, 3600):
        got = store.read_rollups("H1", res, D0, D2)
        want = compute_rollups(h1, res)
        assert got.ts.tolist() == want.ts.tolist()
        assert np.allclose(got.columns["e_cons_wh"], want.columns["e_cons_wh"])
    # idempotent: a second run leaves the same rows
    recompute(store, cfg, None, progress=False)
    again = store.read_power("G", D0, D2)
    assert again.ts.tolist() == g.ts.tolist()
    assert store.get_meta("recompute:G") is None


def test_removed_sensor_influence_disappears(store):
    cfg1 = ConfigVersion(1, (row("H1", "a", 1), row("H1", "b", 1)))
    put_raw(store, "a", D0, D0 + 3600, 100)
    put_raw(store, "b", D0, D0 + 1800, 50)
    recompute(store, cfg1, None, progress=False)
    assert len(store.read_power("H1", D0, D1)) == 1800 // 8
    cfg2 = ConfigVersion(2, (row("H1", "a", 1),))
    recompute(store, cfg2, ["H1"], progress=False)
    p = store.read_power("H1", D0, D1)
    assert len(p) == 3600 // 8 and np.allclose(p.p_tot, 100)
    hours = store.read_rollups("H1", 3600, D0, D1)
    assert hours.columns["e_tot_wh"].tolist() == pytest.approx([100.0])


def test_resumes_from_checkpoint(store):
    cfg = ConfigVersion(7, (row("H1", "a", 1),))
    put_raw(store, "a", D0, D2, 100)
    # a previous run of the same request stopped after the first day
    store.set_meta(
        "recompute:H1", json.dumps({"version": 7, "start": None, "end": None, "done": D1})
    )
    out = recompute(store, cfg, ["H1"], progress=False)
    assert out["installations"]["H1"]["resumed_from"] == D1
    assert out["days"] == 1
    assert store.read_power("H1", D0, D2).ts[0] == D1
    assert store.get_meta("recompute:H1") is None


def test_rollup_range_drops_emptied_buckets(store):
    cfg = ConfigVersion(1, (row("H1", "a", 1),))
    put_raw(store, "a", D0, D0 + 7200, 100)
    recompute(store, cfg, None, progress=False)
    assert len(store.read_rollups("H1", 3600, D0, D1)) == 2
    store.delete_power("H1", D0 + 3600, D0 + 7200)
    rollup_range(store, "H1", D0 + 3600, D0 + 7200)
    assert store.read_rollups("H1", 3600, D0, D1).ts.tolist() == [D0]
    day = store.read_rollups("H1", 86400, D0, D1)
    assert day.columns["n"].tolist() == [450]
