"""Plain data types shared by every layer (no I/O here).

Units and conventions: ``ts`` are UTC epoch seconds (int64), power in W (float64), energy
in Wh. Missing data is absent (no element / no row), never 0. Signs follow the workbook:
production <= 0, consumption >= 0, total > 0 is grid import, total < 0 is export.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

# --- configuration -----------------------------------------------------------------------

#: ``SensorRow.start_ts`` of a row whose StartDate is blank: no start limit (the sensor
#: belongs to the installation from its first data; sync backfills it like any new sensor).
NO_START_TS = 0


@dataclass(frozen=True)
class SensorRow:
    """One (installation, sensor) row of a configuration version."""

    installation_id: str
    sensor_id: str
    token: str = field(repr=False)  # secret: never printed, logged or returned by an API
    flm_id: str
    function: str
    net: int  # sign of the sensor in the installation's total (grid) power: -1, 0, 1
    prod: int  # sign in production power
    cons: int  # sign in consumption (informative)
    ve: int  # electric-vehicle sign (informative)
    start_ts: int  # when the sensor started counting for this installation [UTC epoch s]
    # (NO_START_TS = 0 when the workbook's StartDate is blank: no start limit)

    def public_fields(self) -> dict:
        """Every field that may be shown or returned by an API: all but the token."""
        return {
            "installation_id": self.installation_id,
            "sensor_id": self.sensor_id,
            "flm_id": self.flm_id,
            "function": self.function,
            "net": self.net,
            "prod": self.prod,
            "cons": self.cons,
            "ve": self.ve,
            "start_ts": self.start_ts,
        }


@dataclass(frozen=True)
class ConfigVersion:
    """An imported configuration. ``version_id`` is the import time in UTC epoch µs."""

    version_id: int
    rows: tuple[SensorRow, ...]

    def installations(self) -> list[str]:
        return sorted({r.installation_id for r in self.rows})

    def rows_of(self, installation_id: str) -> list[SensorRow]:
        return list(self._by_installation.get(installation_id, ()))

    @cached_property
    def _by_installation(self) -> dict[str, list[SensorRow]]:
        # one pass, kept: rows_of per installation was a scan of every row (quadratic)
        out: dict[str, list[SensorRow]] = {}
        for r in self.rows:
            out.setdefault(r.installation_id, []).append(r)
        return out

    def sensors(self) -> dict[str, SensorRow]:
        """Distinct sensors: sensor_id -> the row with the earliest start (fetched once)."""
        out: dict[str, SensorRow] = {}
        for r in sorted(self.rows, key=lambda r: r.start_ts):
            out.setdefault(r.sensor_id, r)
        return out

    def content_hash(self) -> str:
        """Hash of the content (not the id): equal content means no new version is needed."""
        h = hashlib.sha256()
        for r in sorted(self.rows, key=lambda r: (r.installation_id, r.sensor_id)):
            h.update(
                f"{r.installation_id}|{r.sensor_id}|{r.token}|{r.flm_id}|{r.function}|"
                f"{r.net}|{r.prod}|{r.cons}|{r.ve}|{r.start_ts}\n".encode()
            )
        return h.hexdigest()


# --- time series -------------------------------------------------------------------------


@dataclass
class RawSeries:
    """Raw power of one sensor on the 8-s grid. ``ts`` sorted, unique, multiples of 8."""

    ts: np.ndarray  # int64 [UTC epoch s]
    power_w: np.ndarray  # float64 [W]
    #: bool per row: True when the slot's power is estimated (flat over a span whose
    #: energy two counters prove, not the meter's own shape); None = all measured
    estimated: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.estimated is None:
            self.estimated = np.zeros(len(self.ts), dtype=bool)

    def __len__(self) -> int:
        return len(self.ts)


@dataclass
class PowerSeries:
    """Power of one installation on the 8-s grid: a home's rows only where every sensor had
    data, a group's where at least one member home is complete (see ``homes``)."""

    ts: np.ndarray  # int64 [UTC epoch s]
    p_cons: np.ndarray  # float64 [W], >= 0 normally
    p_prod: np.ndarray  # float64 [W], <= 0 normally
    p_tot: np.ndarray  # float64 [W], > 0 import, < 0 export
    #: bool per row (one 8-s slot): True when some sensor's power there is estimated, so
    #: ``estimated.sum()`` is the number of estimated 8-s slots; None = all measured
    estimated: np.ndarray | None = None
    #: a group's rows: int64 per row, how many member homes the slot counts (a group slot
    #: is the sum of the homes complete there); None for a home
    homes: np.ndarray | None = None
    #: a group's rows: float64 per row [W], the counted homes' own grid import summed
    #: (Σ max(P_tot_home, 0): what their meters count); export = p_import - p_tot.
    #: None: import is max(p_tot, 0)
    p_import: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.estimated is None:
            self.estimated = np.zeros(len(self.ts), dtype=bool)

    def __len__(self) -> int:
        return len(self.ts)


#: Rollup resolutions [s]. 86400 buckets start at local (Europe/Brussels) midnight; the
#: others are aligned on UTC multiples of the resolution (equal to local ones in Brussels).
ROLLUP_RESOLUTIONS: tuple[int, ...] = (60, 900, 3600, 86400)

