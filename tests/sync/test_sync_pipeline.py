"""The sync pipeline against the simulator over real HTTP, on both backends."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from syncenv import BIG, raw_energy, runs, sim_env, snapshot

from vde.errors import LockedError, NotFoundError
from vde.simulator import Faults, Fleet, Offline, Reset
from vde.storage import open_store
from vde.sync.windows import Window, compute_window, merge_missing
from vde.timeutil import local_day_bounds

H = 3600
DAY = 86400
T0 = 1_790_000_000 - 1_790_000_000 % DAY  # a UTC midnight in September 2026


def fleet(now: int, start: int = T0, homes: int = 2, seed: int = 0) -> Fleet:
    return Fleet.generate(homes=homes, seed=seed, start_ts=start, now_ts=now)


def assert_sensor_truth(env, *, rel: float = 1e-6) -> None:
    """Every contiguous run of raw rows carries exactly the simulator's energy."""
    for sid in env.config.sensors():
        raw = env.store.read_raw(sid, 0, BIG)
        assert len(raw) > 0, sid
        assert np.all(raw.power_w >= 0), sid
        for a, b in runs(raw.ts):
            got = raw_energy(env.store, sid, a, b)
            assert got == pytest.approx(env.fleet.energy_truth(sid, a, b), rel=rel, abs=1e-6)


def test_fleet_synced_over_days_equals_ground_truth(store, tmp_path):
    f = fleet(now=T0 + 6 * H)
    with sim_env(store, tmp_path, f) as env:
        first = env.sync()
        assert first.ok and first.summary()["raw_rows"] > 0
        for _ in range(7):  # two simulated days in 6-h steps
            f.advance(6 * H)
            rep = env.sync()
            assert rep.ok, rep.failed
        assert_sensor_truth(env)
        assert store.missing() == []

        # installation power: energy per installation = signs x ground truth per sensor
        cfg = env.config
        for inst in cfg.installations():
            p = store.read_power(inst, 0, BIG)
            (a, b), *rest = runs(p.ts)
            assert rest == [] and b - a > 2 * DAY - 10 * 60
            rows = cfg.rows_of(inst)
            if p.homes is None:  # a home (a group is checked against its homes below)
                e_tot = sum(r.net * f.energy_truth(r.sensor_id, a, b) for r in rows if r.net)
                e_prod = sum(r.prod * f.energy_truth(r.sensor_id, a, b) for r in rows if r.prod)
                assert p.p_tot.sum() * 8 / 3600 == pytest.approx(e_tot, rel=1e-6, abs=1e-3)
                assert p.p_prod.sum() * 8 / 3600 == pytest.approx(e_prod, rel=1e-6, abs=1e-3)
            # rollups agree with the 8-s power, at every resolution
            for res in (60, 3600, 86400):
                roll = store.read_rollups(inst, res, 0, BIG)
                assert roll.columns["n"].sum() == len(p)
                assert roll.columns["e_tot_wh"].sum() == pytest.approx(p.p_tot.sum() * 8 / 3600)

        # group power is the sum of the homes that have each slot, and counts them; a slot
        # shows when at least one home has it
        homes = {h: store.read_power(h, 0, BIG) for h in f.homes}
        group = store.read_power("CDBZ01", 0, BIG)
        total = np.zeros(len(group))
        count = np.zeros(len(group), np.int64)
        for h in homes.values():
            idx = np.minimum(np.searchsorted(h.ts, group.ts), len(h) - 1)
            has = h.ts[idx] == group.ts
            total += np.where(has, h.p_tot[idx], 0.0)
            count += has
        assert np.allclose(group.p_tot, total, atol=1e-6)
        assert group.homes.tolist() == count.tolist() and count.min() >= 1
        assert set(group.ts.tolist()) == set().union(*(set(h.ts.tolist()) for h in homes.values()))

        # a second sync at the same instant changes nothing
        before = snapshot(store, cfg)
        again = env.sync()
        assert again.ok and again.summary()["raw_rows"] == 0 and again.summary()["points"] == 0
        assert snapshot(store, cfg) == before
        states = store.sync_states()
        assert set(states) == set(cfg.sensors())
        assert all(s.last_error is None and s.last_success_ts == f.now for s in states.values())


