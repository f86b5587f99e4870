"""Helpers shared by the backends: lock owners, row <-> model conversions, empty series."""

from __future__ import annotations

import os
import secrets
import socket
import time

import numpy as np
import orjson

from vde.models import ROLLUP_FIELDS, Alert, PowerSeries, RawSeries, RollupBatch, SyncState, User

#: Tables that have a time column, for info(): table -> (min column, max column)
TIME_COLUMNS: dict[str, tuple[str, str]] = {
    "raw": ("ts", "ts"),
    "power": ("ts", "ts"),
    "power_rollup": ("ts", "ts"),
    "raw_missing": ("start_ts", "end_ts"),
    "raw_estimated": ("start_ts", "end_ts"),
    "config_versions": ("created_ts", "created_ts"),
    "alerts": ("created_ts", "created_ts"),
}

ALERT_COLUMNS = (
    "alert_id",
    "kind",
    "installation_id",
    "day",
    "summary",
    "details",
    "fingerprint",
    "status",
    "created_ts",
    "updated_ts",
    "sent_ts",
)
USER_COLUMNS = ("login", "role", "password_hash", "invite_hash", "invite_expires_ts", "created_ts")
SYNC_COLUMNS = (
    "sensor_id",
    "last_ts",
    "last_counter_wh",
    "last_rid",
    "last_attempt_ts",
    "last_success_ts",
    "last_error",
    "points_total",
)
SENSOR_COLUMNS = (
    "installation_id",
    "sensor_id",
    "token",
    "flm_id",
    "function",
    "net",
    "prod",
    "cons",
    "ve",
    "start_ts",
)


def new_owner() -> str:
    """Lock owner of one Store instance: ``host:pid:nonce``.

    The nonce keeps two stores of one process apart (a second sync in the same process is
    refused too); host and pid let another process on this host see that the holder died.
    """
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def owner_is_dead(owner: str) -> bool:
    """True when ``owner`` was a process on this host that no longer runs."""
    parts = owner.split(":")
    if len(parts) < 2 or parts[0] != socket.gethostname():
        return False
    try:
        pid = int(parts[1])
    except ValueError:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def now_s() -> int:
    return int(time.time())


def empty_raw() -> RawSeries:
    return RawSeries(ts=np.empty(0, np.int64), power_w=np.empty(0, np.float64))


def empty_power() -> PowerSeries:
    e = np.empty(0, np.float64)
    return PowerSeries(ts=np.empty(0, np.int64), p_cons=e, p_prod=e.copy(), p_tot=e.copy())


#: layout of a packed rollup bucket: ts, then every ROLLUP_FIELDS, as little-endian float64
#: (ts and n are integers well below 2**53, so exact)
PACKED_FIELDS: tuple[str, ...] = ("ts", *ROLLUP_FIELDS)
_PACKED_SIZE = 8 * len(PACKED_FIELDS)


def pack_rollups(batch: RollupBatch) -> tuple[list[int], list[int], list[bytes]]:
    """(ts, n, blob) lists of a batch; each blob holds PACKED_FIELDS as float64 (NaN kept).

    A read then fetches one value per bucket instead of 16: reading a year of 15-min
    buckets costs a few SQL values per row, which is what dominates SQLite read time.
    """
    ts = np.asarray(batch.ts, dtype=np.int64)
    vals = np.column_stack(
        [ts.astype("<f8")] + [np.asarray(batch.columns[f], dtype="<f8") for f in ROLLUP_FIELDS]
    )
    raw = np.ascontiguousarray(vals).tobytes()
    size = _PACKED_SIZE
    blobs = [raw[i : i + size] for i in range(0, len(raw), size)]
    return ts.tolist(), np.asarray(batch.columns["n"], dtype=np.int64).tolist(), blobs


def unpack_rollups(resolution_s: int, blobs: list) -> RollupBatch:
    """Rows of (blob,) sorted by ts -> RollupBatch.

    Blobs written before a field was appended to ROLLUP_FIELDS are shorter: the missing
    trailing fields read as 0 (``estimated``: no estimated slot was known then; ``homes_*``:
    no member home was counted then).
    """
    data = [r[0] for r in blobs]
    if any(len(b) != _PACKED_SIZE for b in data):
        data = [bytes(b) + bytes(_PACKED_SIZE - len(b)) for b in data]
    vals = np.frombuffer(b"".join(data), dtype="<f8").reshape(-1, len(PACKED_FIELDS))
    cols = {f: vals[:, i + 1].copy() for i, f in enumerate(ROLLUP_FIELDS)}
    for f in ("n", "estimated", "homes_n", "homes_min", "homes_max"):
        cols[f] = cols[f].astype(np.int64)
    return RollupBatch(resolution_s=resolution_s, ts=vals[:, 0].astype(np.int64), columns=cols)


