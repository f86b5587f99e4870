"""A group's stored power counts its member homes per slot, on both backends (``store``
fixture); rollup buckets carry the counts; older databases get the columns on
``create_schema``."""

from __future__ import annotations

import sqlite3

import numpy as np

from vde.models import PowerSeries
from vde.processing.rollups import compute_rollups
from vde.storage import open_store

T0 = 1_790_000_000 - 1_790_000_000 % 86400


def _group(ts: np.ndarray) -> PowerSeries:
    x = ts.astype(np.float64)
    tot = (x % 700) - 300
    s = PowerSeries(ts, tot + 200, np.full(len(ts), -200.0), tot)
    s.homes = ((ts // 8) % 12 + 1).astype(np.int64)
    s.p_import = np.maximum(tot, 0.0) + (x % 50)
    return s


def test_group_rows_keep_their_homes_and_own_import(store):
    ts = np.arange(T0 - 3600, T0 + 3600, 8, dtype=np.int64)  # two day partitions
    g = _group(ts)
    assert store.write_power("G1", g, 3) == len(ts)
    p = store.read_power("G1", T0 - 3600, T0 + 3600)
    assert p.ts.tolist() == ts.tolist()
    assert p.homes.dtype == np.int64 and p.homes.tolist() == g.homes.tolist()
    assert np.allclose(p.p_import, g.p_import) and np.allclose(p.p_tot, g.p_tot)
    with_version, versions = store.read_power_with_version("G1", T0, T0 + 80)
    assert with_version.homes.tolist() == g.homes[450:460].tolist()
    assert set(versions.tolist()) == {3}
    # a home's rows count no homes: None, as written
    store.write_power("H1", PowerSeries(ts, ts * 0.0 + 1, ts * 0.0, ts * 0.0 + 1), 3)
    h = store.read_power("H1", T0 - 3600, T0 + 3600)
    assert h.homes is None and h.p_import is None
    # deleting keeps the others' counts
    store.delete_power("G1", T0 - 3600, T0)
    rest = store.read_power("G1", T0 - 3600, T0 + 3600)
    assert rest.homes.tolist() == g.homes[450:].tolist()


def test_group_rollups_keep_their_home_counts(store):
    ts = np.arange(T0, T0 + 7200, 8, dtype=np.int64)
    g = _group(ts)
    batch = compute_rollups(g, 3600)
    store.write_rollups("G1", batch)
    r = store.read_rollups("G1", 3600, T0, T0 + 7200)
    for f in ("homes_n", "homes_min", "homes_max"):
        assert r.columns[f].dtype == np.int64
        assert r.columns[f].tolist() == batch.columns[f].tolist(), f
    assert r.columns["homes_n"].sum() == g.homes.sum()
    assert r.columns["homes_min"].tolist() == [1, 1] and r.columns["homes_max"].tolist() == [12, 12]
    assert r.columns["e_import_wh"].sum() == np.float64(g.p_import.sum() * 8 / 3600)


def test_create_schema_adds_the_homes_columns_to_an_older_sqlite_file(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE power (installation_id TEXT NOT NULL, ts INTEGER NOT NULL,"
        " p_cons REAL, p_prod REAL, p_tot REAL, config_version INTEGER, inserted_ts INTEGER,"
        " estimated INTEGER, PRIMARY KEY (installation_id, ts)) WITHOUT ROWID"
    )
    db.execute("INSERT INTO power VALUES ('G1', ?, 50.0, -10.0, 40.0, 1, 0, 0)", (T0,))
    db.commit()
    db.close()
    with open_store(f"sqlite:///{path}") as store:
        store.create_schema()
        store.create_schema()  # idempotent
        old = store.read_power("G1", T0, T0 + 8)
        assert old.p_tot.tolist() == [40.0] and old.homes is None
        store.write_power("G1", _group(np.array([T0 + 8], np.int64)), 2)
        mixed = store.read_power("G1", T0, T0 + 16)
        # a row stored before homes were counted: 0 homes known, import from its total
        assert mixed.homes.tolist() == [0, 2] and mixed.p_import[0] == 40.0


def test_create_schema_adds_the_homes_columns_to_an_older_keyspace(cassandra_store):
    store = cassandra_store
    store._session.execute(f"ALTER TABLE {store.keyspace}.power DROP (homes, p_import)")
    store._prepared.clear()  # statements prepared against the old columns
    store.create_schema()
    store.create_schema()  # idempotent
    store._prepared.clear()
    ts = np.array([T0, T0 + 8], np.int64)
    store.write_power("G1", _group(ts), 1)
    assert store.read_power("G1", T0, T0 + 16).homes.tolist() == _group(ts).homes.tolist()