# storage-independent sync logic: idempotent writes on both backends are the contract suite's
@pytest.mark.backends("sqlite")
def test_incremental_syncs_equal_one_clean_sync(store, tmp_path):
    f = fleet(now=T0 + 5 * H)
    with sim_env(store, tmp_path / "a", f) as env:
        env.sync()
        for step in (17 * 60, 3 * H, 5 * 60, 7 * H + 13):
            f.advance(step)
            assert env.sync().ok
        stepped = snapshot(store, env.config)
    other = open_store(f"sqlite:///{tmp_path / 'clean.db'}")
    other.create_schema()
    with sim_env(other, tmp_path / "b", f) as clean:
        assert clean.sync().ok
        one_shot = snapshot(other, clean.config)
    other.close()
    assert stepped == one_shot


# bucketing is processing; rollup storage on both backends is the contract suite's
@pytest.mark.backends("sqlite")
@pytest.mark.parametrize(
    ("day", "hours"), [(date(2026, 3, 29), 23), (date(2026, 10, 25), 25)], ids=["23h", "25h"]
)
def test_dst_day_buckets(store, tmp_path, day, hours):
    d0, d1 = local_day_bounds(day)
    f = fleet(now=d1 + H, start=d0 - 2 * H)
    with sim_env(store, tmp_path, f) as env:
        assert env.sync().ok
        for inst in env.config.installations():
            days = store.read_rollups(inst, 86400, d0 - DAY, d1 + DAY)
            assert d0 in days.ts.tolist() and d1 in days.ts.tolist()
            i = days.ts.tolist().index(d0)
            assert days.columns["n"][i] == hours * 450
            hrs = store.read_rollups(inst, 3600, d0, d1)
            assert len(hrs) == hours
            assert days.columns["e_tot_wh"][i] == pytest.approx(hrs.columns["e_tot_wh"].sum())
            p = store.read_power(inst, d0, d1)
            # a group's import is its homes' own (what their meters count)
            imp = np.maximum(p.p_tot, 0) if p.p_import is None else p.p_import
            assert days.columns["e_import_wh"][i] == pytest.approx(imp.sum() * 8 / 3600)


def test_outage_then_late_upload_is_filled(store, tmp_path):
    f0 = fleet(now=T0)
    sid = next(s.sensor_id for s in f0.sensors if s.function == "Mains" and s.home_id == "CDB002")
    off = Offline(sid, T0 + 4 * H, T0 + 9 * H, 3 * H)  # 5 h hidden, uploaded 3 h after
    f = fleet(now=T0 + 10 * H)
    with sim_env(store, tmp_path, f, Faults(offline=(off,))) as env:
        rep = env.sync()
        assert rep.ok
        # the counters on both sides prove the outage's energy: stored flat, estimated,
        # and kept to re-fetch; nothing is missing
        assert store.missing(sid) == []
        (g,) = store.estimated_intervals(sid)
        # the meter hides whole 256-s blocks; points are at most 30 s apart
        assert off.start_ts - 256 - 30 <= g.start_ts <= off.start_ts
        assert off.end_ts <= g.end_ts <= off.end_ts + 256 + 30
        raw = store.read_raw(sid, g.start_ts, g.end_ts)
        assert len(raw) == (g.end_ts - g.start_ts) // 8 and raw.estimated.all()
        assert raw_energy(store, sid, g.start_ts, g.end_ts) == pytest.approx(
            f.energy_truth(sid, g.start_ts, g.end_ts), rel=1e-6
        )
        # the home and its groups count the slots as estimated; CDB001 does not
        for inst in ("CDB002", "CDBA02", "CDBZ01"):
            p = store.read_power(inst, off.start_ts, off.end_ts)
            assert len(p) == (off.end_ts - off.start_ts) // 8 and p.estimated.all()
        assert not store.read_power("CDB001", off.start_ts, off.end_ts).estimated.any()
        f.advance(3 * H)  # the late upload happens
        rep = env.sync()
        assert rep.ok and next(r for r in rep.sensors if r.sensor_id == sid).estimated == 0
        assert store.missing(sid) == [] and store.estimated_intervals(sid) == []
        assert not store.read_raw(sid, 0, BIG).estimated.any()
        assert_sensor_truth(env)
        p = store.read_power("CDBZ01", 0, BIG)
        assert len(runs(p.ts)) == 1 and not p.estimated.any()


