"""SQLite backend: one file, WAL journal, one connection per thread.

A sync process may write while the web server reads: WAL lets readers proceed during a
write, ``busy_timeout`` makes concurrent writers wait instead of failing, and every
thread gets its own connection (the web server calls the store from a thread pool).
Time-series tables are ``WITHOUT ROWID`` keyed by (id, ts), so a range read is one
b-tree scan.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from vde.errors import StorageError
from vde.logs import get_logger
from vde.models import (
    Alert,
    ConfigVersion,
    MissingInterval,
    PowerSeries,
    RawSeries,
    RollupBatch,
    SensorRow,
    SyncState,
    User,
)
from vde.storage import common as c
from vde.storage.base import SCHEMA_VERSION, TABLES, Store
from vde.storage.url import DbUrl

log = get_logger(__name__)


DDL: dict[str, str] = {
    "access": "CREATE TABLE IF NOT EXISTS access (login TEXT NOT NULL, installation_id TEXT NOT NULL,"
    " PRIMARY KEY (login, installation_id)) WITHOUT ROWID",
    "sensors_config": "CREATE TABLE IF NOT EXISTS sensors_config (version_id INTEGER NOT NULL,"
    " installation_id TEXT NOT NULL, sensor_id TEXT NOT NULL, token TEXT, flm_id TEXT, function TEXT,"
    " net INTEGER, prod INTEGER, cons INTEGER, ve INTEGER, start_ts INTEGER,"
    " PRIMARY KEY (version_id, installation_id, sensor_id)) WITHOUT ROWID",
    "raw": "CREATE TABLE IF NOT EXISTS raw (sensor_id TEXT NOT NULL, ts INTEGER NOT NULL, power_w REAL,"
    " config_version INTEGER, inserted_ts INTEGER, PRIMARY KEY (sensor_id, ts)) WITHOUT ROWID",
    "power": "CREATE TABLE IF NOT EXISTS power (installation_id TEXT NOT NULL, ts INTEGER NOT NULL,"
    " p_cons REAL, p_prod REAL, p_tot REAL, config_version INTEGER, inserted_ts INTEGER,"
    " PRIMARY KEY (installation_id, ts)) WITHOUT ROWID",
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
}
assert set(DDL) == set(TABLES)

# power_rollup keeps ts and n as columns (for people reading the file with SQL) and the
# whole bucket packed in ``v`` (common.PACKED_FIELDS, float64): see common.pack_rollups
_ROLLUP_INSERT = (
    "INSERT OR REPLACE INTO power_rollup (installation_id, resolution_s, ts, n, v)"
    " VALUES (?, ?, ?, ?, ?)"
)
_ROLLUP_SELECT = (
    "SELECT v FROM power_rollup"
    " WHERE installation_id = ? AND resolution_s = ? AND ts >= ? AND ts < ? ORDER BY ts"
)


def quote(table: str) -> str:
    return f'"{table}"'


class SQLiteStore(Store):
    """Store in one SQLite file. Thread-safe: one connection per thread."""

    backend = "sqlite"

    def __init__(self, url: DbUrl) -> None:
        self._path = url.path
        assert self._path is not None
        self.url = url.redacted
        parent = Path(self._path).parent
        if not parent.is_dir():
            raise StorageError(
                f"cannot open {self.url}: folder '{parent}' does not exist; create it or change --db"
            )
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._guard = threading.Lock()
        self._closed = False
        self._owner = c.new_owner()
        self._conn()  # fail now, not on first use

    # --- connections ---------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise StorageError(f"store {self.url} is closed")
        try:
            # autocommit mode; transactions are explicit (BEGIN ... COMMIT) in _tx
            conn = sqlite3.connect(
                self._path, timeout=30, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            raise StorageError(
                f"cannot open {self.url}: {exc}; check the path and permissions"
            ) from exc
        self._local.conn = conn
        with self._guard:
            self._all.append(conn)
        return conn

    def _tx(self, fn, *, immediate: bool = True):
        """Run ``fn(conn)`` in one transaction; sqlite errors become StorageError."""
        conn = self._conn()
        try:
            # IMMEDIATE: take the write lock up front, so busy_timeout applies (a deferred
            # transaction upgraded after a read fails at once with SQLITE_BUSY in WAL mode)
            conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                out = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return out
        except sqlite3.Error as exc:
            raise StorageError(f"SQLite error on {self.url}: {exc}") from exc

    def _q(self, sql: str, params: tuple | list = ()) -> list:
        try:
            return self._conn().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"SQLite error on {self.url}: {exc}") from exc

    def close(self) -> None:
        with self._guard:
            self._closed = True
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    # --- lifecycle -------------------------------------------------------------------------------
    def create_schema(self, tables: Iterable[str] | None = None) -> None:
        names = list(TABLES if tables is None else tables)
        unknown = [t for t in names if t not in DDL]
        if unknown:
            raise StorageError(f"unknown table(s) {', '.join(unknown)}; known: {', '.join(TABLES)}")

        def run(conn: sqlite3.Connection) -> None:
            for t in names:
                conn.execute(DDL[t])
            conn.execute(DDL["meta"])
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

        self._tx(run)

    def schema_version(self) -> int | None:
        exists = self._q("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'")
        if not exists:
            return None
        v = self.get_meta("schema_version")
        return int(v) if v is not None else None

    def info(self) -> dict:
        present = {r[0] for r in self._q("SELECT name FROM sqlite_master WHERE type='table'")}
        tables: dict[str, dict] = {}
        for t in TABLES:
            if t not in present:
                continue
            lo, hi = c.TIME_COLUMNS.get(t, (None, None))
            if lo:
                rows, mn, mx = self._q(f"SELECT COUNT(*), MIN({lo}), MAX({hi}) FROM {quote(t)}")[0]
            else:
                rows, mn, mx = self._q(f"SELECT COUNT(*) FROM {quote(t)}")[0][0], None, None
            tables[t] = {"rows": rows, "min_ts": mn, "max_ts": mx}
        return {
            "backend": self.backend,
            "url": self.url,
            "schema_version": self.schema_version(),
            "tables": tables,
        }

    # --- raw -----------------------------------------------------------------------------------------
    def write_raw(
        self, sensor_id: str, ts: np.ndarray, power_w: np.ndarray, config_version: int
    ) -> int:
        ts, power_w = c.clean_raw(ts, power_w)
        rows = zip(
            itertools.repeat(sensor_id),
            ts.tolist(),
            power_w.tolist(),
            itertools.repeat(int(config_version)),
            itertools.repeat(c.now_s()),
            strict=False,
        )
        self._tx(
            lambda conn: conn.executemany(
                "INSERT OR REPLACE INTO raw (sensor_id, ts, power_w, config_version, inserted_ts)"
                " VALUES (?, ?, ?, ?, ?)",
                rows,
            )
        )
        return len(ts)

    def read_raw(self, sensor_id: str, start: int, end: int) -> RawSeries:
        return self.read_raw_with_version(sensor_id, start, end)[0]

    def read_raw_with_version(
        self, sensor_id: str, start: int, end: int
    ) -> tuple[RawSeries, np.ndarray]:
        rows = self._q(
            "SELECT ts, power_w, config_version FROM raw WHERE sensor_id = ? AND ts >= ? AND ts < ?"
            " ORDER BY ts",
            (sensor_id, int(start), int(end)),
        )
        if not rows:
            return c.empty_raw(), np.empty(0, np.int64)
        arr = np.array(rows, dtype=np.float64)
        return (
            RawSeries(ts=arr[:, 0].astype(np.int64), power_w=arr[:, 1].copy()),
            np.nan_to_num(arr[:, 2]).astype(np.int64),
        )

    def delete_raw(self, sensor_id: str, start: int, end: int) -> None:
        self._tx(
            lambda conn: conn.execute(
                "DELETE FROM raw WHERE sensor_id = ? AND ts >= ? AND ts < ?",
                (sensor_id, int(start), int(end)),
            )
        )

    def raw_sensors(self) -> list[str]:
        # skip-scan over the primary key: one seek per distinct sensor, not a full scan
        out, last = [], None
        while True:
            if last is None:
                row = self._q("SELECT MIN(sensor_id) FROM raw")
            else:
                row = self._q("SELECT MIN(sensor_id) FROM raw WHERE sensor_id > ?", (last,))
            if not row or row[0][0] is None:
                return out
            last = row[0][0]
            out.append(last)

    def raw_bounds(self, sensor_id: str) -> tuple[int, int] | None:
        mn, mx = self._q("SELECT MIN(ts), MAX(ts) FROM raw WHERE sensor_id = ?", (sensor_id,))[0]
        return None if mn is None else (int(mn), int(mx))

    # --- power ------------------------------------------------------------------------------------------
    def write_power(self, installation_id: str, series: PowerSeries, config_version: int) -> int:
        ts = np.asarray(series.ts, dtype=np.int64)
        cols = [
            np.asarray(x, dtype=np.float64).tolist()
            for x in (series.p_cons, series.p_prod, series.p_tot)
        ]
        rows = zip(
            itertools.repeat(installation_id),
            ts.tolist(),
            *cols,
            itertools.repeat(int(config_version)),
            itertools.repeat(c.now_s()),
            strict=False,
        )
        self._tx(
            lambda conn: conn.executemany(
                "INSERT OR REPLACE INTO power (installation_id, ts, p_cons, p_prod, p_tot,"
                " config_version, inserted_ts) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        )
        return len(ts)

    def read_power(self, installation_id: str, start: int, end: int) -> PowerSeries:
        return self.read_power_with_version(installation_id, start, end)[0]

    def read_power_with_version(
        self, installation_id: str, start: int, end: int
    ) -> tuple[PowerSeries, np.ndarray]:
        rows = self._q(
            "SELECT ts, p_cons, p_prod, p_tot, config_version FROM power"
            " WHERE installation_id = ? AND ts >= ? AND ts < ? ORDER BY ts",
            (installation_id, int(start), int(end)),
        )
        if not rows:
            return c.empty_power(), np.empty(0, np.int64)
        arr = np.array(rows, dtype=np.float64)
        series = PowerSeries(
            ts=arr[:, 0].astype(np.int64),
            p_cons=arr[:, 1].copy(),
            p_prod=arr[:, 2].copy(),
            p_tot=arr[:, 3].copy(),
        )
        return series, np.nan_to_num(arr[:, 4]).astype(np.int64)

    def delete_power(self, installation_id: str, start: int, end: int) -> None:
        self._tx(
            lambda conn: conn.execute(
                "DELETE FROM power WHERE installation_id = ? AND ts >= ? AND ts < ?",
                (installation_id, int(start), int(end)),
            )
        )

    def power_installations(self) -> list[str]:
        return [r[0] for r in self._q("SELECT DISTINCT installation_id FROM power ORDER BY 1")]

    def power_bounds(self, installation_id: str) -> tuple[int, int] | None:
        mn, mx = self._q(
            "SELECT MIN(ts), MAX(ts) FROM power WHERE installation_id = ?", (installation_id,)
        )[0]
        return None if mn is None else (int(mn), int(mx))

    # --- rollups ------------------------------------------------------------------------------------------
    def write_rollups(self, installation_id: str, batch: RollupBatch) -> int:
        ts, n, blobs = c.pack_rollups(batch)
        rows = zip(
            itertools.repeat(installation_id),
            itertools.repeat(int(batch.resolution_s)),
            ts,
            n,
            blobs,
            strict=False,
        )
        self._tx(lambda conn: conn.executemany(_ROLLUP_INSERT, rows))
        return len(ts)

    def read_rollups(
        self, installation_id: str, resolution_s: int, start: int, end: int
    ) -> RollupBatch:
        rows = self._q(_ROLLUP_SELECT, (installation_id, int(resolution_s), int(start), int(end)))
        return c.unpack_rollups(int(resolution_s), rows)

    def delete_rollups(self, installation_id: str, resolution_s: int, start: int, end: int) -> None:
        self._tx(
            lambda conn: conn.execute(
                "DELETE FROM power_rollup WHERE installation_id = ? AND resolution_s = ?"
                " AND ts >= ? AND ts < ?",
                (installation_id, int(resolution_s), int(start), int(end)),
            )
        )

    def rollup_keys(self) -> list[tuple[str, int]]:
        rows = self._q(
            "SELECT DISTINCT installation_id, resolution_s FROM power_rollup ORDER BY 1, 2"
        )
        return [(i, int(r)) for i, r in rows]

    def rollup_bounds(self, installation_id: str, resolution_s: int) -> tuple[int, int] | None:
        mn, mx = self._q(
            "SELECT MIN(ts), MAX(ts) FROM power_rollup WHERE installation_id = ? AND resolution_s = ?",
            (installation_id, int(resolution_s)),
        )[0]
        return None if mn is None else (int(mn), int(mx))

    # --- configuration ------------------------------------------------------------------------------------
    def save_config_version(self, version: ConfigVersion) -> None:
        vid = int(version.version_id)
        rows = [(vid, *(getattr(r, col) for col in c.SENSOR_COLUMNS)) for r in version.rows]

        def run(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM sensors_config WHERE version_id = ?", (vid,))
            conn.executemany(
                f"INSERT INTO sensors_config (version_id, {', '.join(c.SENSOR_COLUMNS)})"
                f" VALUES (?, {', '.join('?' * len(c.SENSOR_COLUMNS))})",
                rows,
            )
            conn.execute(
                "INSERT OR REPLACE INTO config_versions (version_id, created_ts, content_hash)"
                " VALUES (?, ?, ?)",
                (vid, vid // 1_000_000, version.content_hash()),
            )

        self._tx(run)

    def config_versions(self) -> list[tuple[int, str]]:
        return [
            (int(v), h)
            for v, h in self._q(
                "SELECT version_id, content_hash FROM config_versions ORDER BY version_id"
            )
        ]

    def load_config(self, version_id: int | None = None) -> ConfigVersion | None:
        if version_id is None:
            row = self._q("SELECT MAX(version_id) FROM config_versions")
            if not row or row[0][0] is None:
                return None
            version_id = int(row[0][0])
        elif not self._q("SELECT 1 FROM config_versions WHERE version_id = ?", (int(version_id),)):
            return None
        rows = self._q(
            f"SELECT {', '.join(c.SENSOR_COLUMNS)} FROM sensors_config WHERE version_id = ?"
            " ORDER BY installation_id, sensor_id",
            (int(version_id),),
        )
        return ConfigVersion(
            version_id=int(version_id),
            rows=tuple(SensorRow(**dict(zip(c.SENSOR_COLUMNS, r, strict=True))) for r in rows),
        )

    def replace_access(self, pairs: Iterable[tuple[str, str]]) -> None:
        rows = sorted(set(pairs))

        def run(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM access")
            conn.executemany("INSERT INTO access (login, installation_id) VALUES (?, ?)", rows)

        self._tx(run)

    def access(self) -> list[tuple[str, str]]:
        return [
            tuple(r) for r in self._q("SELECT login, installation_id FROM access ORDER BY 1, 2")
        ]

    def installations_for(self, login: str) -> list[str]:
        return [
            r[0]
            for r in self._q(
                "SELECT installation_id FROM access WHERE login = ? ORDER BY 1", (login,)
            )
        ]

    def replace_captions(self, captions: dict[str, str]) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute('DELETE FROM "group"')
            conn.executemany(
                'INSERT INTO "group" (installation_id, caption) VALUES (?, ?)', captions.items()
            )

        self._tx(run)

    def captions(self) -> dict[str, str]:
        return dict(self._q('SELECT installation_id, caption FROM "group" ORDER BY 1'))

    # --- missing, sync state ---------------------------------------------------------------------------------
    def missing(self, sensor_id: str | None = None) -> list[MissingInterval]:
        sql = "SELECT sensor_id, start_ts, end_ts, found_ts FROM raw_missing"
        if sensor_id is None:
            rows = self._q(sql + " ORDER BY sensor_id, start_ts")
        else:
            rows = self._q(sql + " WHERE sensor_id = ? ORDER BY start_ts", (sensor_id,))
        return [MissingInterval(*r) for r in rows]

    def replace_missing(self, sensor_id: str, intervals: Iterable[MissingInterval]) -> None:
        rows = [(sensor_id, int(i.start_ts), int(i.end_ts), int(i.found_ts)) for i in intervals]

        def run(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM raw_missing WHERE sensor_id = ?", (sensor_id,))
            conn.executemany(
                "INSERT OR REPLACE INTO raw_missing (sensor_id, start_ts, end_ts, found_ts)"
                " VALUES (?, ?, ?, ?)",
                rows,
            )

        self._tx(run)

    def put_sync_state(self, state: SyncState) -> None:
        self._tx(
            lambda conn: conn.execute(
                f"INSERT OR REPLACE INTO sync_state ({', '.join(c.SYNC_COLUMNS)})"
                f" VALUES ({', '.join('?' * len(c.SYNC_COLUMNS))})",
                c.sync_row(state),
            )
        )

    def sync_states(self) -> dict[str, SyncState]:
        rows = self._q(f"SELECT {', '.join(c.SYNC_COLUMNS)} FROM sync_state ORDER BY sensor_id")
        return {r[0]: c.sync_from(r) for r in rows}

    # --- alerts, users, meta -----------------------------------------------------------------------------------
    def put_alert(self, alert: Alert) -> None:
        self._tx(
            lambda conn: conn.execute(
                f"INSERT OR REPLACE INTO alerts ({', '.join(c.ALERT_COLUMNS)})"
                f" VALUES ({', '.join('?' * len(c.ALERT_COLUMNS))})",
                c.alert_row(alert),
            )
        )

    def alerts(self, *, status: str | None = None, since_day: str | None = None) -> list[Alert]:
        rows = self._q(f"SELECT {', '.join(c.ALERT_COLUMNS)} FROM alerts")
        return c.filter_alerts([c.alert_from(r) for r in rows], status, since_day)

    def put_user(self, user: User) -> None:
        self._tx(
            lambda conn: conn.execute(
                f"INSERT OR REPLACE INTO users ({', '.join(c.USER_COLUMNS)})"
                f" VALUES ({', '.join('?' * len(c.USER_COLUMNS))})",
                c.user_row(user),
            )
        )

    def get_user(self, login: str) -> User | None:
        rows = self._q(f"SELECT {', '.join(c.USER_COLUMNS)} FROM users WHERE login = ?", (login,))
        return c.user_from(rows[0]) if rows else None

    def users(self) -> list[User]:
        return [
            c.user_from(r)
            for r in self._q(f"SELECT {', '.join(c.USER_COLUMNS)} FROM users ORDER BY login")
        ]

    def delete_user(self, login: str) -> None:
        self._tx(lambda conn: conn.execute("DELETE FROM users WHERE login = ?", (login,)))

    def get_meta(self, key: str) -> str | None:
        rows = self._q("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str | None) -> None:
        if value is None:
            self._tx(lambda conn: conn.execute("DELETE FROM meta WHERE key = ?", (key,)))
        else:
            self._tx(
                lambda conn: conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, str(value))
                )
            )

    def meta_items(self) -> dict[str, str]:
        return dict(self._q("SELECT key, value FROM meta ORDER BY key"))

    # --- locks ----------------------------------------------------------------------------------------------------
    def try_lock(self, name: str, ttl_s: int) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            now = c.now_s()
            row = conn.execute(
                "SELECT owner, expires_ts FROM locks WHERE name = ?", (name,)
            ).fetchone()
            if row is not None:
                owner, expires = row
                if owner != self._owner and expires > now and not c.owner_is_dead(owner):
                    return False
                if owner != self._owner:
                    log.info("lock_taken_over", name=name, previous_owner=owner)
            conn.execute(
                "INSERT OR REPLACE INTO locks (name, owner, expires_ts) VALUES (?, ?, ?)",
                (name, self._owner, now + int(ttl_s)),
            )
            return True

        return self._tx(run)

    def refresh_lock(self, name: str, ttl_s: int) -> None:
        def run(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "UPDATE locks SET expires_ts = ? WHERE name = ? AND owner = ?",
                (c.now_s() + int(ttl_s), name, self._owner),
            )
            if cur.rowcount != 1:
                from vde.errors import LockedError

                raise LockedError(f"lock '{name}' is no longer held by this process")

        self._tx(run)

    def release_lock(self, name: str) -> None:
        self._tx(
            lambda conn: conn.execute(
                "DELETE FROM locks WHERE name = ? AND owner = ?", (name, self._owner)
            )
        )
