"""CQL schema of the Cassandra backend, and the partition buckets of the time series.

Partitions are bounded in time, so none grows without limit and no query needs
``ALLOW FILTERING``:

- ``raw``   by (sensor_id, day), ``power`` by (installation_id, day), clustered by ts;
  ``day`` = UTC day number (ts // 86400): at most 10,800 rows of 8 s;
- ``power_rollup`` by (installation_id, resolution_s, period); a bucket is stored as its
  ``n`` and one blob ``v`` with every field (``common.pack_rollups``: 1 value to decode per
  bucket instead of 16);: period = UTC month
  (months since 1970) for 60 s and 900 s, UTC year for 3600 s and 86400 s, so a year of
  15-min buckets is 12-13 partitions of <= 2,976 rows and a year of hours is one;
- small lists that are replaced whole (access, group, config_versions) live in one
  partition (``bucket`` = 0), so a replace is one atomic single-partition batch and the
  listing comes back sorted;
- ``series_index`` (internal, not in TABLES) records which (series, bucket) partitions
  exist: bounds, listings, info and migrate read it instead of scanning the big tables.

Timestamps are bigint UTC epoch seconds (the contract's unit), never local time.

Retention: ``raw`` and ``power`` use TimeWindowCompactionStrategy (1-day windows), and once
the store is given a retention (``Store.set_retention``) their rows are written with a TTL
so that a row expires at ``ts + retention`` (``row_ttls``: at least ``TTL_FLOOR_S``, none
beyond Cassandra's limits); ``vde.sync.retention`` says when rows may go.
"""

from __future__ import annotations

import itertools
import struct

import numpy as np

from vde.storage.base import TABLES
from vde.storage.cassandra_exchange import exchange_ddl
from vde.storage.cassandra_sharing import sharing_ddl
from vde.storage.common import SENSOR_COLUMNS

DAY_S = 86400
INDEX_TABLE = "series_index"
#: resolution [s] -> "month" or "year" partitions of power_rollup
ROLLUP_PERIOD = {60: "month", 900: "month", 3600: "year", 86400: "year"}


# --- retention: TimeWindowCompactionStrategy and TTL ----------------------------------------
#: the 8-s tables, whose rows expire (TTL) under raw_retention / power_retention
TWCS_TABLES = ("raw", "power")
#: one SSTable per day of writes: a day's rows expire together, so TWCS drops whole files
#: instead of compacting tombstones (about 30-400 windows for retentions of 1-12 months)
TWCS_OPTIONS = {
    "class": "TimeWindowCompactionStrategy",
    "compaction_window_unit": "DAYS",
    "compaction_window_size": "1",
}
TWCS_CQL = "{" + ", ".join(f"'{k}': '{v}'" for k, v in TWCS_OPTIONS.items()) + "}"
#: Cassandra refuses a TTL above 20 years ...
MAX_TTL_S = 630_720_000
#: ... and an expiry after 2038-01-19T03:14:06Z on 4.x-compatible storage (5.0's default
#: storage_compatibility_mode); rows that would expire later get no TTL (prune deletes them)
MAX_EXPIRY_TS = 2_147_483_646
#: kept below that limit, as the server's clock may run ahead of ours [s]
EXPIRY_MARGIN_S = 86400
#: a row already past its retention when written (a backfill) lives this long: its 1-min
#: rollup is written by the same sync, and a failed power recompute is retried well within
TTL_FLOOR_S = 86400
#: a series_index entry outlives its partition's last row by this much, so prune still
#: finds (and deletes) rows written without TTL before a retention was set [s]
INDEX_TTL_MARGIN_S = 2 * 86400


