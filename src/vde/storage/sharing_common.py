"""Energy-sharing tables, shared by both backends: names, and the packing of day blocks.

Quarter-hour data is stored one row per UTC day and series, the day's 96 quarters packed
in one blob (little-endian): two float64 columns of 96 values and one int16 column.

- ``sharing_quarters``: per home and day: offtake [Wh], injection [Wh], covered seconds;
- ``sharing_results``: per community, member home and day: received [Wh], shared out
  [Wh], and 1 where the quarter was computed (0: not part of a run);
- ``sharing_keys``: per community, dated key versions (valid_from, JSON text).

So a year of a 60-home community is 60 × 365 rows of 1.7 kB: one range query on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from vde.models import QuarterBalances, SharingShares

QUARTER_S = 900
DAY_S = 86400
QPD = DAY_S // QUARTER_S  # quarters in a UTC day (96)
SHARING_TABLES: tuple[str, ...] = ("sharing_quarters", "sharing_results", "sharing_keys")
_F8 = np.dtype("<f8")
_I2 = np.dtype("<i2")
BLOB_BYTES = QPD * (2 * _F8.itemsize + _I2.itemsize)


def pack_day(a: np.ndarray, b: np.ndarray, flag: np.ndarray) -> bytes:
    """One day block from two (96,) float columns and a (96,) int column."""
    return (
        np.asarray(a, _F8).tobytes()
        + np.asarray(b, _F8).tobytes()
        + np.asarray(flag, np.int64).astype(_I2).tobytes()
    )


_ROW = np.dtype([("a", _F8, (QPD,)), ("b", _F8, (QPD,)), ("flag", _I2, (QPD,))])


def unpack_days(blobs: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, 96) arrays a, b (float64) and flag (int64) of n day blocks."""
    if not blobs:
        z = np.zeros((0, QPD))
        return z, z.copy(), np.zeros((0, QPD), np.int64)
    rec = np.frombuffer(b"".join(blobs), dtype=_ROW)
    return (
        rec["a"].astype(np.float64),
        rec["b"].astype(np.float64),
        rec["flag"].astype(np.int64),
    )


def check_quarters(ts: np.ndarray) -> np.ndarray:
    ts = np.asarray(ts, dtype=np.int64)
    if np.any(ts % QUARTER_S):
        raise ValueError("quarter starts must be multiples of 900 s")
    if len(np.unique(ts)) != len(ts):
        raise ValueError("quarter starts must be unique")
    return ts


def days_of(ts: np.ndarray) -> np.ndarray:
    return np.unique(np.asarray(ts, dtype=np.int64) // DAY_S)


def merge_days(
    ts: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    flag: np.ndarray,
    existing: dict[int, bytes],
) -> list[tuple[int, bytes]]:
    """Day blocks holding the given quarters over what ``existing`` (day -> blob) held."""
    ts = check_quarters(ts)
    day = ts // DAY_S
    pos = (ts % DAY_S) // QUARTER_S
    out = []
    for d in np.unique(day).tolist():
        if d in existing:
            da, db, dflag = (x[0] for x in unpack_days([existing[d]]))
        else:
            da, db, dflag = np.zeros(QPD), np.zeros(QPD), np.zeros(QPD, np.int64)
        sel = day == d
        da[pos[sel]] = a[sel]
        db[pos[sel]] = b[sel]
        dflag[pos[sel]] = flag[sel]
        out.append((int(d), pack_day(da, db, dflag)))
    return out


def days_to_quarters(
    rows: Iterable[tuple[int, bytes]], start: int, end: int, *, only_flagged: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """ts, a, b, flag of the quarters in [start, end) of (day, blob) rows, sorted by ts."""
    rows = sorted(rows)
    if not rows:
        z = np.zeros(0)
        return np.zeros(0, np.int64), z, z.copy(), np.zeros(0, np.int64)
    days = np.array([d for d, _ in rows], dtype=np.int64)
    a, b, flag = unpack_days([v for _, v in rows])
    ts = (days[:, None] * DAY_S + np.arange(QPD, dtype=np.int64) * QUARTER_S).ravel()
    a, b, flag = a.ravel(), b.ravel(), flag.ravel()
    keep = (ts >= start) & (ts < end)
    if only_flagged:
        keep &= flag > 0
    return ts[keep], a[keep], b[keep], flag[keep]


def day_range(start: int, end: int) -> tuple[int, int]:
    """[first day, last day] (UTC day numbers) overlapping [start, end)."""
    return int(start) // DAY_S, (int(end) - 1) // DAY_S


def rows_to_balances(rows: Iterable[tuple[str, int, bytes]], start: int, end: int) -> dict:
    """(installation, day, blob) rows -> {installation: QuarterBalances} over [start, end)."""
    rows = sorted(rows, key=lambda r: (r[0], r[1]))
    if not rows:
        return {}
    # every blob decoded at once, then split per installation
    a, b, flag = unpack_days([v for _, _, v in rows])
    days = np.array([d for _, d, _ in rows], dtype=np.int64)
    ts = days[:, None] * DAY_S + np.arange(QPD, dtype=np.int64) * QUARTER_S
    keep = (ts >= start) & (ts < end)
    names = [i for i, _, _ in rows]
    out = {}
    lo = 0
    for hi in range(1, len(rows) + 1):
        if hi == len(rows) or names[hi] != names[lo]:
            k = keep[lo:hi]
            out[names[lo]] = QuarterBalances(
                ts=ts[lo:hi][k],
                offtake_wh=a[lo:hi][k],
                injection_wh=b[lo:hi][k],
                covered_s=flag[lo:hi][k],
            )
            lo = hi
    return out


def rows_to_shares(rows: Iterable[tuple[str, int, bytes]], start: int, end: int) -> SharingShares:
    """(member, day, blob) rows -> SharingShares over [start, end) (quarters of any member)."""
    per: dict[str, list[tuple[int, bytes]]] = {}
    for inst, d, v in rows:
        per.setdefault(inst, []).append((int(d), v))
    members = tuple(sorted(per))
    series = {m: days_to_quarters(per[m], start, end, only_flagged=True) for m in members}
    ts = np.unique(np.concatenate([s[0] for s in series.values()] or [np.zeros(0, np.int64)]))
    rec = np.zeros((len(ts), len(members)))
    out = np.zeros((len(ts), len(members)))
    for j, m in enumerate(members):
        t, a, b, _ = series[m]
        pos = np.searchsorted(ts, t)
        rec[pos, j], out[pos, j] = a, b
    return SharingShares(members=members, ts=ts, received_wh=rec, shared_out_wh=out)


def unmark_days(
    rows: Iterable[tuple[str, int, bytes]], start: int, end: int
) -> tuple[list[tuple[str, int, bytes]], list[tuple[str, int]]]:
    """Result rows with the quarters of [start, end) unmarked: (rows to rewrite, rows to drop)."""
    keep, drop = [], []
    for m, d, v in rows:
        a, b, flag = (x[0] for x in unpack_days([v]))
        ts = int(d) * DAY_S + np.arange(QPD, dtype=np.int64) * QUARTER_S
        flag[(ts >= start) & (ts < end)] = 0
        if flag.any():
            keep.append((m, int(d), pack_day(a, b, flag)))
        else:
            drop.append((m, int(d)))
    return keep, drop
