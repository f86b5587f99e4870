"""SQLite schema of vde: one CREATE TABLE per table, and the rollup statements.

Time series are ``WITHOUT ROWID`` tables keyed by (id, ts): a range read is one b-tree
scan. ``group`` is a reserved word and always quoted.
"""

from __future__ import annotations

from vde.storage.base import TABLES
from vde.storage.sqlite_exchange import EXCHANGE_DDL
from vde.storage.sqlite_sharing import SHARING_DDL

DDL: dict[str, str] = {
    "access": "CREATE TABLE IF NOT EXISTS access (login TEXT NOT NULL, installation_id TEXT NOT NULL,"
    " PRIMARY KEY (login, installation_id)) WITHOUT ROWID",
    "sensors_config": "CREATE TABLE IF NOT EXISTS sensors_config (version_id INTEGER NOT NULL,"
    " installation_id TEXT NOT NULL, sensor_id TEXT NOT NULL, token TEXT, flm_id TEXT, function TEXT,"
    " net INTEGER, prod INTEGER, cons INTEGER, ve INTEGER, start_ts INTEGER,"
    " PRIMARY KEY (version_id, installation_id, sensor_id)) WITHOUT ROWID",
    "raw": "CREATE TABLE IF NOT EXISTS raw (sensor_id TEXT NOT NULL, ts INTEGER NOT NULL, power_w REAL,"
    " config_version INTEGER, inserted_ts INTEGER, estimated INTEGER,"
    " PRIMARY KEY (sensor_id, ts)) WITHOUT ROWID",
    "power": "CREATE TABLE IF NOT EXISTS power (installation_id TEXT NOT NULL, ts INTEGER NOT NULL,"
    " p_cons REAL, p_prod REAL, p_tot REAL, config_version INTEGER, inserted_ts INTEGER,"
    " estimated INTEGER, homes INTEGER, p_import REAL, PRIMARY KEY (installation_id, ts))"
    " WITHOUT ROWID",
    "raw_missing": "CREATE TABLE IF NOT EXISTS raw_missing (sensor_id TEXT NOT NULL,"
    " start_ts INTEGER NOT NULL, end_ts INTEGER NOT NULL, found_ts INTEGER,"
    " PRIMARY KEY (sensor_id, start_ts)) WITHOUT ROWID",
    "group": 'CREATE TABLE IF NOT EXISTS "group" (installation_id TEXT PRIMARY KEY, caption TEXT)'
    " WITHOUT ROWID",
    "config_versions": "CREATE TABLE IF NOT EXISTS config_versions (version_id INTEGER PRIMARY KEY,"
    " created_ts INTEGER, content_hash TEXT)",
    "power_rollup": "CREATE TABLE IF NOT EXISTS power_rollup (installation_id TEXT NOT NULL,"
    " resolution_s INTEGER NOT NULL, ts INTEGER NOT NULL, n INTEGER, v BLOB,"
    " PRIMARY KEY (installation_id, resolution_s, ts)) WITHOUT ROWID",
    "sync_state": "CREATE TABLE IF NOT EXISTS sync_state (sensor_id TEXT PRIMARY KEY, last_ts INTEGER,"
    " last_counter_wh REAL, last_rid INTEGER, last_attempt_ts INTEGER, last_success_ts INTEGER,"
    " last_error TEXT, points_total INTEGER) WITHOUT ROWID",
    "alerts": "CREATE TABLE IF NOT EXISTS alerts (alert_id TEXT PRIMARY KEY, kind TEXT,"
    " installation_id TEXT, day TEXT, summary TEXT, details TEXT, fingerprint TEXT, status TEXT,"
    " created_ts INTEGER, updated_ts INTEGER, sent_ts INTEGER) WITHOUT ROWID",
    "users": "CREATE TABLE IF NOT EXISTS users (login TEXT PRIMARY KEY, role TEXT, password_hash TEXT,"
    " invite_hash TEXT, invite_expires_ts INTEGER, created_ts INTEGER) WITHOUT ROWID",
    "meta": "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID",
    "locks": "CREATE TABLE IF NOT EXISTS locks (name TEXT PRIMARY KEY, owner TEXT NOT NULL,"
    " expires_ts INTEGER NOT NULL) WITHOUT ROWID",
    "raw_estimated": "CREATE TABLE IF NOT EXISTS raw_estimated (sensor_id TEXT NOT NULL,"
    " start_ts INTEGER NOT NULL, end_ts INTEGER NOT NULL, found_ts INTEGER,"
    " PRIMARY KEY (sensor_id, start_ts)) WITHOUT ROWID",
}
DDL.update(SHARING_DDL)
DDL.update(EXCHANGE_DDL)
assert set(DDL) == set(TABLES)

#: table -> (column, SQL type) added after the table's first release: create_schema adds
#: them to existing databases (CREATE TABLE IF NOT EXISTS leaves an old table as it is)
ADDED_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "raw": (("estimated", "INTEGER"),),
    "power": (("estimated", "INTEGER"), ("homes", "INTEGER"), ("p_import", "REAL")),
}

# power_rollup keeps ts and n as columns (for people reading the file with SQL) and the
# whole bucket packed in ``v`` (common.PACKED_FIELDS, float64): see common.pack_rollups
ROLLUP_INSERT = (
    "INSERT OR REPLACE INTO power_rollup (installation_id, resolution_s, ts, n, v)"
    " VALUES (?, ?, ?, ?, ?)"
)
ROLLUP_SELECT = (
    "SELECT v FROM power_rollup"
    " WHERE installation_id = ? AND resolution_s = ? AND ts >= ? AND ts < ? ORDER BY ts"
)