def row_ttls(ts: np.ndarray, retention_s: int, now: int) -> np.ndarray:
    """TTL [s] per row so that a row written at ``now`` expires at ``ts + retention_s``.

    Parameters
    ----------
    ts : numpy.ndarray
        Row timestamps [UTC epoch s].
    retention_s : int
        Retention [s]; 0 keeps rows forever (TTL 0: no expiry).
    now : int
        Wall-clock time of the write [UTC epoch s] (Cassandra counts a TTL from it).

    Returns
    -------
    numpy.ndarray
        int64 TTLs [s]: at least ``TTL_FLOOR_S``; 0 where no TTL is used (no retention,
        or an expiry beyond Cassandra's limits, left to prune).
    """
    ts = np.asarray(ts, dtype=np.int64)
    if retention_s <= 0:
        return np.zeros(len(ts), np.int64)
    ttl = np.maximum(ts + int(retention_s) - int(now), TTL_FLOOR_S)
    beyond = (ttl > MAX_TTL_S) | (int(now) + ttl > MAX_EXPIRY_TS - EXPIRY_MARGIN_S)
    return np.where(beyond, 0, ttl).astype(np.int64)


def index_ttl(day: int, retention_s: int, now: int) -> int:
    """TTL [s] of the series_index entry of day partition ``day``: past its last row's."""
    if retention_s <= 0:
        return 0
    ttl = int(row_ttls(np.array([(day + 1) * DAY_S]), retention_s, now)[0])
    if ttl == 0:
        return 0
    ttl += INDEX_TTL_MARGIN_S
    return 0 if ttl > MAX_TTL_S or now + ttl > MAX_EXPIRY_TS - EXPIRY_MARGIN_S else ttl


def is_twcs(compaction: dict) -> bool:
    """Whether a table's ``system_schema.tables.compaction`` map is TWCS (any window)."""
    return str(compaction.get("class", "")).endswith("TimeWindowCompactionStrategy")


def day_of(ts: np.ndarray | int) -> np.ndarray | int:
    return ts // DAY_S


def period_of(resolution_s: int, ts: np.ndarray) -> np.ndarray:
    """Partition period of rollup bucket starts: months or years since 1970 (UTC)."""
    unit = "M" if ROLLUP_PERIOD.get(int(resolution_s), "month") == "month" else "Y"
    return (
        np.asarray(ts, dtype=np.int64)
        .astype("datetime64[s]")
        .astype(f"datetime64[{unit}]")
        .astype(np.int64)
    )


def period_start(resolution_s: int, period: int) -> int:
    """First second [UTC epoch s] of a period."""
    unit = "M" if ROLLUP_PERIOD.get(int(resolution_s), "month") == "month" else "Y"
    return int(np.datetime64(int(period), unit).astype("datetime64[s]").astype(np.int64))


def index_kind(table: str, resolution_s: int | None = None) -> str:
    return table if resolution_s is None else f"{table}:{int(resolution_s)}"