#: Columns of a rollup bucket. ``n``: 8-s slots with data; ``estimated``: how many of
#: those slots are estimated (flat power over a proven span); ``e_*_wh``: energy [Wh]
#: (import = energy of p_tot > 0, export = energy of p_tot < 0, as a positive number);
#: ``p_*_min/mean/max``: power over the slots with data [W]. A group's buckets also count
#: its member homes (0 for a home): ``homes_n`` = Σ over the slots with data of the homes
#: each counts (home-slots: coverage over the homes = homes_n / (slots x members));
#: ``homes_min`` / ``homes_max``: fewest and most homes counted by a slot of the bucket.
#: Import and export of a group are its homes' own, summed (``PowerSeries.p_import``).
ROLLUP_FIELDS: tuple[str, ...] = (
    "n",
    "e_cons_wh",
    "e_prod_wh",
    "e_tot_wh",
    "e_import_wh",
    "e_export_wh",
    "p_cons_min",
    "p_cons_mean",
    "p_cons_max",
    "p_prod_min",
    "p_prod_mean",
    "p_prod_max",
    "p_tot_min",
    "p_tot_mean",
    "p_tot_max",
    "estimated",
    "homes_n",
    "homes_min",
    "homes_max",
)


@dataclass
class RollupBatch:
    """Rollup buckets of one installation at one resolution, column-wise."""

    resolution_s: int
    ts: np.ndarray  # int64 bucket start [UTC epoch s]
    columns: dict[str, np.ndarray]  # each of ROLLUP_FIELDS; n, estimated, homes_* int64,
    # others float64

    def __len__(self) -> int:
        return len(self.ts)


# --- bookkeeping -------------------------------------------------------------------------


@dataclass(frozen=True)
class MissingInterval:
    """Interval [start_ts, end_ts) of a sensor with no data, still to re-fetch."""

    sensor_id: str
    start_ts: int
    end_ts: int
    found_ts: int  # when the gap was first seen [UTC epoch s]


@dataclass
class SyncState:
    """What the last syncs of a sensor achieved; feeds incremental sync and the admin page."""

    sensor_id: str
    last_ts: int | None = None  # ts of the last counter point stored [UTC epoch s]
    last_counter_wh: float | None = None  # counter value at last_ts [Wh]
    last_rid: int | None = None  # recycle id of that point
    last_attempt_ts: int | None = None
    last_success_ts: int | None = None
    last_error: str | None = None  # short reason of the last failure, never a token
    points_total: int = 0


@dataclass
class Alert:
    """One alert: ``alert_id`` is stable for the same problem (kind:installation:day)."""

    alert_id: str
    kind: str  # "missing" | "sign" | "night"
    installation_id: str
    day: str  # local day checked, YYYY-MM-DD
    summary: str
    details: dict  # JSON-serialisable
    fingerprint: str  # hash of the content: a changed alert is sent again
    status: str = "pending"  # "pending" | "sent"
    created_ts: int = 0
    updated_ts: int = 0
    sent_ts: int | None = None


@dataclass
class User:
    login: str
    role: str = "member"  # "member" | "admin"
    password_hash: str | None = field(default=None, repr=False)  # argon2; never leaves the server
    invite_hash: str | None = field(default=None, repr=False)  # sha256 of a one-time invite token
    invite_expires_ts: int | None = None
    created_ts: int = 0


# --- data exchange -------------------------------------------------------------------------


@dataclass
class ApiToken:
    """A researcher's read-only API token. Only its sha256 is stored; the token itself is
    shown once, when an administrator creates it (``vde tokens create``)."""

    token_id: str  # public part of the token: names it in lists, logs and revocations
    token_hash: str = field(repr=False)  # sha256 hex of the whole token
    owner: str = ""  # who it was given to (free text: a name or an email address)
    installations: tuple[str, ...] = ()  # the only installations it opens
    created_ts: int = 0
    expires_ts: int | None = None  # [UTC epoch s]; None: until revoked
    revoked_ts: int | None = None

    def active(self, now: int) -> bool:
        return self.revoked_ts is None and (self.expires_ts is None or now < self.expires_ts)


# --- energy sharing ------------------------------------------------------------------------


@dataclass
class QuarterBalances:
    """Quarter-hour register increments of one home (see ``vde.processing.sharing``)."""

    ts: np.ndarray  # int64 quarter starts [UTC epoch s], multiples of 900
    offtake_wh: np.ndarray  # float64 [Wh], energy of P_tot > 0
    injection_wh: np.ndarray  # float64 [Wh], energy of P_tot < 0, as a positive number
    covered_s: np.ndarray  # int64 seconds of the quarter with data (coverage = covered_s / 900)

    def __len__(self) -> int:
        return len(self.ts)


@dataclass
class SharingShares:
    """What a sharing run allocated in a community, per quarter (rows) and member (columns)."""

    members: tuple[str, ...]
    ts: np.ndarray  # int64 (Q,) quarter starts [UTC epoch s]
    received_wh: np.ndarray  # float64 (Q, M) energy received from the community [Wh]
    shared_out_wh: np.ndarray  # float64 (Q, M) injection shared with the community [Wh]

    def __len__(self) -> int:
        return len(self.ts)
