"""A sensor's counter series assembled from decoded blocks (pure: no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vde.flukso.blocks import BlockIssue, DecodedBlock


@dataclass
class Series:
    """Counter points of one sensor, sorted by (rid, ts); rids are never stitched together.

    ``ts`` [UTC epoch s] int64, ``counter_wh`` [Wh] float64 (cumulative energy), ``rid``
    int64 per point. ``issues`` lists every defective block met (data, not errors).
    """

    sensor_id: str
    ts: np.ndarray
    counter_wh: np.ndarray
    rid: np.ndarray
    issues: list[BlockIssue] = field(default_factory=list)
    blocks_downloaded: int = 0
    blocks_cached: int = 0

    def __len__(self) -> int:
        return len(self.ts)


def assemble(
    sensor_id: str,
    blocks: list[tuple[int, DecodedBlock]],
    start: int | None,
    end: int | None,
    downloaded: int = 0,
    cached: int = 0,
) -> Series:
    """Concatenate (rid, block) pairs into a Series with ``start <= ts < end`` [UTC epoch s].

    Points are sorted by (rid, ts); a timestamp repeated within a rid (two blocks holding
    the same point) is kept once and reported.
    """
    issues = [b.issue for _, b in blocks if b.issue is not None]
    ts = _concat([b.ts for _, b in blocks], np.int64)
    counter = _concat([b.counter_wh for _, b in blocks], np.float64)
    rid = _concat([np.full(len(b.ts), r, dtype=np.int64) for r, b in blocks], np.int64)
    keep = np.ones(len(ts), dtype=bool)
    if start is not None:
        keep &= ts >= start
    if end is not None:
        keep &= ts < end
    ts, counter, rid = ts[keep], counter[keep], rid[keep]
    order = np.lexsort((ts, rid))
    ts, counter, rid = ts[order], counter[order], rid[order]
    dup = np.zeros(len(ts), dtype=bool)
    dup[1:] = (ts[1:] == ts[:-1]) & (rid[1:] == rid[:-1])
    if dup.any():
        issues.append(_duplicate_issue(sensor_id, ts, counter, rid, dup))
        ts, counter, rid = ts[~dup], counter[~dup], rid[~dup]
    return Series(sensor_id, ts, counter, rid, issues, downloaded, cached)


def _concat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)


def _duplicate_issue(
    sensor_id: str, ts: np.ndarray, counter: np.ndarray, rid: np.ndarray, dup: np.ndarray
) -> BlockIssue:
    i = int(np.flatnonzero(dup)[0])
    same = bool(np.all(counter[dup] == counter[np.flatnonzero(dup) - 1]))
    return BlockIssue(
        sensor_id,
        int(rid[i]),
        0,
        int(ts[i]),
        ("duplicate_ts",),
        f"{int(dup.sum())} point(s) repeat a timestamp of another block"
        + ("" if same else " with a different counter"),
        "kept_first",
        int((~dup).sum()),
    )
