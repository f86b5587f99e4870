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
from vde.files import create_private
from vde.logs import get_logger
from vde.models import (
    PowerSeries,
    RawSeries,
    RollupBatch,
)
from vde.storage import common as c
from vde.storage.base import SCHEMA_VERSION, TABLES
from vde.storage.sqlite_exchange import SQLiteExchangeMixin
from vde.storage.sqlite_misc import SQLiteMiscMixin
from vde.storage.sqlite_schema import ADDED_COLUMNS, DDL, ROLLUP_INSERT, ROLLUP_SELECT
from vde.storage.sqlite_sharing import SQLiteSharingMixin
from vde.storage.url import DbUrl

log = get_logger(__name__)


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back after a failed statement, never hiding why it failed.

    SQLite rolls back by itself on some errors (disk full, I/O): a second ROLLBACK then
    fails with "cannot rollback - no transaction is active" and would replace the cause.
    """
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            log.warning("sqlite_rollback_failed", error=str(exc))


def quote(table: str) -> str:
    return f'"{table}"'


class SQLiteStore(SQLiteExchangeMixin, SQLiteSharingMixin, SQLiteMiscMixin):
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
        try:
            create_private(self._path)  # it holds the session key and password hashes
        except OSError as exc:
            raise StorageError(f"cannot create {self.url}: {exc.strerror or exc}") from exc
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
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
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
                # columns added since the table was first created (older databases)
                have = {r[1] for r in conn.execute(f"PRAGMA table_info({quote(t)})")}
                for col, decl in ADDED_COLUMNS.get(t, ()):
                    if col not in have:
                        conn.execute(f"ALTER TABLE {quote(t)} ADD COLUMN {col} {decl}")
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
        self,
        sensor_id: str,
        ts: np.ndarray,
        power_w: np.ndarray,
        config_version: int,
        estimated: np.ndarray | None = None,
    ) -> int:
        ts, power_w, est = c.clean_raw(ts, power_w, estimated)
        rows = zip(
            itertools.repeat(sensor_id),
            ts.tolist(),
            power_w.tolist(),
            itertools.repeat(int(config_version)),
            itertools.repeat(c.now_s()),
            est.astype(np.int64).tolist(),
            strict=False,
        )
        self._tx(
            lambda conn: conn.executemany(
                "INSERT OR REPLACE INTO raw (sensor_id, ts, power_w, config_version, inserted_ts,"
                " estimated) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
        )
        return len(ts)

    def read_raw_with_version(
        self, sensor_id: str, start: int, end: int
    ) -> tuple[RawSeries, np.ndarray]:
        rows = self._q(
            "SELECT ts, power_w, config_version, estimated FROM raw"
            " WHERE sensor_id = ? AND ts >= ? AND ts < ? ORDER BY ts",
            (sensor_id, int(start), int(end)),
        )
        if not rows:
            return c.empty_raw(), np.empty(0, np.int64)
        arr = np.array(rows, dtype=np.float64)
        return (
            RawSeries(
                ts=arr[:, 0].astype(np.int64),
                power_w=arr[:, 1].copy(),
                estimated=np.nan_to_num(arr[:, 3]) != 0,
            ),
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
        return self._distinct_ids("raw", "sensor_id")

    def _distinct_ids(self, table: str, col: str) -> list[str]:
        """Distinct leading key values by skip-scan: one index seek per value, no full scan."""
        out: list[str] = []
        while True:
            if out:
                row = self._q(f"SELECT MIN({col}) FROM {table} WHERE {col} > ?", (out[-1],))
            else:
                row = self._q(f"SELECT MIN({col}) FROM {table}")
            if not row or row[0][0] is None:
                return out
            out.append(row[0][0])

    def _bounds(self, table: str, where: str, params: tuple) -> tuple[int, int] | None:
        """(first, last) ts with two index seeks (MIN and MAX in one SELECT scan every row)."""
        lo, hi = self._q(
            f"SELECT (SELECT ts FROM {table} WHERE {where} ORDER BY ts LIMIT 1),"
            f" (SELECT ts FROM {table} WHERE {where} ORDER BY ts DESC LIMIT 1)",
            params + params,
        )[0]
        return None if lo is None else (int(lo), int(hi))

    def raw_bounds(self, sensor_id: str) -> tuple[int, int] | None:
        return self._bounds("raw", "sensor_id = ?", (sensor_id,))

    # --- power ------------------------------------------------------------------------------------------
    def write_power(self, installation_id: str, series: PowerSeries, config_version: int) -> int:
        ts = np.asarray(series.ts, dtype=np.int64)
        cols = [
            np.asarray(x, dtype=np.float64).tolist()
            for x in (series.p_cons, series.p_prod, series.p_tot)
        ]
        est = c.power_estimated(series)
        groups = c.power_groups(series)  # a group's homes counted and own import; NULL else
        homes, imp = (
            (itertools.repeat(None), itertools.repeat(None))
            if groups is None
            else (groups[0].tolist(), groups[1].tolist())
        )
        rows = zip(
            itertools.repeat(installation_id),
            ts.tolist(),
            *cols,
            itertools.repeat(int(config_version)),
            itertools.repeat(c.now_s()),
            est.tolist(),
            homes,
            imp,
            strict=False,
        )
        self._tx(
            lambda conn: conn.executemany(
                "INSERT OR REPLACE INTO power (installation_id, ts, p_cons, p_prod, p_tot,"
                " config_version, inserted_ts, estimated, homes, p_import)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        )
        return len(ts)

    def read_power_with_version(
        self, installation_id: str, start: int, end: int
    ) -> tuple[PowerSeries, np.ndarray]:
        rows = self._q(
            "SELECT ts, p_cons, p_prod, p_tot, config_version, estimated, homes, p_import"
            " FROM power WHERE installation_id = ? AND ts >= ? AND ts < ? ORDER BY ts",
            (installation_id, int(start), int(end)),
        )
        if not rows:
            return c.empty_power(), np.empty(0, np.int64)
        arr = np.array(rows, dtype=np.float64)
        return c.power_from_rows(arr), np.nan_to_num(arr[:, 4]).astype(np.int64)

    def delete_power(self, installation_id: str, start: int, end: int) -> None:
        self._tx(
            lambda conn: conn.execute(
                "DELETE FROM power WHERE installation_id = ? AND ts >= ? AND ts < ?",
                (installation_id, int(start), int(end)),
            )
        )

    def power_installations(self) -> list[str]:
        return self._distinct_ids("power", "installation_id")

    def power_bounds(self, installation_id: str) -> tuple[int, int] | None:
        return self._bounds("power", "installation_id = ?", (installation_id,))

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
        self._tx(lambda conn: conn.executemany(ROLLUP_INSERT, rows))
        return len(ts)

    def read_rollups(
        self, installation_id: str, resolution_s: int, start: int, end: int
    ) -> RollupBatch:
        rows = self._q(ROLLUP_SELECT, (installation_id, int(resolution_s), int(start), int(end)))
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
        out = []
        for inst in self._distinct_ids("power_rollup", "installation_id"):
            res = -1
            while True:  # skip-scan over resolution_s within the installation
                (nxt,) = self._q(
                    "SELECT MIN(resolution_s) FROM power_rollup"
                    " WHERE installation_id = ? AND resolution_s > ?",
                    (inst, res),
                )[0]
                if nxt is None:
                    break
                res = int(nxt)
                out.append((inst, res))
        return out

    def rollup_bounds(self, installation_id: str, resolution_s: int) -> tuple[int, int] | None:
        return self._bounds(
            "power_rollup",
            "installation_id = ? AND resolution_s = ?",
            (installation_id, int(resolution_s)),
        )
