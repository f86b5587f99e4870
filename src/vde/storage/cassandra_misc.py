"""Cassandra backend, second half: schema lifecycle, small tables and lease locks.

Mixed into ``CassandraStore`` (which provides ``_exec``, ``_exec_many``, ``_ps`` ...).
Whole-list replaces (access, captions, a config version, a sensor's missing intervals)
are one single-partition batch: the delete of the old partition is written one
microsecond before the new rows (``USING TIMESTAMP``), so the new rows win and a reader
never sees a half-replaced list.

A configuration import spans several tables, and a logged batch of a whole fleet's rows
would pass Cassandra's batch size limit. So ``save_config`` stages: the new version's
sensor rows go to their own partition (invisible until listed in ``config_versions``), the
access list and captions to a new partition ``bucket`` each; then one small logged batch
lists the version and points the meta keys ``access_bucket`` / ``captions_bucket`` at the
new partitions. Until that batch is applied readers see the previous configuration; a
failed import leaves only unreferenced staged rows, replaced by the next import.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from cassandra import DriverException
from cassandra.query import BatchStatement, BatchType

from vde.errors import LockedError, StorageError
from vde.logs import get_logger
from vde.models import Alert, ConfigVersion, MissingInterval, SensorRow, SyncState, User
from vde.storage import cassandra_schema as cs
from vde.storage import common as c
from vde.storage.base import SCHEMA_VERSION, TABLES, Store

log = get_logger(__name__)


_FIRST_KEY = {
    "sensors_config": "version_id",
    "sync_state": "sensor_id",
    "users": "login",
    "meta": "key",
    "locks": "name",
    "sharing_quarters": "installation_id",
    "sharing_results": "community_id",
    "sharing_keys": "community_id",
    "export_state": "target",
    "api_tokens": "token_id",
}


#: Meta keys naming the partition of the current access list and captions (save_config).
_CONFIG_POINTERS = frozenset({"access_bucket", "captions_bucket"})


def _now_us() -> int:
    return time.time_ns() // 1000


class CassandraMiscMixin(Store):
    keyspace: str

    # --- lifecycle -----------------------------------------------------------------------------
    def create_schema(self, tables: Iterable[str] | None = None) -> None:
        names = list(TABLES if tables is None else tables)
        unknown = [t for t in names if t not in TABLES]
        if unknown:
            raise StorageError(f"unknown table(s) {', '.join(unknown)}; known: {', '.join(TABLES)}")
        ddl = cs.ddl(self.keyspace)
        repl = self._u.replication()
        repl_cql = "{" + ", ".join(f"'{k}': '{v}'" for k, v in repl.items()) + "}"
        statements = [
            f"CREATE KEYSPACE IF NOT EXISTS {self.keyspace} WITH replication = {repl_cql}"
        ]
        statements += [ddl[t] for t in dict.fromkeys([*names, "meta", cs.INDEX_TABLE])]
        try:
            for cql in statements:
                # DDL cannot be bound; every name in it is validated (keyspace) or ours
                self._session.execute(cql, timeout=120)
            self._add_columns(names)
            self._use_twcs(names)
        except DriverException as exc:
            raise StorageError(f"cannot create the schema on {self.url}: {exc}") from exc
        if self.get_meta("schema_version") is None:
            self.set_meta("schema_version", str(SCHEMA_VERSION))
        log.info("schema_created", url=self.url, tables=len(names))

    def _add_columns(self, names: list[str]) -> None:
        """Columns added since a table's first release, on keyspaces created before."""
        for table in names:
            added = cs.ADDED_COLUMNS.get(table, ())
            if not added:
                continue
            have = {
                r[0]
                for r in self._exec(
                    "SELECT column_name FROM system_schema.columns"
                    " WHERE keyspace_name = ? AND table_name = ?",
                    (self.keyspace, table),
                )
            }
            for col, cql_type in added:
                if col not in have:
                    self._session.execute(
                        f"ALTER TABLE {self.keyspace}.{table} ADD {col} {cql_type}", timeout=120
                    )

    def _use_twcs(self, names: list[str]) -> None:
        """TWCS on the 8-s tables of keyspaces created before it (a tuned TWCS stays)."""
        for table in names:
            if table not in cs.TWCS_TABLES:
                continue
            rows = self._exec(
                "SELECT compaction FROM system_schema.tables"
                " WHERE keyspace_name = ? AND table_name = ?",
                (self.keyspace, table),
            )
            if rows and not cs.is_twcs(dict(rows[0][0] or {})):
                self._session.execute(
                    f"ALTER TABLE {self.keyspace}.{table} WITH compaction = {cs.TWCS_CQL}",
                    timeout=120,
                )
                log.info("table_compaction_changed", table=table, strategy="TWCS")

    def _existing_tables(self) -> set[str]:
        rows = self._exec(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?", (self.keyspace,)
        )
        return {r[0] for r in rows}

    def schema_version(self) -> int | None:
        if "meta" not in self._existing_tables():
            return None
        v = self.get_meta("schema_version")
        return int(v) if v is not None else None

    def info(self) -> dict:
        present = self._existing_tables()
        tables: dict[str, dict] = {}
        for t in TABLES:
            if t in present:
                tables[t] = self._table_info(t)
        return {
            "backend": self.backend,
            "url": self.url,
            "schema_version": self.schema_version(),
            "tables": tables,
        }

    def _table_info(self, table: str) -> dict:
        if table in ("raw", "power", "power_rollup"):
            return self._series_info(table)
        # small tables: read the time columns (or one key column) and count here, since
        # a server-side aggregate over a whole table draws a warning on every call
        lo, hi = c.TIME_COLUMNS.get(table, (None, None))
        cols = f"{lo}, {hi}" if lo else _FIRST_KEY.get(table, "bucket")
        rows = self._exec(f"SELECT {cols} FROM {cs.qname('{ks}', table)}")
        n = len(rows)
        mins = [r[0] for r in rows if lo and r[0] is not None]
        maxs = [r[1] for r in rows if lo and r[1] is not None]
        mn, mx = (min(mins) if mins else None), (max(maxs) if maxs else None)
        return {"rows": int(n), "min_ts": mn, "max_ts": mx}

    def _series_info(self, table: str) -> dict:
        """Per-partition aggregates (never a full-table COUNT): one query per partition."""
        index = self._exec("SELECT kind, id, bucket FROM {ks}.series_index")
        if table == "power_rollup":
            keys = [
                (i, int(k.split(":")[1]), b) for k, i, b in index if k.startswith("power_rollup:")
            ]
            where = "installation_id = ? AND resolution_s = ? AND period = ?"
        else:
            keys = [(i, b) for k, i, b in index if k == table]
            where = ("sensor_id" if table == "raw" else "installation_id") + " = ? AND day = ?"
        parts = self._query_many(
            f"SELECT COUNT(*), MIN(ts), MAX(ts) FROM {{ks}}.{table} WHERE {where}", keys
        )
        n, mins, maxs = 0, [], []
        for p in parts:
            cnt, mn, mx = p[0]
            n += cnt
            if cnt:
                mins.append(mn)
                maxs.append(mx)
        return {
            "rows": n,
            "min_ts": min(mins) if mins else None,
            "max_ts": max(maxs) if maxs else None,
        }

    def truncate_dirty(self) -> None:
        """Empty the tables this store wrote to (test isolation); meta keeps its version."""
        self._truncate(sorted(self._dirty))
        self._dirty.clear()

    def truncate_all(self) -> None:
        self._truncate([*TABLES, cs.INDEX_TABLE])
        self._dirty.clear()

    def _truncate(self, tables: list[str]) -> None:
        try:
            for t in tables:
                # TRUNCATE costs 0.1 s or more per table even when it is empty (the node
                # coordinates it); a two-row read tells whether there is anything to empty
                if not self._holds_rows(t):
                    continue
                self._session.execute(f"TRUNCATE {cs.qname(self.keyspace, t)}", timeout=120)
        except DriverException as exc:
            raise StorageError(f"cannot truncate on {self.url}: {exc}") from exc
        if "meta" in tables:
            self.set_meta("schema_version", str(SCHEMA_VERSION))
            self._dirty.discard("meta")

    def _holds_rows(self, table: str) -> bool:
        """Whether ``table`` has rows other than meta's schema version."""
        col = "key" if table == "meta" else "*"
        try:
            q = f"SELECT {col} FROM {cs.qname(self.keyspace, table)} LIMIT 2"
            rows = self._session.execute(q)
        except DriverException:  # e.g. too many tombstones to scan: TRUNCATE clears them
            return True
        return any(table != "meta" or r[0] != "schema_version" for r in rows)

    def drop_keyspace(self) -> None:
        """Drop the whole keyspace (tests, benchmarks). Irreversible."""
        try:
            self._session.execute(f"DROP KEYSPACE IF EXISTS {self.keyspace}", timeout=120)
        except DriverException as exc:
            raise StorageError(f"cannot drop keyspace on {self.url}: {exc}") from exc
        self._prepared.clear()

    def _replace_partition(
        self, table: str, delete_cql: str, key: tuple, insert_cql: str, rows: list
    ) -> None:
        """Atomically replace one partition's rows (see module docstring)."""
        self._dirty.add(table)
        ts = _now_us()
        batch = BatchStatement(batch_type=BatchType.UNLOGGED)
        batch.add(self._ps(delete_cql), (ts - 1, *key))
        for r in rows:
            batch.add(self._ps(insert_cql), (*r, ts))
        self._exec_many([(batch, None)])

    # --- configuration -------------------------------------------------------------------------
    def save_config_version(self, version: ConfigVersion) -> None:
        self.save_config(version, None, None)

    def _bucket(self, key: str) -> int:
        """The partition of the access list or captions in use (0 before any import)."""
        value = self.get_meta(key)
        return int(value) if value is not None else 0

    def save_config(
        self,
        version: ConfigVersion | None,
        access: Iterable[tuple[str, str]] | None,
        captions: dict[str, str] | None,
    ) -> None:
        # stage every new row where no reader looks yet (see the module docstring) ...
        commit: list[tuple[str, tuple]] = []
        if version is not None:
            vid = int(version.version_id)
            cols = cs.SENSOR_CQL
            self._replace_partition(
                "sensors_config",
                "DELETE FROM {ks}.sensors_config USING TIMESTAMP ? WHERE version_id = ?",
                (vid,),
                f"INSERT INTO {{ks}}.sensors_config (version_id, {cols}) VALUES (?, {', '.join('?' * len(c.SENSOR_COLUMNS))})"
                " USING TIMESTAMP ?",
                [(vid, *(getattr(r, k) for k in c.SENSOR_COLUMNS)) for r in version.rows],
            )
            self._dirty.add("config_versions")
            commit.append(
                (
                    "INSERT INTO {ks}.config_versions (bucket, version_id, created_ts, content_hash) VALUES (0, ?, ?, ?)",
                    (vid, vid // 1_000_000, version.content_hash()),
                )
            )
        old: list[tuple[str, int]] = []
        for key, table, cql, rows in (
            (
                "access_bucket",
                "access",
                "INSERT INTO {ks}.access (bucket, login, installation_id) VALUES (?, ?, ?) USING TIMESTAMP ?",
                None if access is None else sorted(set(access)),
            ),
            (
                "captions_bucket",
                "group",
                'INSERT INTO {ks}."group" (bucket, installation_id, caption) VALUES (?, ?, ?) USING TIMESTAMP ?',
                None if captions is None else sorted(captions.items()),
            ),
        ):
            if rows is None:
                continue
            current = self._bucket(key)  # key is one of _CONFIG_POINTERS
            staged = current + 1
            self._replace_partition(
                table,
                f"DELETE FROM {cs.qname('{ks}', table)} USING TIMESTAMP ? WHERE bucket = ?",
                (staged,),
                cql,
                [(staged, *r) for r in rows],
            )
            commit.append(("INSERT INTO {ks}.meta (key, value) VALUES (?, ?)", (key, str(staged))))
            old.append((table, current))
        if not commit:
            return
        # ... then make them current at once
        self._dirty.add("meta")
        batch = BatchStatement(batch_type=BatchType.LOGGED)
        for cql, params in commit:
            batch.add(self._ps(cql), params)
        self._exec_many([(batch, None)])
        for table, bucket in old:  # unreferenced now; a failure here only leaves garbage
            self._exec(f"DELETE FROM {cs.qname('{ks}', table)} WHERE bucket = ?", (bucket,))

    def config_versions(self) -> list[tuple[int, str]]:
        rows = self._exec(
            "SELECT version_id, content_hash FROM {ks}.config_versions WHERE bucket = 0"
        )
        return [(int(v), h) for v, h in rows]

    def load_config(self, version_id: int | None = None) -> ConfigVersion | None:
        if version_id is None:
            rows = self._exec(
                "SELECT version_id FROM {ks}.config_versions WHERE bucket = 0 ORDER BY version_id DESC LIMIT 1"
            )
        else:
            rows = self._exec(
                "SELECT version_id FROM {ks}.config_versions WHERE bucket = 0 AND version_id = ?",
                (int(version_id),),
            )
        if not rows:
            return None
        vid = int(rows[0][0])
        sensors = self._exec(
            f"SELECT {cs.SENSOR_CQL} FROM {{ks}}.sensors_config WHERE version_id = ?", (vid,)
        )
        return ConfigVersion(
            version_id=vid,
            rows=tuple(SensorRow(**dict(zip(c.SENSOR_COLUMNS, r, strict=True))) for r in sensors),
        )

    def replace_access(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.save_config(None, pairs, None)

    def access(self) -> list[tuple[str, str]]:
        return [
            tuple(r)
            for r in self._exec(
                "SELECT login, installation_id FROM {ks}.access WHERE bucket = ?",
                (self._bucket("access_bucket"),),
            )
        ]

    def installations_for(self, login: str) -> list[str]:
        rows = self._exec(
            "SELECT installation_id FROM {ks}.access WHERE bucket = ? AND login = ?",
            (self._bucket("access_bucket"), login),
        )
        return [r[0] for r in rows]

    def replace_captions(self, captions: dict[str, str]) -> None:
        self.save_config(None, None, captions)

    def captions(self) -> dict[str, str]:
        return dict(
            self._exec(
                'SELECT installation_id, caption FROM {ks}."group" WHERE bucket = ?',
                (self._bucket("captions_bucket"),),
            )
        )

    # --- missing, sync state ----------------------------------------------------------------------
    def _intervals(self, table: str, sensor_id: str | None) -> list[MissingInterval]:
        cql = f"SELECT sensor_id, start_ts, end_ts, found_ts FROM {{ks}}.{table}"
        if sensor_id is None:
            rows = sorted(self._exec(cql), key=lambda r: (r[0], r[1]))
        else:
            rows = self._exec(cql + " WHERE sensor_id = ?", (sensor_id,))
        return [MissingInterval(*r) for r in rows]

    def _replace_intervals(
        self, table: str, sensor_id: str, intervals: Iterable[MissingInterval]
    ) -> None:
        self._replace_partition(
            table,
            f"DELETE FROM {{ks}}.{table} USING TIMESTAMP ? WHERE sensor_id = ?",
            (sensor_id,),
            f"INSERT INTO {{ks}}.{table} (sensor_id, start_ts, end_ts, found_ts)"
            " VALUES (?, ?, ?, ?) USING TIMESTAMP ?",
            [(sensor_id, int(i.start_ts), int(i.end_ts), int(i.found_ts)) for i in intervals],
        )

    def put_sync_state(self, state: SyncState) -> None:
        self._dirty.add("sync_state")
        self._exec(
            f"INSERT INTO {{ks}}.sync_state ({', '.join(c.SYNC_COLUMNS)}) VALUES ({', '.join('?' * len(c.SYNC_COLUMNS))})",
            c.sync_row(state),
        )

    def sync_states(self) -> dict[str, SyncState]:
        rows = self._exec(f"SELECT {', '.join(c.SYNC_COLUMNS)} FROM {{ks}}.sync_state")
        return {r[0]: c.sync_from(r) for r in sorted(rows, key=lambda r: r[0])}

    # --- alerts, users, meta -------------------------------------------------------------------------
    def put_alert(self, alert: Alert) -> None:
        self._dirty.add("alerts")
        self._exec(
            f"INSERT INTO {{ks}}.alerts ({', '.join(c.ALERT_COLUMNS)}) VALUES ({', '.join('?' * len(c.ALERT_COLUMNS))})",
            c.alert_row(alert),
        )

    def alerts(self, *, status: str | None = None, since_day: str | None = None) -> list[Alert]:
        # alerts are few (one per installation, kind and day): a scan and a filter here
        # is cheaper than a second table per filter, and needs no ALLOW FILTERING
        rows = self._exec(f"SELECT {', '.join(c.ALERT_COLUMNS)} FROM {{ks}}.alerts")
        return c.filter_alerts([c.alert_from(r) for r in rows], status, since_day)

    def put_user(self, user: User) -> None:
        self._dirty.add("users")
        self._exec(
            f"INSERT INTO {{ks}}.users ({', '.join(c.USER_COLUMNS)}) VALUES ({', '.join('?' * len(c.USER_COLUMNS))})",
            c.user_row(user),
        )

    def get_user(self, login: str) -> User | None:
        rows = self._exec(
            f"SELECT {', '.join(c.USER_COLUMNS)} FROM {{ks}}.users WHERE login = ?", (login,)
        )
        return c.user_from(rows[0]) if rows else None

    def users(self) -> list[User]:
        rows = self._exec(f"SELECT {', '.join(c.USER_COLUMNS)} FROM {{ks}}.users")
        return sorted((c.user_from(r) for r in rows), key=lambda u: u.login)

    def delete_user(self, login: str) -> None:
        self._exec("DELETE FROM {ks}.users WHERE login = ?", (login,))

    def get_meta(self, key: str) -> str | None:
        rows = self._exec("SELECT value FROM {ks}.meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str | None) -> None:
        self._dirty.add("meta")
        if value is None:
            self._exec("DELETE FROM {ks}.meta WHERE key = ?", (key,))
        else:
            self._exec("INSERT INTO {ks}.meta (key, value) VALUES (?, ?)", (key, str(value)))

    def meta_items(self) -> dict[str, str]:
        # the configuration's partition pointers belong to this backend: not copied by migrate
        return {
            k: v
            for k, v in sorted(self._exec("SELECT key, value FROM {ks}.meta"))
            if k not in _CONFIG_POINTERS
        }

    # --- locks (lightweight transactions) ---------------------------------------------------------------
    def _lwt(self, cql: str, params: tuple) -> dict:
        self._dirty.add("locks")
        try:
            rs = self._session.execute(
                self._ps(cql, idempotent=False), params, execution_profile="lwt"
            )
        except DriverException as exc:
            raise StorageError(f"Cassandra lock operation failed on {self.url}: {exc}") from exc
        row = rs.one() or {}
        return row

    def try_lock(self, name: str, ttl_s: int) -> bool:
        ttl = max(1, int(ttl_s))
        now = c.now_s()
        row = self._lwt(
            "INSERT INTO {ks}.locks (name, owner, expires_ts) VALUES (?, ?, ?) IF NOT EXISTS USING TTL ?",
            (name, self._owner, now + ttl, ttl),
        )
        if row.get("[applied]"):
            return True
        holder = row.get("owner")
        if (
            holder != self._owner
            and not c.owner_is_dead(holder or "")
            and (row.get("expires_ts") or 0) > now
        ):
            return False
        taken = self._lwt(
            "UPDATE {ks}.locks USING TTL ? SET owner = ?, expires_ts = ? WHERE name = ? IF owner = ?",
            (ttl, self._owner, now + ttl, name, holder),
        )
        if taken.get("[applied]") and holder != self._owner:
            log.info("lock_taken_over", name=name, previous_owner=holder)
        return bool(taken.get("[applied]"))

    def refresh_lock(self, name: str, ttl_s: int) -> None:
        ttl = max(1, int(ttl_s))
        row = self._lwt(
            "UPDATE {ks}.locks USING TTL ? SET owner = ?, expires_ts = ? WHERE name = ? IF owner = ?",
            (ttl, self._owner, c.now_s() + ttl, name, self._owner),
        )
        if not row.get("[applied]"):
            raise LockedError(f"lock '{name}' is no longer held by this process")

    def release_lock(self, name: str) -> None:
        self._lwt("DELETE FROM {ks}.locks WHERE name = ? IF owner = ?", (name, self._owner))
