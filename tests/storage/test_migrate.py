"""Migration between backends: everything arrives, row for row, and it resumes."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

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
from vde.storage import open_store
from vde.storage.migrate import CHECKPOINT_PREFIX, migrate

DAY = 86400
T0 = int(datetime(2026, 3, 20, tzinfo=UTC).timestamp())


def fill(store) -> None:
    """A small but complete database: every table, several partitions and versions."""
    ts = np.arange(T0, T0 + 20 * DAY, 64, dtype=np.int64)
    for k, sensor in enumerate(["s1", "s2", "s3"]):
        p = np.sin(ts / 3600.0 + k) * 1000
        p[100:200] = np.nan  # a gap stays a gap
        store.write_raw(sensor, ts[: len(ts) // 2], p[: len(ts) // 2], 1)
        store.write_raw(sensor, ts[len(ts) // 2 :], p[len(ts) // 2 :], 2)
    x = ts.astype(float)
    store.write_power(
        "i1", PowerSeries(ts=ts, p_cons=x % 900, p_prod=-(x % 70), p_tot=x % 900 - x % 70), 2
    )
    for res in (900, 3600, 86400):
        b = np.arange(T0, T0 + 20 * DAY, res, dtype=np.int64)
        cols = {f: (b % 1000).astype(float) + i for i, f in enumerate(ROLLUP_FIELDS)}
        cols["n"] = np.full(len(b), res // 8, dtype=np.int64)
        store.write_rollups("i1", RollupBatch(resolution_s=res, ts=b, columns=cols))
    row = SensorRow("i1", "s1", "secret-token-1", "flm", "grid", 1, 0, 1, 0, T0)
    store.save_config_version(ConfigVersion(1_700_000_000_000_000, (row,)))
    store.save_config_version(
        ConfigVersion(
            1_800_000_000_000_000, (row, SensorRow("i1", "s2", "t2", "flm", "pv", 1, 1, 0, 0, T0))
        )
    )
    store.replace_access([("ann", "i1"), ("bob", "i1")])
    store.replace_captions({"i1": "Maison Été"})
    store.replace_missing("s1", [MissingInterval("s1", T0 + 6400, T0 + 12800, T0 + DAY)])
    store.put_sync_state(SyncState("s1", last_ts=T0, last_counter_wh=5.5, points_total=3))
    store.put_alert(
        Alert("missing:i1:2026-03-21", "missing", "i1", "2026-03-21", "x", {"a": 1}, "fp")
    )
    store.put_user(User("ann", role="admin", password_hash="$argon2id$h", created_ts=T0))
    store.set_meta("secret_key", "k")


def dump(store) -> dict:
    """Everything a store holds, through the interface, in comparable form."""
    out: dict = {}
    for sensor in store.raw_sensors():
        s, v = store.read_raw_with_version(sensor, 0, 2**40)
        out[f"raw:{sensor}"] = (s.ts.tolist(), s.power_w.tolist(), v.tolist())
    for inst in store.power_installations():
        p, v = store.read_power_with_version(inst, 0, 2**40)
        out[f"power:{inst}"] = (
            p.ts.tolist(),
            p.p_cons.tolist(),
            p.p_prod.tolist(),
            p.p_tot.tolist(),
            v.tolist(),
        )
    for inst, res in store.rollup_keys():
        b = store.read_rollups(inst, res, 0, 2**40)
        out[f"rollup:{inst}:{res}"] = (
            b.ts.tolist(),
            {f: b.columns[f].tolist() for f in ROLLUP_FIELDS},
        )
    out["config"] = [(vid, h, store.load_config(vid)) for vid, h in store.config_versions()]
    out["access"] = store.access()
    out["captions"] = store.captions()
    out["missing"] = store.missing()
    out["sync"] = store.sync_states()
    out["alerts"] = store.alerts()
    out["users"] = store.users()
    out["meta"] = {
        k: v
        for k, v in store.meta_items().items()
        if k != "migrated_from" and not k.startswith(CHECKPOINT_PREFIX)
    }
    return out


def counts(store) -> dict:
    return {t: v["rows"] for t, v in store.info()["tables"].items() if t not in ("meta", "locks")}


@pytest.mark.cassandra
def test_sqlite_to_cassandra_to_sqlite_is_row_for_row_equal(
    sqlite_store, cassandra_store, tmp_path
):
    fill(sqlite_store)
    before = dump(sqlite_store)
    report = migrate(sqlite_store, cassandra_store, chunk_s=3 * DAY)
    assert report.rows["raw"] == sum(len(before[f"raw:{s}"][0]) for s in ("s1", "s2", "s3"))
    assert dump(cassandra_store) == before
    assert counts(cassandra_store) == counts(sqlite_store)
    assert cassandra_store.get_meta("migrated_from") == sqlite_store.url
    with open_store(f"sqlite:///{tmp_path / 'back.db'}") as back:
        migrate(cassandra_store, back)
        assert dump(back) == before
        assert counts(back) == counts(sqlite_store)


class Interrupt(Exception):
    pass


def test_migrate_resumes_after_interruption(sqlite_store, tmp_path):
    fill(sqlite_store)
    target = open_store(f"sqlite:///{tmp_path / 'target.db'}")
    seen: list[str] = []

    def stop_half_way(series: str, done: int, total: int, rows: int) -> None:
        seen.append(series)
        if done == total // 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        migrate(sqlite_store, target, chunk_s=2 * DAY, progress=stop_half_way)
    assert any(k.startswith(CHECKPOINT_PREFIX) for k in target.meta_items())
    report = migrate(sqlite_store, target, chunk_s=2 * DAY)
    assert report.skipped_chunks >= len(seen) - 2  # all but the small tables and the failed step
    assert dump(target) == dump(sqlite_store)
    assert not any(k.startswith(CHECKPOINT_PREFIX) for k in target.meta_items())
    # a second full run changes nothing (idempotent upserts)
    migrate(sqlite_store, target, chunk_s=2 * DAY)
    assert counts(target) == counts(sqlite_store)
    target.close()
