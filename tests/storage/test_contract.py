"""The one contract suite: every Store operation, on both backends (``store`` fixture)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest

from vde.errors import LockedError, StorageError
from vde.models import (
    ROLLUP_FIELDS,
    Alert,
    ConfigVersion,
    MissingInterval,
    PowerSeries,
    RollupBatch,
    SensorRow,
    SyncState,
    User,
)
from vde.storage import SCHEMA_VERSION, TABLES
from vde.timeutil import local_day_bounds

DAY = 86400
T0 = int(datetime(2026, 3, 27, tzinfo=UTC).timestamp())  # two days before the spring DST change


def grid(start: int, end: int, step: int = 8) -> np.ndarray:
    return np.arange(start, end, step, dtype=np.int64)


def power_series(ts: np.ndarray) -> PowerSeries:
    x = ts.astype(np.float64)
    return PowerSeries(ts=ts, p_cons=x % 1000, p_prod=-(x % 300), p_tot=(x % 1000) - (x % 300))


def rollups(res: int, ts: np.ndarray) -> RollupBatch:
    cols = {f: (ts % 97).astype(np.float64) + i for i, f in enumerate(ROLLUP_FIELDS)}
    cols["n"] = (ts % 7).astype(np.int64) + 1
    return RollupBatch(resolution_s=res, ts=ts, columns=cols)


def sensor_row(inst: str, sensor: str, **kw) -> SensorRow:
    base = dict(
        installation_id=inst,
        sensor_id=sensor,
        token="tok" + sensor,
        flm_id="flm1",
        function="grid",
        net=1,
        prod=0,
        cons=1,
        ve=0,
        start_ts=T0,
    )
    base.update(kw)
    return SensorRow(**base)


# --- lifecycle ------------------------------------------------------------------------------


def test_schema_is_created_and_idempotent(store):
    assert store.schema_version() == SCHEMA_VERSION
    store.create_schema()
    store.create_schema(["raw", "meta"])
    info = store.info()
    assert info["backend"] == store.backend
    assert info["schema_version"] == SCHEMA_VERSION
    assert set(info["tables"]) == set(TABLES)
    assert info["tables"]["raw"] == {"rows": 0, "min_ts": None, "max_ts": None}
    assert "password" not in info["url"]


def test_create_unknown_table_is_refused(store):
    with pytest.raises(StorageError, match="unknown table"):
        store.create_schema(["nope"])


def test_info_counts_rows_and_time_ranges(store):
    store.write_raw("s1", grid(T0, T0 + 80), np.ones(10), 1)
    store.write_raw("s2", grid(T0 + DAY, T0 + DAY + 16), np.ones(2), 1)
    store.write_power("i1", power_series(grid(T0, T0 + 24)), 1)
    t = store.info()["tables"]
    assert t["raw"] == {"rows": 12, "min_ts": T0, "max_ts": T0 + DAY + 8}
    assert t["power"] == {"rows": 3, "min_ts": T0, "max_ts": T0 + 16}
    assert t["meta"]["rows"] >= 1


# --- raw ------------------------------------------------------------------------------------


def test_raw_round_trip_and_half_open_range(store):
    ts = grid(T0, T0 + 800)
    p = np.linspace(-50, 3000, len(ts))
    assert store.write_raw("s1", ts, p, 7) == len(ts)
    r = store.read_raw("s1", T0 + 80, T0 + 160)
    assert r.ts.dtype == np.int64 and r.power_w.dtype == np.float64
    np.testing.assert_array_equal(r.ts, ts[10:20])
    np.testing.assert_array_equal(r.power_w, p[10:20])
    assert len(store.read_raw("s1", T0 + 800, T0 + 1000)) == 0
    assert len(store.read_raw("other", T0, T0 + 800)) == 0


def test_raw_upsert_is_idempotent_and_overwrites(store):
    ts = grid(T0, T0 + 80)
    store.write_raw("s1", ts, np.ones(10), 1)
    store.write_raw("s1", ts, np.ones(10), 1)
    store.write_raw("s1", ts[:5], np.full(5, 2.0), 2)
    r = store.read_raw("s1", T0, T0 + 80)
    np.testing.assert_array_equal(r.power_w, [2.0] * 5 + [1.0] * 5)
    assert store.info()["tables"]["raw"]["rows"] == 10


def test_raw_missing_data_is_no_row_never_zero(store):
    ts = grid(T0, T0 + 80)
    p = np.array([1, 2, np.nan, np.nan, 5, 6, 7, 8, 9, 10], dtype=float)
    assert store.write_raw("s1", ts, p, 1) == 8
    r = store.read_raw("s1", T0, T0 + 80)
    np.testing.assert_array_equal(r.ts, np.delete(ts, [2, 3]))
    assert not np.isnan(r.power_w).any() and 0 not in r.power_w


def test_raw_range_across_day_boundaries(store):
    ts = grid(T0 + DAY - 800, T0 + 3 * DAY + 800, 80)
    store.write_raw("s1", ts, ts.astype(float), 1)
    r = store.read_raw("s1", T0, T0 + 4 * DAY)
    np.testing.assert_array_equal(r.ts, ts)
    r = store.read_raw("s1", T0 + DAY - 80, T0 + DAY + 80)
    np.testing.assert_array_equal(r.ts, [T0 + DAY - 80, T0 + DAY])


@pytest.mark.parametrize("day", [date(2026, 3, 29), date(2026, 10, 25)], ids=["spring", "autumn"])
def test_raw_local_day_across_dst_change(store, day):
    start, end = local_day_bounds(day)
    assert end - start in (23 * 3600, 25 * 3600)
    ts = grid(start - 3600, end + 3600)
    store.write_raw("s1", ts, np.ones(len(ts)), 1)
    r = store.read_raw("s1", start, end)
    assert len(r) == (end - start) // 8
    assert r.ts[0] == start and r.ts[-1] == end - 8


def test_raw_delete_bounds_and_sensors(store):
    ts = grid(T0, T0 + 2 * DAY, 800)
    store.write_raw("s1", ts, np.ones(len(ts)), 1)
    store.write_raw("s2", ts[:3], np.ones(3), 1)
    assert store.raw_sensors() == ["s1", "s2"]
    assert store.raw_bounds("s1") == (T0, int(ts[-1]))
    assert store.raw_bounds("nope") is None
    store.delete_raw("s1", T0 + 800, T0 + DAY + 800)
    r = store.read_raw("s1", T0, T0 + 2 * DAY)
    assert r.ts[0] == T0 and r.ts[1] == T0 + DAY + 800
    store.delete_raw("s1", T0, T0 + 800)
    assert store.raw_bounds("s1") == (T0 + DAY + 800, int(ts[-1]))
    store.delete_raw("s2", 0, 2**40)
    assert store.raw_sensors() == ["s1"]


def test_raw_length_mismatch_is_refused(store):
    with pytest.raises(StorageError):
        store.write_raw("s1", grid(T0, T0 + 80), np.ones(3), 1)


# --- power ----------------------------------------------------------------------------------


def test_power_round_trip_upsert_delete(store):
    ts = grid(T0 + DAY - 400, T0 + DAY + 400)
    s = power_series(ts)
    s.p_prod[3] = np.nan  # one column missing stays missing
    assert store.write_power("i1", s, 3) == len(ts)
    store.write_power("i1", s, 3)
    r = store.read_power("i1", T0, T0 + 2 * DAY)
    np.testing.assert_array_equal(r.ts, ts)
    np.testing.assert_array_equal(r.p_cons, s.p_cons)
    np.testing.assert_array_equal(r.p_prod, s.p_prod)  # NaN == NaN for assert_array_equal
    np.testing.assert_array_equal(r.p_tot, s.p_tot)
    assert store.power_installations() == ["i1"]
    assert store.power_bounds("i1") == (int(ts[0]), int(ts[-1]))
    assert store.power_bounds("i2") is None
    store.delete_power("i1", T0 + DAY, T0 + 2 * DAY)
    assert store.power_bounds("i1") == (int(ts[0]), T0 + DAY - 8)
    assert len(store.read_power("i2", T0, T0 + DAY)) == 0


# --- rollups --------------------------------------------------------------------------------


@pytest.mark.parametrize("res", [60, 900, 3600, 86400])
def test_rollups_round_trip_across_partitions(store, res):
    # 400 days: spans months and years whatever the backend's partitioning
    ts = np.arange(T0 - 200 * DAY, T0 + 200 * DAY, max(res, 3 * 3600), dtype=np.int64) // res * res
    ts = np.unique(ts)
    b = rollups(res, ts)
    assert store.write_rollups("i1", b) == len(ts)
    store.write_rollups("i1", b)
    r = store.read_rollups("i1", res, int(ts[0]), int(ts[-1]) + 1)
    assert r.resolution_s == res
    np.testing.assert_array_equal(r.ts, ts)
    assert set(r.columns) == set(ROLLUP_FIELDS)
    assert r.columns["n"].dtype == np.int64
    for f in ROLLUP_FIELDS:
        np.testing.assert_array_equal(r.columns[f], b.columns[f])
    assert len(store.read_rollups("i1", 60 if res != 60 else 900, int(ts[0]), int(ts[-1]) + 1)) == 0
    mid = int(ts[len(ts) // 2])
    store.delete_rollups("i1", res, mid, int(ts[-1]) + 1)
    r = store.read_rollups("i1", res, 0, 2**40)
    np.testing.assert_array_equal(r.ts, ts[ts < mid])


def test_rollups_nan_column_stays_missing(store):
    ts = np.array([T0, T0 + 900], dtype=np.int64)
    b = rollups(900, ts)
    b.columns["p_prod_mean"][1] = np.nan
    store.write_rollups("i1", b)
    r = store.read_rollups("i1", 900, T0, T0 + DAY)
    assert np.isnan(r.columns["p_prod_mean"][1]) and not np.isnan(r.columns["p_prod_mean"][0])


def test_empty_rollup_read(store):
    r = store.read_rollups("i1", 900, T0, T0 + DAY)
    assert len(r) == 0 and set(r.columns) == set(ROLLUP_FIELDS)


# --- configuration --------------------------------------------------------------------------


def test_config_versions(store):
    assert store.load_config() is None and store.config_versions() == []
    v1 = ConfigVersion(1_700_000_000_000_000, (sensor_row("i1", "a"), sensor_row("i1", "b")))
    v2 = ConfigVersion(1_800_000_000_000_000, (sensor_row("i2", "a", net=-1),))
    store.save_config_version(v2)
    store.save_config_version(v1)
    store.save_config_version(v1)
    assert store.config_versions() == [
        (v1.version_id, v1.content_hash()),
        (v2.version_id, v2.content_hash()),
    ]
    assert store.load_config() == v2
    got = store.load_config(v1.version_id)
    assert got is not None and sorted(got.rows, key=lambda r: r.sensor_id) == list(v1.rows)
    assert store.load_config(42) is None


def test_access_and_captions(store):
    assert store.access() == [] and store.captions() == {}
    store.replace_access([("bob", "i2"), ("ann", "i1"), ("ann", "i2")])
    assert store.access() == [("ann", "i1"), ("ann", "i2"), ("bob", "i2")]
    assert store.installations_for("ann") == ["i1", "i2"]
    assert store.installations_for("nobody") == []
    store.replace_access([("bob", "i3")])
    assert store.access() == [("bob", "i3")]
    store.replace_captions({"i1": "Maison 1", "i2": "École"})
    store.replace_captions({"i2": "École", "i3": "Ferme"})
    assert store.captions() == {"i2": "École", "i3": "Ferme"}


# --- missing, sync state --------------------------------------------------------------------


def test_missing_intervals_replace(store):
    a = [
        MissingInterval("s1", T0, T0 + 80, T0 + 100),
        MissingInterval("s1", T0 + 800, T0 + 900, T0 + 1000),
    ]
    store.replace_missing("s1", a)
    store.replace_missing("s2", [MissingInterval("s2", T0, T0 + 8, T0)])
    assert store.missing("s1") == a
    assert [m.sensor_id for m in store.missing()] == ["s1", "s1", "s2"]
    store.replace_missing("s1", a[1:])
    assert store.missing("s1") == a[1:]
    store.replace_missing("s1", [])
    assert store.missing("s1") == [] and len(store.missing()) == 1


def test_sync_state(store):
    assert store.sync_states() == {}
    s = SyncState(
        "s1", last_ts=T0, last_counter_wh=12.5, last_rid=3, last_attempt_ts=T0, points_total=9
    )
    store.put_sync_state(s)
    store.put_sync_state(SyncState("s2", last_error="timeout"))
    assert store.sync_states() == {"s1": s, "s2": SyncState("s2", last_error="timeout")}
    s.points_total = 10
    store.put_sync_state(s)
    assert store.sync_states()["s1"].points_total == 10


# --- alerts, users, meta --------------------------------------------------------------------


def test_alerts(store):
    a1 = Alert(
        "missing:i1:2026-03-28",
        "missing",
        "i1",
        "2026-03-28",
        "2% missing",
        {"share": 0.02},
        "f1",
        created_ts=T0,
    )
    a2 = Alert(
        "sign:i1:2026-03-29",
        "sign",
        "i1",
        "2026-03-29",
        "sign",
        {"w": [1, 2]},
        "f2",
        status="sent",
        sent_ts=T0,
    )
    store.put_alert(a1)
    store.put_alert(a2)
    assert store.alerts() == [a2, a1]
    assert store.alerts(status="pending") == [a1]
    assert store.alerts(since_day="2026-03-29") == [a2]
    a1.status, a1.sent_ts = "sent", T0 + 5
    store.put_alert(a1)
    assert store.alerts(status="pending") == []
    assert store.alerts(status="sent", since_day="2026-01-01") == [a2, a1]


def test_users(store):
    assert store.users() == [] and store.get_user("ann") is None
    u = User("ann", role="admin", password_hash="$argon2id$x", created_ts=T0)
    store.put_user(u)
    store.put_user(User("bob", invite_hash="h", invite_expires_ts=T0 + 10))
    assert store.get_user("ann") == u
    assert [x.login for x in store.users()] == ["ann", "bob"]
    store.delete_user("ann")
    store.delete_user("ann")
    assert [x.login for x in store.users()] == ["bob"]


def test_meta(store):
    assert store.get_meta("k") is None
    store.set_meta("k", "v1")
    store.set_meta("k", "v2")
    assert store.get_meta("k") == "v2"
    store.set_meta("k", None)
    assert store.get_meta("k") is None
    store.set_meta("k", None)


# --- locks ----------------------------------------------------------------------------------


def test_lock_excludes_a_second_holder(store, other_store):
    other = other_store
    with store.lock("sync", ttl_s=60):
        assert not other.try_lock("sync", 60)
        with pytest.raises(LockedError, match="already running"):
            with other.lock("sync"):
                pass
        store.refresh_lock("sync", 60)
    assert other.try_lock("sync", 60)
    with pytest.raises(LockedError):
        store.refresh_lock("sync", 60)
    other.release_lock("sync")
    assert store.try_lock("sync", 60)
    store.release_lock("sync")


def test_lock_of_a_dead_process_is_taken_over(store):
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    p = ctx.Process(target=_take_lock_and_exit, args=(store.url,))
    p.start()
    p.join(60)
    assert p.exitcode == 0
    # the child died holding a 1-hour lease: its pid is gone, so the lease is taken over
    assert store.try_lock("sync", 60)
    store.release_lock("sync")


def _take_lock_and_exit(url: str) -> None:
    from vde.storage import open_store

    s = open_store(url)
    assert s.try_lock("sync", 3600)
    # no release: the process dies holding the lease


def test_expired_lock_is_taken_over(store, other_store):
    import time

    other = other_store
    assert other.try_lock("sync", 1)
    time.sleep(2.1)
    assert store.try_lock("sync", 60)
    store.release_lock("sync")


def test_versions_rollup_keys_and_meta_items(store):
    ts = grid(T0, T0 + 80)
    store.write_raw("s1", ts[:5], np.ones(5), 3)
    store.write_raw("s1", ts[5:], np.ones(5), 4)
    series, versions = store.read_raw_with_version("s1", T0, T0 + DAY)
    np.testing.assert_array_equal(series.ts, ts)
    np.testing.assert_array_equal(versions, [3] * 5 + [4] * 5)
    store.write_power("i1", power_series(ts), 9)
    p, pv = store.read_power_with_version("i1", T0, T0 + DAY)
    assert len(p) == 10 and pv.dtype == np.int64 and set(pv.tolist()) == {9}
    empty, ev = store.read_raw_with_version("nope", T0, T0 + DAY)
    assert len(empty) == 0 and len(ev) == 0
    assert store.rollup_keys() == [] and store.rollup_bounds("i1", 900) is None
    store.write_rollups("i2", rollups(3600, np.array([T0, T0 + 400 * DAY], dtype=np.int64)))
    store.write_rollups("i1", rollups(900, np.array([T0 + 900], dtype=np.int64)))
    assert store.rollup_keys() == [("i1", 900), ("i2", 3600)]
    assert store.rollup_bounds("i2", 3600) == (T0, T0 + 400 * DAY)
    store.set_meta("b", "2")
    store.set_meta("a", "1")
    items = store.meta_items()
    assert items["a"] == "1" and items["b"] == "2" and "schema_version" in items
