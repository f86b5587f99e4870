"""Cassandra backend: prepared statements, token-aware routing, concurrent partition I/O.

Writes group rows by partition and send each group as an UNLOGGED batch confined to that
one partition (never a multi-partition batch), many in flight at once
(``execute_concurrent``); reads of several day/period partitions run concurrently. The
schema and its partitioning are in ``vde.storage.cassandra_schema``.
"""

from __future__ import annotations

import itertools
import logging
import ssl
from collections.abc import Sequence

import numpy as np
from cassandra import ConsistencyLevel, DriverException
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    NoHostAvailable,
    Session,
)
from cassandra.concurrent import execute_concurrent
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.query import (
    BatchStatement,
    BatchType,
    BoundStatement,
    PreparedStatement,
    dict_factory,
    tuple_factory,
)

from vde.errors import StorageError
from vde.logs import get_logger
from vde.models import PowerSeries, RawSeries, RollupBatch
from vde.storage import cassandra_schema as cs
from vde.storage import common as c
from vde.storage.cassandra_exchange import CassandraExchangeMixin
from vde.storage.cassandra_misc import CassandraMiscMixin
from vde.storage.cassandra_sharing import CassandraSharingMixin
from vde.storage.url import DbUrl

log = get_logger(__name__)

#: rows per single-partition batch, and batches in flight
BATCH_ROWS = 250
CONCURRENCY = 64
#: beyond this many candidate partitions, ask series_index which ones exist
DIRECT_BUCKETS = 4
LWT_PROFILE = "lwt"