def ddl(ks: str) -> dict[str, str]:
    """CREATE TABLE statements by table name (plus the internal index)."""
    t = {
        "access": f"CREATE TABLE IF NOT EXISTS {ks}.access (bucket int, login text, installation_id text,"
        " PRIMARY KEY ((bucket), login, installation_id))",
        "sensors_config": f"CREATE TABLE IF NOT EXISTS {ks}.sensors_config (version_id bigint,"
        ' installation_id text, sensor_id text, "token" text, flm_id text, "function" text, net int,'
        " prod int, cons int, ve int, start_ts bigint,"
        " PRIMARY KEY ((version_id), installation_id, sensor_id))",
        "raw": f"CREATE TABLE IF NOT EXISTS {ks}.raw (sensor_id text, day int, ts bigint, power_w double,"
        " config_version bigint, inserted_ts bigint, estimated boolean,"
        " PRIMARY KEY ((sensor_id, day), ts)) WITH CLUSTERING ORDER BY (ts ASC)"
        f" AND compaction = {TWCS_CQL}",
        "power": f"CREATE TABLE IF NOT EXISTS {ks}.power (installation_id text, day int, ts bigint,"
        " p_cons double, p_prod double, p_tot double, config_version bigint, inserted_ts bigint,"
        " estimated boolean, homes int, p_import double, PRIMARY KEY ((installation_id, day), ts))"
        f" WITH CLUSTERING ORDER BY (ts ASC) AND compaction = {TWCS_CQL}",
        "raw_missing": f"CREATE TABLE IF NOT EXISTS {ks}.raw_missing (sensor_id text, start_ts bigint,"
        " end_ts bigint, found_ts bigint, PRIMARY KEY ((sensor_id), start_ts))",
        "group": f'CREATE TABLE IF NOT EXISTS {ks}."group" (bucket int, installation_id text,'
        " caption text, PRIMARY KEY ((bucket), installation_id))",
        "config_versions": f"CREATE TABLE IF NOT EXISTS {ks}.config_versions (bucket int,"
        " version_id bigint, created_ts bigint, content_hash text, PRIMARY KEY ((bucket), version_id))",
        "power_rollup": f"CREATE TABLE IF NOT EXISTS {ks}.power_rollup (installation_id text,"
        " resolution_s int, period int, ts bigint, n bigint, v blob,"
        " PRIMARY KEY ((installation_id, resolution_s, period), ts)) WITH CLUSTERING ORDER BY (ts ASC)",
        "sync_state": f"CREATE TABLE IF NOT EXISTS {ks}.sync_state (sensor_id text PRIMARY KEY,"
        " last_ts bigint, last_counter_wh double, last_rid bigint, last_attempt_ts bigint,"
        " last_success_ts bigint, last_error text, points_total bigint)",
        "alerts": f"CREATE TABLE IF NOT EXISTS {ks}.alerts (alert_id text PRIMARY KEY, kind text,"
        " installation_id text, day text, summary text, details text, fingerprint text, status text,"
        " created_ts bigint, updated_ts bigint, sent_ts bigint)",
        "users": f"CREATE TABLE IF NOT EXISTS {ks}.users (login text PRIMARY KEY, role text,"
        " password_hash text, invite_hash text, invite_expires_ts bigint, created_ts bigint)",
        "meta": f"CREATE TABLE IF NOT EXISTS {ks}.meta (key text PRIMARY KEY, value text)",
        "locks": f"CREATE TABLE IF NOT EXISTS {ks}.locks (name text PRIMARY KEY, owner text,"
        " expires_ts bigint)",
        "raw_estimated": f"CREATE TABLE IF NOT EXISTS {ks}.raw_estimated (sensor_id text,"
        " start_ts bigint, end_ts bigint, found_ts bigint, PRIMARY KEY ((sensor_id), start_ts))",
        INDEX_TABLE: f"CREATE TABLE IF NOT EXISTS {ks}.{INDEX_TABLE} (kind text, id text, bucket int,"
        " PRIMARY KEY ((kind, id), bucket)) WITH CLUSTERING ORDER BY (bucket ASC)",
    }
    t.update(sharing_ddl(ks))
    t.update(exchange_ddl(ks))
    assert set(t) == {*TABLES, INDEX_TABLE}
    return t


#: table -> (column, CQL type) added after the table's first release: create_schema adds
#: them to existing keyspaces (CREATE TABLE IF NOT EXISTS leaves an old table as it is)
ADDED_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "raw": (("estimated", "boolean"),),
    "power": (("estimated", "boolean"), ("homes", "int"), ("p_import", "double")),
}


#: sensors_config columns as CQL names (token and function are CQL keywords)
SENSOR_CQL = ", ".join(
    f'"{col}"' if col in ("token", "function") else col for col in SENSOR_COLUMNS
)


def qname(ks: str, table: str) -> str:
    return f'{ks}."group"' if table == "group" else f"{ks}.{table}"


# --- wire format of time-series rows ------------------------------------------------------


def bigint(v: int) -> bytes:
    return struct.pack(">q", int(v))


def cql_int(v: int) -> bytes:
    return struct.pack(">i", int(v))


def wire_rows(*cols: bytes | list | np.ndarray) -> list[list[bytes]]:
    """Rows of values already in CQL wire format, built column-wise with numpy.

    A column is a constant (bytes), a list of bytes (blobs) or a big-endian numpy array
    (``>i4`` int, ``>i8`` bigint, ``>f8`` double). Serialising whole columns at once
    instead of binding value by value cuts the client's CPU per row by about a third.
    """
    per_col: list = []
    for col in cols:
        if isinstance(col, bytes):
            per_col.append(itertools.repeat(col))
        elif isinstance(col, list):
            per_col.append(col)
        else:
            raw, w = col.tobytes(), col.itemsize
            per_col.append([raw[i : i + w] for i in range(0, len(raw), w)])
    return [list(r) for r in zip(*per_col)]  # noqa: B905 - constants repeat forever
