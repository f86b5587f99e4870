"""Sharing tables on both backends: balances, results and keys round-trip; partial days merge;
create_schema adds the tables to an existing database."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vde.models import QuarterBalances, SharingShares
from vde.storage import Store, open_store

DAY0 = 20_400 * 86400  # a UTC midnight (2025-11-08)


def _balances(ts: np.ndarray, seed: int) -> QuarterBalances:
    rng = np.random.default_rng(seed)
    return QuarterBalances(
        ts=ts,
        offtake_wh=rng.uniform(0, 300, len(ts)),
        injection_wh=rng.uniform(0, 300, len(ts)),
        covered_s=rng.integers(0, 901, len(ts)),
    )


def test_quarters_round_trip_for_many_homes(store: Store) -> None:
    ts = DAY0 + 900 * np.arange(3 * 96 + 10)  # three days and a bit, crossing day rows
    homes = [f"CDB{i:03d}" for i in range(5)]
    sent = {h: _balances(ts, i) for i, h in enumerate(homes)}
    for h, b in sent.items():
        assert store.write_quarters(h, b) == len(ts)
    got = store.read_quarters([*homes, "NOPE"], int(ts[5]), int(ts[-3]))
    assert sorted(got) == homes
    for h in homes:
        g, s = got[h], sent[h]
        sel = slice(5, len(ts) - 3)
        assert g.ts.tolist() == ts[sel].tolist()
        assert g.offtake_wh.tolist() == s.offtake_wh[sel].tolist()  # exact: stored as float64
        assert g.injection_wh.tolist() == s.injection_wh[sel].tolist()
        assert g.covered_s.tolist() == s.covered_s[sel].tolist()


def test_partial_day_writes_merge_and_unwritten_quarters_have_no_coverage(store: Store) -> None:
    a = _balances(DAY0 + 900 * np.arange(0, 10), 1)
    b = _balances(DAY0 + 900 * np.arange(20, 30), 2)
    store.write_quarters("H", a)
    store.write_quarters("H", b)
    got = store.read_quarters(["H"], DAY0, DAY0 + 86400)["H"]
    assert len(got) == 96
    assert got.offtake_wh[:10].tolist() == a.offtake_wh.tolist()
    assert got.offtake_wh[20:30].tolist() == b.offtake_wh.tolist()
    assert got.covered_s[10:20].tolist() == [0] * 10
    # rewriting a quarter replaces it (idempotent upsert)
    store.write_quarters("H", a)
    again = store.read_quarters(["H"], DAY0, DAY0 + 86400)["H"]
    assert again.offtake_wh.tolist() == got.offtake_wh.tolist()


def test_results_round_trip_delete_and_keys(store: Store) -> None:
    ts = DAY0 + 900 * np.arange(100)
    rng = np.random.default_rng(3)
    members = ("CDB001", "CDB002", "CDB003")
    shares = SharingShares(
        members=members,
        ts=ts,
        received_wh=rng.uniform(0, 100, (100, 3)),
        shared_out_wh=rng.uniform(0, 100, (100, 3)),
    )
    assert store.write_sharing("CDBZ01", shares) == 300
    got = store.read_sharing("CDBZ01", DAY0, DAY0 + 2 * 86400)
    assert got.members == members
    assert got.ts.tolist() == ts.tolist()
    assert np.array_equal(got.received_wh, shares.received_wh)
    assert np.array_equal(got.shared_out_wh, shares.shared_out_wh)
    assert len(store.read_sharing("OTHER", DAY0, DAY0 + 86400)) == 0
    # delete a window that ends inside the second day: the rest stays
    store.delete_sharing("CDBZ01", int(ts[10]), int(ts[98]))
    left = store.read_sharing("CDBZ01", DAY0, DAY0 + 2 * 86400)
    assert left.ts.tolist() == [*ts[:10].tolist(), *ts[98:].tolist()]
    assert np.array_equal(left.received_wh[10:], shares.received_wh[98:])

    store.replace_sharing_keys("CDBZ01", [(0, '{"a": 1}'), (DAY0, '{"b": 2}')])
    store.replace_sharing_keys("CDBA01", [(5, "{}")])
    store.replace_sharing_keys("CDBZ01", [(DAY0, '{"c": 3}')])
    assert store.sharing_keys() == {"CDBA01": [(5, "{}")], "CDBZ01": [(DAY0, '{"c": 3}')]}


def test_create_schema_adds_sharing_tables_to_an_existing_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with open_store(url) as s:
        s.create_schema(["access", "meta"])  # a database from before sharing
        assert "sharing_quarters" not in s.info()["tables"]
        s.create_schema()
        s.create_schema()  # idempotent
        assert {"sharing_quarters", "sharing_results", "sharing_keys"} <= set(s.info()["tables"])


def test_bad_quarter_starts_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="multiples of 900"):
        store.write_quarters("H", _balances(DAY0 + np.array([0, 450]), 1))


@pytest.mark.cassandra
def test_migrate_copies_the_sharing_keys(sqlite_store: Store, cassandra_store: Store) -> None:
    from vde.storage.migrate import migrate

    sqlite_store.replace_sharing_keys("CDBZ01", [(0, '{"key": "prorata"}'), (DAY0, "{}")])
    report = migrate(sqlite_store, cassandra_store)
    assert report.rows["sharing_keys"] == 2
    assert cassandra_store.sharing_keys() == sqlite_store.sharing_keys() != {}