def alert_row(a: Alert) -> tuple:
    return (
        a.alert_id,
        a.kind,
        a.installation_id,
        a.day,
        a.summary,
        orjson.dumps(a.details).decode(),
        a.fingerprint,
        a.status,
        int(a.created_ts),
        int(a.updated_ts),
        None if a.sent_ts is None else int(a.sent_ts),
    )


def alert_from(row) -> Alert:
    d = dict(zip(ALERT_COLUMNS, row, strict=True))
    d["details"] = orjson.loads(d["details"]) if d["details"] else {}
    return Alert(**d)


def filter_alerts(alerts: list[Alert], status: str | None, since_day: str | None) -> list[Alert]:
    out = [
        a
        for a in alerts
        if (status is None or a.status == status) and (since_day is None or a.day >= since_day)
    ]
    out.sort(key=lambda a: a.alert_id)
    out.sort(key=lambda a: a.day, reverse=True)
    return out


def user_row(u: User) -> tuple:
    return (u.login, u.role, u.password_hash, u.invite_hash, u.invite_expires_ts, int(u.created_ts))


def user_from(row) -> User:
    return User(**dict(zip(USER_COLUMNS, row, strict=True)))


def sync_row(s: SyncState) -> tuple:
    return tuple(getattr(s, c) for c in SYNC_COLUMNS)


def sync_from(row) -> SyncState:
    d = dict(zip(SYNC_COLUMNS, row, strict=True))
    d["points_total"] = d["points_total"] or 0
    return SyncState(**d)


def power_estimated(series: PowerSeries) -> np.ndarray:
    """``series.estimated`` as 0/1 int64, checked against the length of ``series.ts``."""
    est = np.asarray(series.estimated, dtype=bool).astype(np.int64)
    if est.shape != np.shape(series.ts):
        from vde.errors import StorageError

        raise StorageError(f"power: estimated has {len(est)} values for {len(series.ts)} rows")
    return est


def power_groups(series: PowerSeries) -> tuple[np.ndarray, np.ndarray] | None:
    """A group's ``(homes int64, p_import float64)`` checked against ``series.ts``; None for
    a home (its rows store NULL there)."""
    if series.homes is None:
        return None
    homes = np.asarray(series.homes, dtype=np.int64)
    imp = (
        np.maximum(np.asarray(series.p_tot, dtype=np.float64), 0.0)
        if series.p_import is None
        else np.asarray(series.p_import, dtype=np.float64)
    )
    if homes.shape != np.shape(series.ts) or imp.shape != homes.shape:
        from vde.errors import StorageError

        raise StorageError(
            f"power: homes / p_import have {len(homes)} / {len(imp)} values"
            f" for {len(series.ts)} rows"
        )
    return homes, imp


def power_from_rows(arr: np.ndarray) -> PowerSeries:
    """Rows (ts, p_cons, p_prod, p_tot, config_version, estimated, homes, p_import) as
    floats (NULL = NaN) -> PowerSeries; ``homes``/``p_import`` None when no row has them."""
    homes = arr[:, 6]
    known = ~np.isnan(homes)
    series = PowerSeries(
        ts=arr[:, 0].astype(np.int64),
        p_cons=arr[:, 1].copy(),
        p_prod=arr[:, 2].copy(),
        p_tot=arr[:, 3].copy(),
        estimated=np.nan_to_num(arr[:, 5]) != 0,
    )
    if known.any():
        # rows written before homes were counted: 0 homes known, import from p_tot
        series.homes = np.where(known, homes, 0).astype(np.int64)
        series.p_import = np.where(np.isnan(arr[:, 7]), np.maximum(series.p_tot, 0.0), arr[:, 7])
    return series


def clean_raw(
    ts: np.ndarray, power_w: np.ndarray, estimated: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """int64/float64/bool copies with NaN power dropped (missing is no row, never a value)."""
    ts = np.asarray(ts, dtype=np.int64)
    power_w = np.asarray(power_w, dtype=np.float64)
    est = np.zeros(len(ts), bool) if estimated is None else np.asarray(estimated, dtype=bool)
    if ts.shape != power_w.shape or est.shape != ts.shape:
        from vde.errors import StorageError

        raise StorageError(
            f"ts, power_w and estimated differ in length ({len(ts)}, {len(power_w)}, {len(est)})"
        )
    keep = ~np.isnan(power_w)
    if not keep.all():
        ts, power_w, est = ts[keep], power_w[keep], est[keep]
    return ts, power_w, est
