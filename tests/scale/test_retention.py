"""Retention on both backends: old 8-s rows go once rolled up, rollups and long views stay."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sync"))
from syncenv import BIG, sim_env

from vde.alerts.run import run_alerts
from vde.models import ROLLUP_RESOLUTIONS
from vde.simulator import Fleet
from vde.sync.recompute import recompute
from vde.sync.retention import RAW_PRUNED_META, prune, pruned_before
from vde.web.series import read_chart

H = 3600
DAY = 86400
T0 = 1_790_000_000 - 1_790_000_000 % DAY


def _rollups(store, config) -> dict:
    out = {}
    for inst in config.installations():
        for res in ROLLUP_RESOLUTIONS:
            b = store.read_rollups(inst, res, 0, BIG)
            out[(inst, res)] = (b.ts.tolist(), np.round(b.columns["e_tot_wh"], 6).tolist())
    return out


def test_prune_keeps_rollups_and_long_views_and_recompute_respects_it(store, tmp_path):
    f = Fleet.generate(homes=2, seed=3, start_ts=T0, now_ts=T0 + 3 * DAY + 6 * H)
    with sim_env(store, tmp_path, f) as env:
        env.sync()
    cfg = env.config
    alerts_before = run_alerts(store, env.settings, dry_run=True, now_ts=f.now).to_json()
    assert alerts_before["checked"] == len(cfg.installations())
    before = _rollups(store, cfg)
    inst = cfg.installations()[0]
    chart_before = read_chart(store, inst, T0, f.now, 3600)
    sensors = sorted(store.raw_sensors())
    power_first = {i: store.power_bounds(i)[0] for i in store.power_installations()}

    rep = prune(store, cfg, raw_retention=2 * DAY, power_retention=2 * DAY, now_ts=f.now)

    cutoff = ((f.now - 2 * DAY) // DAY) * DAY
    assert set(rep.raw) == set(sensors) and all(v == cutoff for v in rep.raw.values())
    for sid in sensors:
        first, _ = store.raw_bounds(sid)
        assert first >= cutoff
        assert len(store.read_raw(sid, 0, cutoff)) == 0
        assert len(store.read_raw(sid, cutoff, f.now)) > 0  # younger rows stay
    for i, first in power_first.items():
        assert first < cutoff <= store.power_bounds(i)[0]
    assert int(store.get_meta(RAW_PRUNED_META)) == cutoff and pruned_before(store) == cutoff
    # rollups are kept whole, and a long chart (hourly rollups) is the same as before
    assert _rollups(store, cfg) == before
    chart_after = read_chart(store, inst, T0, f.now, 3600)
    np.testing.assert_array_equal(chart_before.ts, chart_after.ts)
    np.testing.assert_allclose(chart_before.p_tot, chart_after.p_tot, equal_nan=True)
    # a full recompute (as after a configuration import) starts at the pruned floor and
    # so leaves the rollups of the pruned range as they were
    recompute(store, cfg, None, progress=False)
    assert _rollups(store, cfg) == before
    # a second prune has nothing left to do
    again = prune(store, cfg, raw_retention=2 * DAY, power_retention=2 * DAY, now_ts=f.now)
    assert again.raw == {} and again.power == {}
    # the daily alert run (yesterday, inside the retention) finds the same as before
    assert run_alerts(store, env.settings, dry_run=True, now_ts=f.now).to_json() == alerts_before


def test_rows_without_rollups_are_kept(store, tmp_path):
    f = Fleet.generate(homes=1, seed=4, start_ts=T0, now_ts=T0 + DAY + 4 * H)
    with sim_env(store, tmp_path, f) as env:
        env.sync()
    cfg = env.config
    sid = sorted(store.raw_sensors())[0]
    for inst in cfg.installations():
        store.delete_rollups(inst, 60, 0, BIG)  # nothing proves the raw rows rolled up
    n_before = len(store.read_raw(sid, 0, BIG))
    rep = prune(store, cfg, raw_retention=H, power_retention=H, now_ts=f.now)
    assert rep.raw == {} and rep.power == {}
    assert f"raw:{sid}" in rep.kept
    assert len(store.read_raw(sid, 0, BIG)) == n_before
    # retention 0 keeps everything even when rolled up
    assert prune(store, cfg, raw_retention=0, power_retention=0, now_ts=f.now).raw == {}


def test_sync_prunes_when_retention_is_set(store, tmp_path):
    f = Fleet.generate(homes=1, seed=5, start_ts=T0, now_ts=T0 + 2 * DAY + 2 * H)
    with sim_env(store, tmp_path, f, raw_retention=DAY) as env:
        env.sync()
    cutoff = ((f.now - DAY) // DAY) * DAY
    for sid in store.raw_sensors():
        assert store.raw_bounds(sid)[0] >= cutoff
    for inst in env.config.installations():
        assert store.rollup_bounds(inst, 60)[0] < cutoff  # rollups reach before it
        assert store.power_bounds(inst)[0] < cutoff  # power_retention 0: power kept
