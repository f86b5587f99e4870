"""The storage interface: the operations vde's domain needs, nothing more.

Two backends implement it (``vde.storage.sqlite``, ``vde.storage.cassandra``) and one
contract suite (``tests/storage/test_contract.py``) checks both. Rules for every backend:

- timestamps are UTC epoch seconds; ranges are half-open ``[start, end)``;
- writes are idempotent upserts keyed by (id, ts): writing the same rows twice leaves one;
- missing data is stored as missing (no row), never as 0;
- arrays in and out are numpy (ts int64, values float64), sorted by ts;
- SQL/CQL lives only in the backend, with bound parameters.

Tables (the seed's six first, then vde's additions):

==================  ==========================================================================
access              login -> installation it may see
sensors_config      versioned configuration rows (version_id, installation, sensor, token, signs)
raw                 per sensor, per 8-s ts: power_w, config_version, inserted_ts, estimated
power               per installation, per 8-s ts: p_cons, p_prod, p_tot, config_version, inserted_ts,
                    estimated, homes and p_import (a group's homes counted, their own import)
raw_missing         per sensor: intervals [start, end) without data still to re-fetch
group               installation id -> caption (a reserved word: always quoted, "group")
config_versions     version_id, created_ts, content_hash (vde)
power_rollup        per installation, resolution, bucket: ROLLUP_FIELDS (vde)
sync_state          per sensor: SyncState (vde)
alerts              Alert history and pending state (vde)
users               User accounts: argon2 hash, role, invite (vde)
meta                key -> value: schema version, secret key, recompute checkpoints (vde)
locks               named leases that keep two syncs apart (vde)
sharing_quarters    per home, per UTC day: 96 quarters of offtake, injection, coverage (vde)
sharing_results     per community, member and UTC day: received, shared out (vde)
sharing_keys        per community: dated sharing key versions (vde)
export_state        per export target and installation: exported up to (vde.export)
api_tokens          researchers' read-only API tokens, sha256 only (vde.web.tokens)
raw_estimated       per sensor: estimated intervals [start, end) to re-fetch for the real shape (vde)
==================  ==========================================================================
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from vde.models import (
    Alert,
    ApiToken,
    ConfigVersion,
    MissingInterval,
    PowerSeries,
    QuarterBalances,
    RawSeries,
    RollupBatch,
    SharingShares,
    SyncState,
    User,
)
from vde.storage.exchange_common import EXCHANGE_TABLES
from vde.storage.sharing_common import SHARING_TABLES

SCHEMA_VERSION = 1

TABLES: tuple[str, ...] = (
    "access",
    "sensors_config",
    "raw",
    "power",
    "raw_missing",
    "group",
    "config_versions",
    "power_rollup",
    "sync_state",
    "alerts",
    "users",
    "meta",
    "locks",
    "raw_estimated",
)

#: energy sharing (vde.processing.sharing): quarter-hour balances per home, results
#: per community and member, dated keys (layout: vde.storage.sharing_common)
TABLES = (*TABLES, *SHARING_TABLES)

#: data exchange: export marks per target, API tokens (layout: vde.storage.exchange_common)
TABLES = (*TABLES, *EXCHANGE_TABLES)


class Store(abc.ABC):
    """A vde database. Open one with ``vde.storage.open_store(url)``; close it when done."""

    #: "sqlite" or "cassandra"
    backend: str
    #: the URL it was opened with, password removed
    url: str
    #: True when raw/power rows written after ``set_retention`` expire by themselves
    #: (Cassandra TTL); False when only ``vde.sync.retention.prune`` deletes them (SQLite)
    expires_rows: bool = False
    #: retentions [s] rows are written with (``set_retention``; 0 = kept forever)
    raw_ttl_s: int = 0
    power_ttl_s: int = 0

    def set_retention(self, raw_s: int, power_s: int) -> None:
        """Retention [s] of the 8-s raw and power rows written from now on (0 = forever).

        On a store that ``expires_rows`` a row then expires at ``ts + retention`` (at the
        earliest a day after it is written); elsewhere this only records the values and
        rows stay until pruned. Rows already written keep their expiry.
        """
        self.raw_ttl_s, self.power_ttl_s = max(0, int(raw_s)), max(0, int(power_s))

    # --- lifecycle ----------------------------------------------------------------------
    @abc.abstractmethod
    def create_schema(self, tables: Iterable[str] | None = None) -> None:
        """Create the tables (all, or those named) if they do not exist. Idempotent."""

    @abc.abstractmethod
    def schema_version(self) -> int | None:
        """Schema version stored in the database, None when it was never created."""

    @abc.abstractmethod
    def info(self) -> dict:
        """{"backend", "url", "schema_version", "tables": {name: {"rows", "min_ts", "max_ts"}}}."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- raw power per sensor -------------------------------------------------------------
    @abc.abstractmethod
    def write_raw(
        self,
        sensor_id: str,
        ts: np.ndarray,
        power_w: np.ndarray,
        config_version: int,
        estimated: np.ndarray | None = None,
    ) -> int:
        """Upsert raw power rows; returns the number of rows written.

        ``estimated``: bool per row (flat power over a proven span); None = all measured.
        """

    def read_raw(self, sensor_id: str, start: int, end: int) -> RawSeries:
        return self.read_raw_with_version(sensor_id, start, end)[0]

    @abc.abstractmethod
    def read_raw_with_version(
        self, sensor_id: str, start: int, end: int
    ) -> tuple[RawSeries, np.ndarray]:
        """``read_raw`` plus each row's config_version (int64, aligned with ts); for migrate."""

    @abc.abstractmethod
    def delete_raw(self, sensor_id: str, start: int, end: int) -> None: ...

    @abc.abstractmethod
    def raw_sensors(self) -> list[str]:
        """Sensor ids that have raw rows (for info and migrate)."""

    @abc.abstractmethod
    def raw_bounds(self, sensor_id: str) -> tuple[int, int] | None:
        """(first ts, last ts) of a sensor's raw rows, None if it has none."""

    # --- installation power ----------------------------------------------------------------
    @abc.abstractmethod
    def write_power(self, installation_id: str, series: PowerSeries, config_version: int) -> int:
        """Upsert installation power rows (with ``series.estimated``); returns how many."""

    def read_power(self, installation_id: str, start: int, end: int) -> PowerSeries:
        return self.read_power_with_version(installation_id, start, end)[0]

    @abc.abstractmethod
    def read_power_with_version(
        self, installation_id: str, start: int, end: int
    ) -> tuple[PowerSeries, np.ndarray]:
        """``read_power`` plus each row's config_version (int64, aligned with ts)."""

    @abc.abstractmethod
    def delete_power(self, installation_id: str, start: int, end: int) -> None: ...

    @abc.abstractmethod
    def power_installations(self) -> list[str]: ...

    @abc.abstractmethod
    def power_bounds(self, installation_id: str) -> tuple[int, int] | None: ...

    # --- rollups ----------------------------------------------------------------------------
    @abc.abstractmethod
    def write_rollups(self, installation_id: str, batch: RollupBatch) -> int: ...

    @abc.abstractmethod
    def read_rollups(
        self, installation_id: str, resolution_s: int, start: int, end: int
    ) -> RollupBatch:
        """Buckets whose start is in [start, end)."""

    @abc.abstractmethod
    def delete_rollups(
        self, installation_id: str, resolution_s: int, start: int, end: int
    ) -> None: ...

    @abc.abstractmethod
    def rollup_keys(self) -> list[tuple[str, int]]:
        """(installation_id, resolution_s) pairs that have rollup rows, sorted (for migrate)."""

    @abc.abstractmethod
    def rollup_bounds(self, installation_id: str, resolution_s: int) -> tuple[int, int] | None:
        """(first, last) bucket start of one installation's rollups at one resolution."""

    # --- configuration ----------------------------------------------------------------------
    @abc.abstractmethod
    def save_config_version(self, version: ConfigVersion) -> None: ...

    @abc.abstractmethod
    def config_versions(self) -> list[tuple[int, str]]:
        """[(version_id, content_hash)] oldest first."""

    @abc.abstractmethod
    def load_config(self, version_id: int | None = None) -> ConfigVersion | None:
        """A version (the latest when None); None when there is none."""

    @abc.abstractmethod
    def replace_access(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Replace the whole access list with (login, installation_id) pairs."""

    @abc.abstractmethod
    def save_config(
        self,
        version: ConfigVersion | None,
        access: Iterable[tuple[str, str]] | None,
        captions: dict[str, str] | None,
    ) -> None:
        """Save an import all or nothing: a new version, the whole access list, the captions.

        A part that is None is left as it is. When the write fails, readers keep seeing the
        previous version, access list and captions (SQLite: one transaction; Cassandra: the
        new rows are staged, then made current by one small logged batch).
        """

    @abc.abstractmethod
    def access(self) -> list[tuple[str, str]]: ...

    @abc.abstractmethod
    def installations_for(self, login: str) -> list[str]: ...

    @abc.abstractmethod
    def replace_captions(self, captions: dict[str, str]) -> None: ...

    @abc.abstractmethod
    def captions(self) -> dict[str, str]: ...

    # --- missing data, sync state --------------------------------------------------------------
    # raw_missing and raw_estimated hold the same interval rows; backends implement the two
    # table-level primitives once
    def missing(self, sensor_id: str | None = None) -> list[MissingInterval]:
        """Intervals of a sensor (or all) without raw power, sorted by sensor and start."""
        return self._intervals("raw_missing", sensor_id)

    def replace_missing(self, sensor_id: str, intervals: Iterable[MissingInterval]) -> None:
        """Replace every missing interval of one sensor."""
        self._replace_intervals("raw_missing", sensor_id, intervals)

    def estimated_intervals(self, sensor_id: str | None = None) -> list[MissingInterval]:
        """Intervals of a sensor (or all) whose raw power is estimated, to re-fetch."""
        return self._intervals("raw_estimated", sensor_id)

    def replace_estimated(self, sensor_id: str, intervals: Iterable[MissingInterval]) -> None:
        """Replace every estimated interval of one sensor."""
        self._replace_intervals("raw_estimated", sensor_id, intervals)

    @abc.abstractmethod
    def _intervals(self, table: str, sensor_id: str | None) -> list[MissingInterval]: ...

    @abc.abstractmethod
    def _replace_intervals(
        self, table: str, sensor_id: str, intervals: Iterable[MissingInterval]
    ) -> None: ...

    @abc.abstractmethod
    def put_sync_state(self, state: SyncState) -> None: ...

    @abc.abstractmethod
    def sync_states(self) -> dict[str, SyncState]: ...

    # --- alerts, users, meta ----------------------------------------------------------------------
    @abc.abstractmethod
    def put_alert(self, alert: Alert) -> None: ...

    @abc.abstractmethod
    def alerts(self, *, status: str | None = None, since_day: str | None = None) -> list[Alert]:
        """Alerts, newest day first; filtered by status and/or day >= since_day."""

    @abc.abstractmethod
    def put_user(self, user: User) -> None: ...

    @abc.abstractmethod
    def get_user(self, login: str) -> User | None: ...

    @abc.abstractmethod
    def users(self) -> list[User]: ...

    @abc.abstractmethod
    def delete_user(self, login: str) -> None: ...

    @abc.abstractmethod
    def get_meta(self, key: str) -> str | None: ...

    @abc.abstractmethod
    def set_meta(self, key: str, value: str | None) -> None:
        """Set (or with None delete) a meta value."""

    @abc.abstractmethod
    def meta_items(self) -> dict[str, str]:
        """Every meta key and value (for info and migrate)."""

    # --- energy sharing (vde.storage.sharing_common) -----------------------------------------
    @abc.abstractmethod
    def write_quarters(self, installation_id: str, balances: QuarterBalances) -> int:
        """Upsert a home's quarter-hour balances; returns the number of quarters written."""

    @abc.abstractmethod
    def read_quarters(
        self, installation_ids: Sequence[str], start: int, end: int
    ) -> dict[str, QuarterBalances]:
        """Quarters in [start, end) of several homes at once (homes without rows absent).

        Every quarter of a stored UTC day is returned; one never written has covered_s 0.
        """

    @abc.abstractmethod
    def write_sharing(self, community_id: str, shares: SharingShares) -> int:
        """Upsert what a sharing run allocated in a community; returns quarters x members."""

    @abc.abstractmethod
    def read_sharing(self, community_id: str, start: int, end: int) -> SharingShares:
        """Stored sharing results of a community in [start, end) (members sorted)."""

    @abc.abstractmethod
    def delete_sharing(self, community_id: str, start: int, end: int) -> None: ...

    @abc.abstractmethod
    def replace_sharing_keys(self, community_id: str, versions: Iterable[tuple[int, str]]) -> None:
        """Replace a community's dated key versions: (valid_from [UTC epoch s], JSON spec)."""

    @abc.abstractmethod
    def sharing_keys(self) -> dict[str, list[tuple[int, str]]]:
        """community -> [(valid_from, JSON spec)] oldest first."""

    # --- data exchange (vde.storage.exchange_common) -----------------------------------------
    @abc.abstractmethod
    def export_marks(self, target: str) -> dict[str, int]:
        """installation -> instant up to which (exclusive) data went to ``target`` [UTC s]."""

    @abc.abstractmethod
    def set_export_marks(self, target: str, marks: dict[str, int]) -> None:
        """Upsert the marks of some installations of ``target``."""

    @abc.abstractmethod
    def export_targets(self) -> list[str]:
        """Targets that have marks, sorted (for migrate)."""

    @abc.abstractmethod
    def put_api_token(self, token: ApiToken) -> None: ...

    @abc.abstractmethod
    def get_api_token(self, token_id: str) -> ApiToken | None: ...

    @abc.abstractmethod
    def api_tokens(self) -> list[ApiToken]:
        """Every token (revoked ones too), oldest first."""

    # --- locks -------------------------------------------------------------------------------
    @abc.abstractmethod
    def try_lock(self, name: str, ttl_s: int) -> bool:
        """Take the named lease for this process. False if another live holder has it.

        A lease whose holder died (same host, pid gone) or whose TTL passed is taken over,
        so a SIGKILLed sync never blocks the next one for long.
        """

    @abc.abstractmethod
    def refresh_lock(self, name: str, ttl_s: int) -> None: ...

    @abc.abstractmethod
    def release_lock(self, name: str) -> None: ...

    @contextmanager
    def lock(self, name: str, ttl_s: int = 600) -> Iterator[None]:
        """Hold the named lease for a block; raises LockedError when someone else has it."""
        from vde.errors import LockedError

        if not self.try_lock(name, ttl_s):
            raise LockedError(
                f"'{name}' is already running on this database (lock held); try again later"
            )
        try:
            yield
        finally:
            self.release_lock(name)
