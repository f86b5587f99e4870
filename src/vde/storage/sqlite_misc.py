"""SQLite backend, second half: configuration, small tables and lease locks.

Mixed into ``SQLiteStore``, which provides ``_tx`` (one write transaction) and ``_q``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from vde.errors import LockedError
from vde.logs import get_logger
from vde.models import Alert, ConfigVersion, MissingInterval, SensorRow, SyncState, User
from vde.storage import common as c
from vde.storage.base import Store

log = get_logger(__name__)


class SQLiteMiscMixin(Store):
    _owner: str

    # --- configuration ------------------------------------------------------------------------------------
    def save_config_version(self, version: ConfigVersion) -> None:
        self.save_config(version, None, None)

    def save_config(
        self,
        version: ConfigVersion | None,
        access: Iterable[tuple[str, str]] | None,
        captions: dict[str, str] | None,
    ) -> None:
        # one transaction: an import never leaves a version without its access list
        def run(conn: sqlite3.Connection) -> None:
            if version is not None:
                _write_version(conn, version)
            if access is not None:
                _write_access(conn, access)
            if captions is not None:
                _write_captions(conn, captions)

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
        self.save_config(None, pairs, None)

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
        self.save_config(None, None, captions)

    def captions(self) -> dict[str, str]:
        return dict(self._q('SELECT installation_id, caption FROM "group" ORDER BY 1'))

    # --- missing, sync state ---------------------------------------------------------------------------------
    def _intervals(self, table: str, sensor_id: str | None) -> list[MissingInterval]:
        sql = f"SELECT sensor_id, start_ts, end_ts, found_ts FROM {table}"
        if sensor_id is None:
            rows = self._q(sql + " ORDER BY sensor_id, start_ts")
        else:
            rows = self._q(sql + " WHERE sensor_id = ? ORDER BY start_ts", (sensor_id,))
        return [MissingInterval(*r) for r in rows]

    def _replace_intervals(
        self, table: str, sensor_id: str, intervals: Iterable[MissingInterval]
    ) -> None:
        rows = [(sensor_id, int(i.start_ts), int(i.end_ts), int(i.found_ts)) for i in intervals]

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(f"DELETE FROM {table} WHERE sensor_id = ?", (sensor_id,))
            conn.executemany(
                f"INSERT OR REPLACE INTO {table} (sensor_id, start_ts, end_ts, found_ts)"
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
                raise LockedError(f"lock '{name}' is no longer held by this process")

        self._tx(run)

    def release_lock(self, name: str) -> None:
        self._tx(
            lambda conn: conn.execute(
                "DELETE FROM locks WHERE name = ? AND owner = ?", (name, self._owner)
            )
        )


# --- configuration writes, inside the caller's transaction ---------------------------------------
def _write_version(conn: sqlite3.Connection, version: ConfigVersion) -> None:
    vid = int(version.version_id)
    rows = [(vid, *(getattr(r, col) for col in c.SENSOR_COLUMNS)) for r in version.rows]
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


def _write_access(conn: sqlite3.Connection, pairs: Iterable[tuple[str, str]]) -> None:
    conn.execute("DELETE FROM access")
    conn.executemany(
        "INSERT INTO access (login, installation_id) VALUES (?, ?)", sorted(set(pairs))
    )


def _write_captions(conn: sqlite3.Connection, captions: dict[str, str]) -> None:
    conn.execute('DELETE FROM "group"')
    conn.executemany(
        'INSERT INTO "group" (installation_id, caption) VALUES (?, ?)', captions.items()
    )
