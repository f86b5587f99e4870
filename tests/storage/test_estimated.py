"""Estimated flags and intervals in storage, on both backends (``store`` fixture)."""

from __future__ import annotations

import sqlite3

import numpy as np

from vde.models import ROLLUP_FIELDS, MissingInterval, PowerSeries, RollupBatch
from vde.storage import open_store
from vde.storage.common import PACKED_FIELDS

T0 = 1_790_000_000 - 1_790_000_000 % 86400


def test_raw_rows_keep_their_estimated_flag(store):
    ts = np.arange(T0, T0 + 3 * 86400, 8, dtype=np.int64)  # three day partitions
    est = (ts // 1000) % 3 == 0
    store.write_raw("s1", ts, np.full(len(ts), 100.0), 1, est)
    raw = store.read_raw("s1", T0, T0 + 3 * 86400)
    assert raw.ts.tolist() == ts.tolist() and raw.estimated.tolist() == est.tolist()
    # rewriting measured rows over estimated ones clears the flag (the real shape arrived)
    store.write_raw("s1", ts[:100], np.full(100, 50.0), 1)
    again = store.read_raw("s1", T0, T0 + 800)
    assert not again.estimated.any() and again.power_w.tolist() == [50.0] * 100
    # the flag travels with the version column too (migrate)
    with_version, versions = store.read_raw_with_version("s1", T0, T0 + 3 * 86400)
    assert with_version.estimated.tolist() == [False] * 100 + est[100:].tolist()
    assert versions.tolist() == [1] * len(ts)


def test_power_rows_keep_their_estimated_slots(store):
    ts = np.arange(T0, T0 + 7200, 8, dtype=np.int64)
    x = ts.astype(np.float64)
    est = (ts % 64) == 0
    store.write_power("i1", PowerSeries(ts, x % 10, -(x % 3), x % 10 - x % 3, est), 4)
    p = store.read_power("i1", T0, T0 + 7200)
    assert p.estimated.tolist() == est.tolist()
    assert 0 < np.count_nonzero(p.estimated) < len(ts)
    # a series built without flags stores measured rows
    store.write_power("i2", PowerSeries(ts, x, x * 0, x), 4)
    assert not store.read_power("i2", T0, T0 + 7200).estimated.any()


def test_rollups_carry_estimated_counts(store):
    ts = np.arange(T0, T0 + 10 * 900, 900, dtype=np.int64)
    cols = {f: np.arange(len(ts), dtype=np.float64) + i for i, f in enumerate(ROLLUP_FIELDS)}
    cols["n"] = np.full(len(ts), 112, np.int64)
    cols["estimated"] = np.arange(len(ts), dtype=np.int64) * 11
    store.write_rollups("i1", RollupBatch(900, ts, cols))
    got = store.read_rollups("i1", 900, T0, T0 + 86400)
    assert got.columns["estimated"].dtype == np.int64
    assert got.columns["estimated"].tolist() == cols["estimated"].tolist()


def test_estimated_intervals_are_replaced_per_sensor(store):
    a = [
        MissingInterval("s1", T0, T0 + 800, T0 + 5),
        MissingInterval("s1", T0 + 1600, T0 + 2400, 9),
    ]
    b = [MissingInterval("s2", T0, T0 + 80, T0)]
    store.replace_estimated("s1", a)
    store.replace_estimated("s2", b)
    assert store.estimated_intervals("s1") == a
    assert store.estimated_intervals() == a + b
    store.replace_estimated("s1", a[1:])
    assert store.estimated_intervals() == a[1:] + b
    assert store.missing() == []  # a separate list: never reported as missing data
    store.replace_estimated("s1", [])
    assert store.estimated_intervals("s1") == []


def test_create_schema_adds_the_new_columns_to_an_older_sqlite_file(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE raw (sensor_id TEXT NOT NULL, ts INTEGER NOT NULL, power_w REAL,"
        " config_version INTEGER, inserted_ts INTEGER, PRIMARY KEY (sensor_id, ts)) WITHOUT ROWID"
    )
    db.execute(
        "CREATE TABLE power (installation_id TEXT NOT NULL, ts INTEGER NOT NULL,"
        " p_cons REAL, p_prod REAL, p_tot REAL, config_version INTEGER, inserted_ts INTEGER,"
        " PRIMARY KEY (installation_id, ts)) WITHOUT ROWID"
    )
    db.execute("INSERT INTO raw VALUES ('s1', ?, 12.5, 1, 0)", (T0,))
    db.execute(
        "CREATE TABLE power_rollup (installation_id TEXT NOT NULL, resolution_s INTEGER NOT NULL,"
        " ts INTEGER NOT NULL, n INTEGER, v BLOB, PRIMARY KEY (installation_id, resolution_s, ts))"
        " WITHOUT ROWID"
    )
    # a bucket packed before ``estimated`` was a field: the fields from it on missing
    old = np.arange(PACKED_FIELDS.index("estimated"), dtype="<f8")
    old[0], old[1] = T0, 450
    db.execute("INSERT INTO power_rollup VALUES ('i1', 3600, ?, 450, ?)", (T0, old.tobytes()))
    db.commit()
    db.close()
    with open_store(f"sqlite:///{path}") as store:
        store.create_schema()
        store.create_schema()  # idempotent
        raw = store.read_raw("s1", T0, T0 + 8)
        assert raw.power_w.tolist() == [12.5] and raw.estimated.tolist() == [False]
        store.write_raw("s1", np.array([T0 + 8]), np.array([1.0]), 1, np.array([True]))
        assert store.read_raw("s1", T0, T0 + 16).estimated.tolist() == [False, True]
        ts = np.array([T0], np.int64)
        store.write_power("i1", PowerSeries(ts, ts * 0.0, ts * 0.0, ts * 0.0, ts > 0), 1)
        assert store.read_power("i1", T0, T0 + 8).estimated.tolist() == [True]
        roll = store.read_rollups("i1", 3600, T0, T0 + 3600)
        assert roll.columns["n"].tolist() == [450] and roll.columns["estimated"].tolist() == [0]


def test_create_schema_adds_the_new_columns_to_an_older_keyspace(cassandra_store):
    store = cassandra_store
    for table in ("raw", "power"):
        store._session.execute(f"ALTER TABLE {store.keyspace}.{table} DROP estimated")
    store._prepared.clear()  # statements prepared against the old columns
    store.create_schema()
    store._prepared.clear()
    ts = np.array([T0, T0 + 8], np.int64)
    store.write_raw("s1", ts, np.array([1.0, 2.0]), 1, np.array([False, True]))
    assert store.read_raw("s1", T0, T0 + 16).estimated.tolist() == [False, True]
    store.write_power("i1", PowerSeries(ts, ts * 0.0, ts * 0.0, ts * 0.0, ts > T0), 1)
    assert store.read_power("i1", T0, T0 + 16).estimated.tolist() == [False, True]