def test_old_estimated_intervals_are_no_longer_fetched(store, tmp_path):
    f0 = fleet(now=T0)
    sid = f0.sensors[1].sensor_id
    off = Offline(sid, T0 + 2 * H, T0 + 7 * H, 2 * H)
    f = fleet(now=T0 + 8 * H)
    with sim_env(store, tmp_path, f, Faults(offline=(off,)), retry_horizon=3 * H) as env:
        env.sync()
        assert len(store.estimated_intervals(sid)) == 1
        f.advance(6 * H)  # uploaded, but the interval is older than the retry horizon now
        env.sync()
        assert store.estimated_intervals(sid) == [] and store.missing(sid) == []
        # the flat bridge stays (energy proven), flagged estimated
        raw = store.read_raw(sid, off.start_ts + 600, off.end_ts - 600)
        assert len(raw) > 0 and raw.estimated.all()
        assert np.ptp(raw.power_w) < 1e-6


def test_counter_reset_never_spikes(store, tmp_path):
    f0 = fleet(now=T0)
    sid = next(s.sensor_id for s in f0.sensors if s.meter == "pulse")
    f = fleet(now=T0 + 12 * H)
    with sim_env(store, tmp_path, f, Faults(resets=(Reset(sid, T0 + 5 * H),))) as env:
        assert env.sync().ok
        raw = store.read_raw(sid, 0, BIG)
        assert np.all(raw.power_w >= 0) and raw.power_w.max() < 20_000
        assert len(runs(raw.ts)) == 2  # broken at the reset, nothing invented across it
        assert_sensor_truth(env)


# the decoder's work: nothing backend-specific is stored
@pytest.mark.backends("sqlite")
def test_corrupt_blocks_keep_what_is_certain(store, tmp_path):
    f = fleet(now=T0 + 3 * DAY)
    with sim_env(store, tmp_path, f, Faults(defects=frozenset({"all"}))) as env:
        rep = env.sync()
        assert rep.ok
        assert rep.summary()["block_issues"] > 0
        for sid in env.config.sensors():
            raw = store.read_raw(sid, 0, BIG)
            assert np.all(raw.power_w >= 0)
            a, b = int(raw.ts[0]), int(raw.ts[-1]) + 8
            missing = [(max(a, m.start_ts), min(b, m.end_ts)) for m in store.missing(sid)]
            missing = [(x, y) for x, y in missing if y > x]
            # raw energy plus the truth of the intervals left missing is the whole truth:
            # energy is neither lost nor invented (only the slot at a gap's edge may differ)
            got = raw_energy(store, sid, a, b) + sum(f.energy_truth(sid, x, y) for x, y in missing)
            assert got == pytest.approx(f.energy_truth(sid, a, b), rel=1e-3, abs=40 * len(missing))


def test_server_errors_are_retried(store, tmp_path):
    f = fleet(now=T0 + 8 * H)
    with sim_env(store, tmp_path, f, Faults(burst500=0.3, drop=0.05, truncate=0.1, seed=3)) as env:
        rep = env.sync()
        assert rep.ok, rep.failed
        assert_sensor_truth(env)