class CassandraStore(CassandraExchangeMixin, CassandraSharingMixin, CassandraMiscMixin):
    """Store in a Cassandra keyspace (default ``flukso``)."""

    backend = "cassandra"
    expires_rows = True  # raw/power rows carry a TTL once set_retention is given one

    def __init__(self, url: DbUrl, *, connect_timeout: float = 10.0) -> None:
        self._u = url
        self.url = url.redacted
        self.keyspace = url.keyspace
        self._owner = c.new_owner()
        self._prepared: dict[str, PreparedStatement] = {}
        self._dirty: set[str] = set()
        timeout = float(url.options.get("timeout", 30))
        lbp = TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=url.options.get("local_dc")))
        cl = getattr(ConsistencyLevel, url.consistency())
        serial = getattr(ConsistencyLevel, url.consistency("serial_consistency", "SERIAL"))
        profiles = {
            EXEC_PROFILE_DEFAULT: ExecutionProfile(
                load_balancing_policy=lbp,
                consistency_level=cl,
                serial_consistency_level=serial,
                request_timeout=timeout,
                row_factory=tuple_factory,
            ),
            LWT_PROFILE: ExecutionProfile(
                load_balancing_policy=TokenAwarePolicy(
                    DCAwareRoundRobinPolicy(local_dc=url.options.get("local_dc"))
                ),
                consistency_level=cl,
                serial_consistency_level=serial,
                request_timeout=timeout,
                row_factory=dict_factory,
            ),
        }
        auth = None
        if url.username:
            auth = PlainTextAuthProvider(username=url.username, password=url.password or "")
        self._cluster = Cluster(
            list(url.hosts),
            port=url.port,
            protocol_version=5,  # Cassandra >= 4.0; saves the downgrade dance and its warnings
            auth_provider=auth,
            ssl_context=self._ssl_context(url),
            execution_profiles=profiles,
            connect_timeout=connect_timeout,
            control_connection_timeout=connect_timeout,
        )
        # the driver logs a traceback per refused connection; our StorageError says it once
        driver_log = logging.getLogger("cassandra.cluster")
        level = driver_log.level
        driver_log.setLevel(logging.CRITICAL)
        try:
            self._session: Session = self._cluster.connect()
        except (NoHostAvailable, DriverException, OSError) as exc:
            self._cluster.shutdown()
            raise StorageError(
                f"cannot reach Cassandra at {self.url}: {_short(exc)}; check that the node runs "
                "and that host, port, credentials and TLS options are right"
            ) from exc
        finally:
            driver_log.setLevel(level)

    @staticmethod
    def _ssl_context(url: DbUrl) -> ssl.SSLContext | None:
        if not url.flag("ssl"):
            return None
        try:
            ctx = ssl.create_default_context(cafile=url.options.get("ca"))
            if url.options.get("certfile"):
                ctx.load_cert_chain(url.options["certfile"], url.options.get("keyfile"))
        except (OSError, ssl.SSLError) as exc:
            raise StorageError(
                f"cannot load the TLS files of {url.redacted} (ca, certfile, keyfile): "
                f"{getattr(exc, 'strerror', None) or exc}; give readable PEM files"
            ) from exc
        return ctx

    # --- plumbing -------------------------------------------------------------------------------
    def _ps(self, cql: str, *, idempotent: bool = True) -> PreparedStatement:
        """Prepared statement for ``cql`` ({ks} = keyspace), prepared once per store."""
        ps = self._prepared.get(cql)
        if ps is None:
            try:
                ps = self._session.prepare(cql.format(ks=self.keyspace))
            except DriverException as exc:
                raise StorageError(
                    f"Cassandra refused a statement on {self.url}: {_short(exc)}; "
                    "is the schema created (vde db create)?"
                ) from exc
            ps.is_idempotent = idempotent
            ps.fetch_size = None  # partitions are bounded: fetch each in one response
            self._prepared[cql] = ps
        return ps

    def _exec(
        self, cql: str, params: Sequence = (), *, profile: str = EXEC_PROFILE_DEFAULT
    ) -> list:
        try:
            return list(self._session.execute(self._ps(cql), params, execution_profile=profile))
        except DriverException as exc:
            raise StorageError(f"Cassandra error on {self.url}: {_short(exc)}") from exc

    def _exec_many(self, items: list[tuple[object, Sequence | None]]) -> None:
        """Run statements concurrently; raise the first failure as StorageError."""
        if not items:
            return
        try:
            execute_concurrent(
                self._session, items, concurrency=CONCURRENCY, raise_on_first_error=True
            )
        except DriverException as exc:
            raise StorageError(f"Cassandra write failed on {self.url}: {_short(exc)}") from exc

    def _query_many(self, cql: str, params: list[Sequence]) -> list[list]:
        """One query per params, in flight together; results in the same order."""
        ps = self._ps(cql)
        try:
            futures = [self._session.execute_async(ps, p) for p in params]
            return [list(f.result()) for f in futures]
        except DriverException as exc:
            raise StorageError(f"Cassandra error on {self.url}: {_short(exc)}") from exc

    def _write_partitioned(
        self,
        table: str,
        cql: str,
        keys: list,
        buckets: np.ndarray,
        rows: list,
        retention_s: int = 0,
    ) -> None:
        """Batch ``rows`` (wire format, sorted by bucket) per partition; index the buckets.

        ``retention_s`` > 0: the index entries of day buckets expire after their rows
        (``cassandra_schema.index_ttl``); the rows carry their own TTL.
        """
        self._dirty.update((table, cs.INDEX_TABLE))
        ps = self._ps(cql)
        items: list[tuple[object, Sequence | None]] = []
        if len(rows):
            order_change = np.flatnonzero(np.diff(buckets)) + 1
            bounds = [0, *order_change.tolist(), len(rows)]
            for a, b in itertools.pairwise(bounds):
                for s in range(a, b, BATCH_ROWS):
                    batch = BatchStatement(batch_type=BatchType.UNLOGGED)
                    batch.is_idempotent = True
                    for r in rows[s : min(b, s + BATCH_ROWS)]:
                        # values are already in wire format (_wire_rows): skip per-value bind
                        bound = BoundStatement(ps)
                        bound.values = r
                        batch.add(bound)
                    items.append((batch, None))
        kind = keys[0]
        if retention_s > 0:
            idx = self._ps(
                "INSERT INTO {ks}.series_index (kind, id, bucket) VALUES (?, ?, ?) USING TTL ?"
            )
            now = c.now_s()
            items += [
                (idx, (kind, keys[1], int(bk), cs.index_ttl(int(bk), retention_s, now)))
                for bk in np.unique(buckets).tolist()
            ]
        else:
            idx = self._ps("INSERT INTO {ks}.series_index (kind, id, bucket) VALUES (?, ?, ?)")
            items += [(idx, (kind, keys[1], int(bk))) for bk in np.unique(buckets).tolist()]
        self._exec_many(items)

    def _buckets(self, kind: str, series_id: str, lo: int, hi: int) -> list[int]:
        """Partition buckets in [lo, hi] worth reading: all when few, else those that exist."""
        if hi < lo:
            return []
        if hi - lo < DIRECT_BUCKETS:
            return list(range(lo, hi + 1))
        rows = self._exec(
            "SELECT bucket FROM {ks}.series_index WHERE kind = ? AND id = ? AND bucket >= ? AND bucket <= ?",
            (kind, series_id, int(lo), int(hi)),
        )
        return [r[0] for r in rows]

    def _indexed(self, kind: str, series_id: str) -> list[int]:
        return [
            r[0]
            for r in self._exec(
                "SELECT bucket FROM {ks}.series_index WHERE kind = ? AND id = ?", (kind, series_id)
            )
        ]

    def _series_ids(self, kind: str) -> list[str]:
        rows = self._exec("SELECT DISTINCT kind, id FROM {ks}.series_index")
        return sorted(r[1] for r in rows if r[0] == kind)

    def _delete_range(
        self,
        table: str,
        key_cols: str,
        key: tuple,
        kind: str,
        buckets: list[int],
        start: int,
        end: int,
        bucket_span,
    ) -> None:
        """Delete [start, end) from each bucket; drop index entries of buckets left empty."""
        self._dirty.add(table)
        part = self._ps(f"DELETE FROM {{ks}}.{table} WHERE {key_cols} AND ts >= ? AND ts < ?")
        whole = self._ps(f"DELETE FROM {{ks}}.{table} WHERE {key_cols}")
        unindex = self._ps("DELETE FROM {ks}.series_index WHERE kind = ? AND id = ? AND bucket = ?")
        items: list[tuple[object, Sequence | None]] = []
        partial = []
        for b in buckets:
            b0, b1 = bucket_span(b)
            if start <= b0 and b1 <= end:
                items += [(whole, (*key, b)), (unindex, (kind, key[0], b))]
            else:
                items.append((part, (*key, b, int(start), int(end))))
                partial.append(b)
        self._exec_many(items)
        # a partial delete may have emptied its partition: keep the index exact
        if partial:
            first = self._query_many(
                f"SELECT ts FROM {{ks}}.{table} WHERE {key_cols} LIMIT 1",
                [(*key, b) for b in partial],
            )
            self._exec_many(
                [(unindex, (kind, key[0], b)) for b, r in zip(partial, first, strict=True) if not r]
            )

    def _bounds(self, table: str, key_cols: str, key: tuple, kind: str) -> tuple[int, int] | None:
        buckets = self._indexed(kind, key[0])
        lo = hi = None
        for b in buckets:
            r = self._exec(
                f"SELECT ts FROM {{ks}}.{table} WHERE {key_cols} ORDER BY ts ASC LIMIT 1", (*key, b)
            )
            if r:
                lo = r[0][0]
                break
        for b in reversed(buckets):
            r = self._exec(
                f"SELECT ts FROM {{ks}}.{table} WHERE {key_cols} ORDER BY ts DESC LIMIT 1",
                (*key, b),
            )
            if r:
                hi = r[0][0]
                break
        return None if lo is None or hi is None else (int(lo), int(hi))

    def close(self) -> None:
        self._cluster.shutdown()

    # --- raw ----------------------------------------------------------------------------------------
    def write_raw(
        self,
        sensor_id: str,
        ts: np.ndarray,
        power_w: np.ndarray,
        config_version: int,
        estimated: np.ndarray | None = None,
    ) -> int:
        ts, power_w, est = c.clean_raw(ts, power_w, estimated)
        order = np.argsort(ts, kind="stable")
        ts, power_w, est = ts[order], power_w[order], est[order]
        days = cs.day_of(ts)
        now = c.now_s()
        rows = cs.wire_rows(
            sensor_id.encode(),
            days.astype(">i4"),
            ts.astype(">i8"),
            power_w.astype(">f8"),
            cs.bigint(config_version),
            cs.bigint(now),
            est.astype(np.uint8),  # CQL boolean: one byte, 0 or 1
            cs.row_ttls(ts, self.raw_ttl_s, now).astype(">i4"),  # 0: no TTL
        )
        self._write_partitioned(
            "raw",
            "INSERT INTO {ks}.raw (sensor_id, day, ts, power_w, config_version, inserted_ts,"
            " estimated) VALUES (?, ?, ?, ?, ?, ?, ?) USING TTL ?",
            ["raw", sensor_id],
            days,
            rows,
            self.raw_ttl_s,
        )
        return len(ts)

    def read_raw_with_version(
        self, sensor_id: str, start: int, end: int
    ) -> tuple[RawSeries, np.ndarray]:
        arr = self._read_days(
            "SELECT ts, power_w, config_version, estimated FROM {ks}.raw"
            " WHERE sensor_id = ? AND day = ? AND ts >= ? AND ts < ?",
            "raw",
            sensor_id,
            start,
            end,
        )
        if arr is None:
            return c.empty_raw(), np.empty(0, np.int64)
        series = RawSeries(
            ts=arr[:, 0].astype(np.int64),
            power_w=arr[:, 1].copy(),
            estimated=np.nan_to_num(arr[:, 3]) != 0,  # null (older rows): measured
        )
        return series, np.nan_to_num(arr[:, 2]).astype(np.int64)

    def _read_days(self, cql: str, kind: str, key: str, start: int, end: int) -> np.ndarray | None:
        """Rows of every day partition overlapping [start, end), read concurrently, as floats."""
        days = self._buckets(kind, key, int(start) // cs.DAY_S, (int(end) - 1) // cs.DAY_S)
        parts = self._query_many(cql, [(key, d, int(start), int(end)) for d in days])
        rows = [r for p in parts for r in p]
        return np.array(rows, dtype=np.float64) if rows else None

    def delete_raw(self, sensor_id: str, start: int, end: int) -> None:
        days = self._buckets("raw", sensor_id, int(start) // cs.DAY_S, (int(end) - 1) // cs.DAY_S)
        self._delete_range(
            "raw",
            "sensor_id = ? AND day = ?",
            (sensor_id,),
            "raw",
            days,
            int(start),
            int(end),
            lambda d: (d * cs.DAY_S, (d + 1) * cs.DAY_S),
        )

    def raw_sensors(self) -> list[str]:
        return self._series_ids("raw")

    def raw_bounds(self, sensor_id: str) -> tuple[int, int] | None:
        return self._bounds("raw", "sensor_id = ? AND day = ?", (sensor_id,), "raw")

    # --- power -----------------------------------------------------------------------------------------
    def write_power(self, installation_id: str, series: PowerSeries, config_version: int) -> int:
        ts = np.asarray(series.ts, dtype=np.int64)
        order = np.argsort(ts, kind="stable")
        ts = ts[order]
        days = cs.day_of(ts)
        now = c.now_s()
        # a group's homes counted and own import; a home's rows leave them unset (no nulls)
        groups = c.power_groups(series)
        extra = (
            []
            if groups is None
            else [groups[0][order].astype(">i4"), groups[1][order].astype(">f8")]
        )
        group_cols = ", homes, p_import" if extra else ""
        rows = cs.wire_rows(
            installation_id.encode(),
            days.astype(">i4"),
            ts.astype(">i8"),
            *(
                np.asarray(x, dtype=np.float64)[order].astype(">f8")
                for x in (series.p_cons, series.p_prod, series.p_tot)
            ),
            cs.bigint(config_version),
            cs.bigint(now),
            c.power_estimated(series)[order].astype(np.uint8),  # CQL boolean: one byte
            *extra,
            cs.row_ttls(ts, self.power_ttl_s, now).astype(">i4"),  # 0: no TTL
        )
        self._write_partitioned(
            "power",
            "INSERT INTO {ks}.power (installation_id, day, ts, p_cons, p_prod, p_tot, config_version,"
            f" inserted_ts, estimated{group_cols}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?"
            f"{', ?' * len(extra)}) USING TTL ?",
            ["power", installation_id],
            days,
            rows,
            self.power_ttl_s,
        )
        return len(ts)

    def read_power_with_version(
        self, installation_id: str, start: int, end: int
    ) -> tuple[PowerSeries, np.ndarray]:
        arr = self._read_days(
            "SELECT ts, p_cons, p_prod, p_tot, config_version, estimated, homes, p_import"
            " FROM {ks}.power WHERE installation_id = ? AND day = ? AND ts >= ? AND ts < ?",
            "power",
            installation_id,
            start,
            end,
        )
        if arr is None:
            return c.empty_power(), np.empty(0, np.int64)
        return c.power_from_rows(arr), np.nan_to_num(arr[:, 4]).astype(np.int64)

    def delete_power(self, installation_id: str, start: int, end: int) -> None:
        days = self._buckets(
            "power", installation_id, int(start) // cs.DAY_S, (int(end) - 1) // cs.DAY_S
        )
        self._delete_range(
            "power",
            "installation_id = ? AND day = ?",
            (installation_id,),
            "power",
            days,
            int(start),
            int(end),
            lambda d: (d * cs.DAY_S, (d + 1) * cs.DAY_S),
        )

    def power_installations(self) -> list[str]:
        return self._series_ids("power")

    def power_bounds(self, installation_id: str) -> tuple[int, int] | None:
        return self._bounds("power", "installation_id = ? AND day = ?", (installation_id,), "power")

    # --- rollups ----------------------------------------------------------------------------------------
    def write_rollups(self, installation_id: str, batch: RollupBatch) -> int:
        res = int(batch.resolution_s)
        order = np.argsort(np.asarray(batch.ts, dtype=np.int64), kind="stable")
        sorted_batch = RollupBatch(
            resolution_s=res,
            ts=np.asarray(batch.ts, dtype=np.int64)[order],
            columns={f: np.asarray(v)[order] for f, v in batch.columns.items()},
        )
        ts, n, blobs = c.pack_rollups(sorted_batch)
        periods = cs.period_of(res, sorted_batch.ts)
        rows = cs.wire_rows(
            installation_id.encode(),
            cs.cql_int(res),
            periods.astype(">i4"),
            np.asarray(ts, dtype=">i8"),
            np.asarray(n, dtype=">i8"),
            blobs,
        )
        self._write_partitioned(
            "power_rollup",
            "INSERT INTO {ks}.power_rollup (installation_id, resolution_s, period, ts, n, v)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [cs.index_kind("power_rollup", res), installation_id],
            periods,
            rows,
        )
        return len(ts)

    def _periods(self, installation_id: str, res: int, start: int, end: int) -> list[int]:
        if end <= start:
            return []
        lo, hi = cs.period_of(res, np.array([start, end - 1]))
        return self._buckets(cs.index_kind("power_rollup", res), installation_id, int(lo), int(hi))

    def read_rollups(
        self, installation_id: str, resolution_s: int, start: int, end: int
    ) -> RollupBatch:
        res = int(resolution_s)
        periods = self._periods(installation_id, res, int(start), int(end))
        parts = self._query_many(
            "SELECT v FROM {ks}.power_rollup"
            " WHERE installation_id = ? AND resolution_s = ? AND period = ? AND ts >= ? AND ts < ?",
            [(installation_id, res, p, int(start), int(end)) for p in periods],
        )
        return c.unpack_rollups(res, [r for p in parts for r in p])

    def delete_rollups(self, installation_id: str, resolution_s: int, start: int, end: int) -> None:
        res = int(resolution_s)
        periods = self._periods(installation_id, res, int(start), int(end))
        self._delete_range(
            "power_rollup",
            "installation_id = ? AND resolution_s = ? AND period = ?",
            (installation_id, res),
            cs.index_kind("power_rollup", res),
            periods,
            int(start),
            int(end),
            lambda p: (cs.period_start(res, p), cs.period_start(res, p + 1)),
        )

    def rollup_keys(self) -> list[tuple[str, int]]:
        rows = self._exec("SELECT DISTINCT kind, id FROM {ks}.series_index")
        return sorted((i, int(k.split(":")[1])) for k, i in rows if k.startswith("power_rollup:"))

    def rollup_bounds(self, installation_id: str, resolution_s: int) -> tuple[int, int] | None:
        return self._bounds(
            "power_rollup",
            "installation_id = ? AND resolution_s = ? AND period = ?",
            (installation_id, int(resolution_s)),
            cs.index_kind("power_rollup", resolution_s),
        )


def _short(exc: BaseException) -> str:
    """One line of a driver error (they can be very long), never with a password."""
    text = str(exc).replace("\n", " ")
    return (type(exc).__name__ + ": " + text)[:300]
