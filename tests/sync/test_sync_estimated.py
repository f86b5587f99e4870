"""Proven energy is never dropped, and late data replaces estimates (simulator, both backends)."""

from __future__ import annotations

import numpy as np
import pytest
from syncenv import BIG, raw_energy, runs, sim_env

from vde.simulator import ClockJump, Faults, Fleet, Offline

H = 3600
DAY = 86400
T0 = 1_790_000_000 - 1_790_000_000 % DAY  # a UTC midnight in September 2026
DEFECTS = Faults(defects=frozenset({"all"}))


def fleet(now: int, start: int = T0, homes: int = 2) -> Fleet:
    return Fleet.generate(homes=homes, seed=0, start_ts=start, now_ts=now)


def stored_share(env) -> float:
    """Stored energy / true energy between each sensor's first and last point."""
    got = true = 0.0
    for sid in env.config.sensors():
        ts, _, _ = env.fleet.counter_truth(sid, 0, env.fleet.now)
        true += env.fleet.energy_truth(sid, int(ts[0]), int(ts[-1]))
        got += raw_energy(env.store, sid, 0, BIG)
    return got / true


# estimated flags on both backends: tests/storage/test_estimated.py
@pytest.mark.backends("sqlite")
def test_defective_blocks_keep_every_proven_wh(store, tmp_path):
    f = fleet(now=T0 + 3 * DAY)
    with sim_env(store, tmp_path, f, DEFECTS) as env:
        rep = env.sync()
        assert rep.ok and rep.summary()["block_issues"] > 0
        assert rep.summary()["proven_spans"] > 0  # head..tail spans longer than 4 h
        assert stored_share(env) >= 0.999
        assert store.missing() == []
        for sid in env.config.sensors():
            raw = store.read_raw(sid, 0, BIG)
            assert len(runs(raw.ts)) == 1 and np.all(raw.power_w >= 0)
        # every day of every installation is complete, its estimated slots counted
        n_est = 0
        for inst in env.config.installations():
            p = store.read_power(inst, 0, BIG)
            assert len(runs(p.ts)) == 1
            days = store.read_rollups(inst, DAY, 0, BIG)
            assert len(days) == 4  # local days: 22 h, two whole ones, 2 h
            assert days.columns["n"][1:3].tolist() == [10800, 10800]
            assert days.columns["estimated"].sum() == np.count_nonzero(p.estimated)
            for res in (60, 900, 3600):
                roll = store.read_rollups(inst, res, 0, BIG)
                assert roll.columns["estimated"].sum() == np.count_nonzero(p.estimated)
                assert np.all(roll.columns["estimated"] <= roll.columns["n"])
            n_est += int(np.count_nonzero(p.estimated))
        assert n_est > 0


# the block cache is a file of its own, whatever the store
@pytest.mark.backends("sqlite")
def test_a_retry_never_downloads_a_block_that_cannot_change(store, tmp_path):
    f = fleet(now=T0 + 2 * DAY)
    with sim_env(store, tmp_path, f, DEFECTS) as env:
        first = env.sync()
        assert first.summary()["blocks_downloaded"] > 0
        assert store.estimated_intervals() != []  # the defective spans are retried...
        before = env.server.stats.count("block", 200)
        again = env.sync()
        # ...but their closed blocks stay cached: nothing is downloaded again
        assert again.ok and again.summary()["blocks_downloaded"] == 0
        assert env.server.stats.count("block", 200) == before


def test_a_bridge_is_estimated_then_replaced_by_the_late_points(store, tmp_path):
    f0 = fleet(now=T0)
    sid = next(s.sensor_id for s in f0.sensors if s.function == "Mains" and s.home_id == "CDB001")
    off = Offline(sid, T0 + 5 * H, T0 + 7 * H, H)  # 2 h: within the gap threshold
    f = fleet(now=T0 + 8 * H)
    with sim_env(store, tmp_path, f, Faults(offline=(off,))) as env:
        assert env.sync().ok
        (est,) = store.estimated_intervals(sid)
        flat = store.read_raw(sid, est.start_ts, est.end_ts)
        assert flat.estimated.all() and np.ptp(flat.power_w[1:-1]) < 1e-6
        f.advance(2 * H)  # the meter uploads its backlog
        assert env.sync().ok
        real = store.read_raw(sid, est.start_ts, est.end_ts)
        assert not real.estimated.any() and store.estimated_intervals(sid) == []
        assert np.ptp(real.power_w) > 10  # the meter's own shape, not a flat line
        for a, b in runs(real.ts):
            assert raw_energy(store, sid, a, b) == pytest.approx(
                f.energy_truth(sid, a, b), rel=1e-6
            )
        for res in (900, DAY):
            roll = store.read_rollups("CDB001", res, 0, BIG)
            assert roll.columns["estimated"].sum() == 0


def test_manual_window_before_the_first_data_records_nothing_missing(store, tmp_path):
    f = fleet(now=T0 + 12 * H)
    with sim_env(store, tmp_path, f) as env:
        rep = env.sync(since=T0 - DAY, until=T0 + 12 * H)
        assert rep.ok and rep.mode == "manual"
        assert store.missing() == []
        for sid in env.config.sensors():
            raw = store.read_raw(sid, 0, BIG)
            assert len(runs(raw.ts)) == 1 and raw.ts[0] < T0 + 60


def test_backward_clock_jump_never_spikes(store, tmp_path):
    f0 = fleet(now=T0)
    sid = next(s.sensor_id for s in f0.sensors if s.meter == "clamp" and s.kind == "mains")
    jump = ClockJump(sid, T0 + 5 * H, -900)  # the meter's clock goes back 15 min
    f = fleet(now=T0 + 10 * H)
    with sim_env(store, tmp_path, f, Faults(clockjumps=(jump,))) as env:
        rep = env.sync()
        assert rep.ok
        assert next(r for r in rep.sensors if r.sensor_id == sid).clock_jumps == 1
        raw = store.read_raw(sid, 0, BIG)
        # no 8-s slot far above what the home draws around it
        near = raw.power_w[(raw.ts > jump.ts - 2 * H) & (raw.ts < jump.ts + 2 * H)]
        assert raw.power_w.max() < 3 * np.percentile(near, 99)
        # energy conserved: every run holds what the counter says
        for a, b in runs(raw.ts):
            assert raw_energy(store, sid, a, b) == pytest.approx(
                f.energy_truth(sid, a, b), rel=1e-6
            )
