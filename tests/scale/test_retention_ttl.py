"""Retention on Cassandra: TWCS on the 8-s tables, rows written with a TTL, long views kept.

The node is real: the table options are read from ``system_schema.tables`` and the TTLs
with ``SELECT TTL(col)``. The fleet runs at the wall clock, since Cassandra counts a TTL
from its own clock.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sync"))
from syncenv import BIG, sim_env

from vde.models import ROLLUP_RESOLUTIONS
from vde.simulator import Fleet
from vde.storage import cassandra_schema as cs
from vde.sync.retention import RAW_PRUNED_META, pruned_before
from vde.web.series import read_chart

H = 3600
DAY = 86400


def _compaction(store, table: str) -> dict:
    rows = store._exec(
        "SELECT compaction FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?",
        (store.keyspace, table),
    )
    return dict(rows[0][0])


def _ttls(store, table: str, key: str, series_id: str, day: int) -> dict[int, int | None]:
    col = "power_w" if table == "raw" else "p_tot"
    rows = store._exec(
        f"SELECT ts, TTL({col}) FROM {{ks}}.{table} WHERE {key} = ? AND day = ?",
        (series_id, day),
    )
    return {int(r[0]): r[1] for r in rows}


def test_8s_tables_use_twcs_and_create_schema_switches_old_ones(cassandra_store):
    s = cassandra_store
    for table in cs.TWCS_TABLES:
        comp = _compaction(s, table)
        assert comp["class"].endswith("TimeWindowCompactionStrategy"), comp
        assert (comp["compaction_window_unit"], comp["compaction_window_size"]) == ("DAYS", "1")
    assert not _compaction(s, "power_rollup")["class"].endswith("TimeWindowCompactionStrategy")
    # a keyspace created before: raw on the default strategy, power on a tuned TWCS
    ks = s.keyspace
    s._session.execute(
        f"ALTER TABLE {ks}.raw WITH compaction = {{'class': 'SizeTieredCompactionStrategy'}}"
    )
    s._session.execute(
        f"ALTER TABLE {ks}.power WITH compaction = {{'class': 'TimeWindowCompactionStrategy',"
        " 'compaction_window_unit': 'DAYS', 'compaction_window_size': '3'}"
    )
    assert _compaction(s, "raw")["class"].endswith("SizeTieredCompactionStrategy")
    s.create_schema()
    assert _compaction(s, "raw")["class"].endswith("TimeWindowCompactionStrategy")
    assert _compaction(s, "power")["compaction_window_size"] == "3"  # an operator's choice
    s.create_schema()  # idempotent
    assert _compaction(s, "raw")["compaction_window_size"] == "1"
    s._session.execute(f"ALTER TABLE {ks}.power WITH compaction = {cs.TWCS_CQL}")


@given(
    ts=st.lists(st.integers(1_600_000_000, 2_200_000_000), min_size=1, max_size=20),
    retention=st.integers(0, 40 * 365 * DAY),
    now=st.integers(1_700_000_000, 2_150_000_000),
)
def test_row_ttls_expire_at_ts_plus_retention_within_cassandra_limits(ts, retention, now):
    ttl = cs.row_ttls(np.array(ts), retention, now)
    for t, v in zip(ts, ttl.tolist(), strict=True):
        if retention == 0:
            assert v == 0
            continue
        if v == 0:  # left to prune: beyond 20 years or past the 2038 expiry limit
            want = max(t + retention - now, cs.TTL_FLOOR_S)
            assert want > cs.MAX_TTL_S or now + want > cs.MAX_EXPIRY_TS - cs.EXPIRY_MARGIN_S
            continue
        assert cs.TTL_FLOOR_S <= v <= cs.MAX_TTL_S
        assert now + v <= cs.MAX_EXPIRY_TS - cs.EXPIRY_MARGIN_S
        assert v == max(t + retention - now, cs.TTL_FLOOR_S)  # expires at ts + retention
        day_ttl = cs.index_ttl(t // DAY, retention, now)
        assert day_ttl == 0 or day_ttl > v  # the partition's index entry outlives the row


def test_sync_writes_rows_with_a_ttl_and_long_views_keep_working(cassandra_store, tmp_path):
    s = cassandra_store
    now = int(time.time())
    f = Fleet.generate(homes=1, seed=11, start_ts=now - 6 * H, now_ts=now)
    raw_keep, power_keep = 3 * H + 0, 2 * DAY
    try:
        with sim_env(s, tmp_path, f, raw_retention=raw_keep, power_retention=power_keep) as env:
            rep = env.sync()
        assert rep.ok
        cfg = env.config
        written = int(time.time())
        sid = sorted(s.raw_sensors())[0]
        ttls: dict[int, int | None] = {}
        for day in range((now - 6 * H) // DAY, now // DAY + 1):
            ttls.update(_ttls(s, "raw", "sensor_id", sid, day))
        assert ttls and all(v is not None for v in ttls.values())
        for ts, v in ttls.items():
            # expires at ts + retention, but never within a day of its write
            want = max(ts + raw_keep - written, cs.TTL_FLOOR_S)
            assert want - 120 <= v <= want + 5, (ts, v, want)
        # rows older than the retention already (the first 3 h) got the one-day floor
        old = [v for ts, v in ttls.items() if ts + raw_keep < now - 60]
        assert old and all(cs.TTL_FLOOR_S - 120 <= v <= cs.TTL_FLOOR_S for v in old)
        inst = cfg.installations()[0]
        p = _ttls(s, "power", "installation_id", inst, now // DAY)
        assert p and all(v is not None and v <= power_keep for v in p.values())
        assert max(p.values()) > power_keep - 7 * H  # the recent rows: about 2 days
        # rollups never expire: long views are read from them once the 8-s rows are gone
        roll = s._exec(
            "SELECT TTL(v) FROM {ks}.power_rollup WHERE installation_id = ? AND resolution_s = ?"
            " AND period = ?",
            (inst, 60, int(cs.period_of(60, np.array([now]))[0])),
        )
        assert roll and all(r[0] is None for r in roll)
        # the sync raised the recompute floor to now - retention: rows before may be gone
        assert int(s.get_meta(RAW_PRUNED_META)) >= f.now - raw_keep
        assert pruned_before(s) >= f.now - raw_keep
        for res in ROLLUP_RESOLUTIONS:
            assert len(s.read_rollups(inst, res, 0, BIG)) > 0
        chart = read_chart(s, inst, now - 6 * H, now, 900)
        assert np.isfinite(chart.p_tot).sum() >= 20  # quarter-hours over 6 h, from rollups
    finally:
        s.set_retention(0, 0)  # the session's store is shared with later tests


def test_retention_beyond_the_expiry_limit_writes_rows_without_ttl(cassandra_store):
    s = cassandra_store
    now = int(time.time())
    ts = np.arange(now - H, now, 8, dtype=np.int64)
    try:
        s.set_retention(30 * 365 * DAY, 0)  # past 2038 and past 20 years: Cassandra refuses
        s.write_raw("s-long", ts, np.full(len(ts), 100.0), 1)
        got = _ttls(s, "raw", "sensor_id", "s-long", now // DAY)
        assert got and all(v is None for v in got.values())  # kept; prune deletes them
        s.set_retention(0, 0)
        s.write_raw("s-forever", ts, np.full(len(ts), 100.0), 1)
        assert all(
            v is None for v in _ttls(s, "raw", "sensor_id", "s-forever", now // DAY).values()
        )
    finally:
        s.set_retention(0, 0)