def test_one_failing_sensor_does_not_stop_the_others(store, tmp_path):
    f = fleet(now=T0 + 6 * H)
    bad, down = f.sensors_of("CDB002")[:2]
    faults = Faults(
        wrongtoken=frozenset({bad.sensor_id}),
        burst500=1.0,
        request_sensors=frozenset({down.sensor_id}),
    )
    with sim_env(store, tmp_path, f, faults, flukso_retries=1) as env:
        rep = env.sync()
        assert not rep.ok
        failed = {r.sensor_id: r.reason for r in rep.failed}
        assert set(failed) == {bad.sensor_id, down.sensor_id}
        assert "401" in failed[bad.sensor_id]
        assert "HTTP 50" in failed[down.sensor_id]
        text = str(rep.to_dict())
        assert bad.token not in text and down.token not in text
        ok = [r for r in rep.sensors if r.ok]
        assert len(ok) == len(env.config.sensors()) - 2 and all(r.rows > 0 for r in ok)
        states = store.sync_states()
        assert "401" in states[bad.sensor_id].last_error
        assert states[bad.sensor_id].last_ts is None
        assert bad.token not in states[bad.sensor_id].last_error
        # the installations of the failed sensors have no power; the others do
        assert len(store.read_power(bad.home_id, 0, BIG)) == 0
        assert len(store.read_power("CDB001", 0, BIG)) > 0


def test_manual_window_rewrites_exactly_that_window(store, tmp_path):
    f = fleet(now=T0 + 12 * H)
    with sim_env(store, tmp_path, f) as env:
        env.sync()
        good = snapshot(store, env.config)
        sid = f.sensors_of("CDB001")[0].sensor_id
        # damage the stored data in and around a window
        store.delete_raw(sid, T0 + 3 * H, T0 + 5 * H)
        ts = np.arange(T0 + 5 * H, T0 + 6 * H, 8)
        store.write_raw(sid, ts, np.full(len(ts), 123456.0), 1)
        rep = env.sync(since=T0 + 2 * H, until=T0 + 7 * H, installations=["CDB001"])
        assert rep.ok and rep.mode == "manual"
        assert [r.sensor_id for r in rep.sensors] == [s.sensor_id for s in f.sensors_of("CDB001")]
        assert snapshot(store, env.config) == good
        with pytest.raises(NotFoundError):
            env.sync(installations=["NOPE"])


def test_a_second_sync_is_refused_while_one_runs(store, tmp_path):
    f = fleet(now=T0 + H)
    with sim_env(store, tmp_path, f) as env:
        holder = open_store(store.url) if store.backend == "sqlite" else None
        if holder is None:  # Cassandra: a second session on the same keyspace
            holder = open_store(store.url)
        try:
            assert holder.try_lock("sync", 600)
            with pytest.raises(LockedError):
                env.sync()
        finally:
            holder.release_lock("sync")
            holder.close()
        assert env.sync().ok


def test_compute_window_and_merge_missing_are_pure():
    ts = np.array([0, 8, 16, 20000, 20008, 20016], np.int64)
    c = np.array([0.0, 1, 2, 50, 51, 52])
    rid = np.zeros(6, np.int64)
    r = compute_window(Window("new", 0, None, 0), ts, c, rid, gap_threshold=14400)
    # the counters at 16 and 20000 prove the span: bridged, estimated, not missing
    assert r.gaps == [] and r.covered == (0, None)
    assert r.estimated == [(16, 20000)] and r.proven_spans == 1
    rid[3:] = 1  # a new recycle id: nothing proves the span
    r = compute_window(Window("new", 0, None, 0), ts, c, rid, gap_threshold=14400)
    assert r.gaps == [(16, 20000)] and r.estimated == []
    from vde.models import MissingInterval

    old = [MissingInterval("s", 16, 20000, 5)]
    w = Window("retry", 16, 20000, 16 - 14408, found_ts=5)
    full_ts = np.arange(0, 20024, 8)
    full = compute_window(
        w, full_ts, full_ts / 8.0, np.zeros(len(full_ts), np.int64), gap_threshold=14400
    )
    assert full.gaps == [] and len(full.raw) == (20000 - 16) // 8
    assert merge_missing(old, [full], "s", 99) == []
    partial = compute_window(w, ts, c, rid, gap_threshold=14400)
    assert merge_missing(old, [partial], "s", 99) == old
