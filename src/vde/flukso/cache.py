"""Local tmpo block cache: one SQLite file (WAL), so a second sync downloads only new blocks.

The cache holds, per sensor, every block descriptor the server listed (``data`` NULL until
downloaded) and the gzip bytes of downloaded blocks, exactly as served (after checking the
gzip stream is complete).

Blocks that cannot change any more (``blocks.is_final``: no silence in their span, so no
late upload can add to them) are marked ``final``: a re-fetch of a range
(:meth:`BlockCache.forget_range`) downloads the others again and keeps these, defective or
not, so a retry never downloads the same closed block twice.

Compaction: the meter merges 16 children of level L into one parent of level L+4 and the
server then lists the parent. A listed parent *supersedes* every entry of the same rid whose
span lies inside the parent's span: planning ignores superseded entries, and storing the
parent's bytes deletes them, so a span is never counted twice. Different rids never
supersede each other (their counters are separate series).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from vde.errors import StorageError
from vde.files import create_private


@dataclass(frozen=True, order=True)
class BlockRef:
    """A block's name: recycle id, level (log2 of the span [s]) and start [UTC epoch s]."""

    rid: int
    lvl: int
    bid: int
    ext: str = "gz"

    @property
    def end(self) -> int:
        """End of the block's span (exclusive) [UTC epoch s]."""
        return self.bid + (1 << self.lvl)

    def covers(self, other: BlockRef) -> bool:
        """True when ``other`` (same rid, lower level) lies inside this block's span."""
        return (
            other.rid == self.rid
            and other.lvl < self.lvl
            and self.bid <= other.bid
            and other.end <= self.end
        )


@dataclass(frozen=True)
class CachedRef:
    """A listed block and whether its bytes are in the cache."""

    ref: BlockRef
    downloaded: bool


_SCHEMA = """
CREATE TABLE IF NOT EXISTS tmpo_block (
    sensor_id  TEXT    NOT NULL,
    rid        INTEGER NOT NULL,
    lvl        INTEGER NOT NULL,
    bid        INTEGER NOT NULL,
    ext        TEXT    NOT NULL,
    listed_at  REAL    NOT NULL,
    fetched_at REAL,
    data       BLOB,
    final      INTEGER,
    PRIMARY KEY (sensor_id, rid, lvl, bid)
) WITHOUT ROWID
"""
_INSERT_LISTED = """
INSERT INTO tmpo_block (sensor_id, rid, lvl, bid, ext, listed_at) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (sensor_id, rid, lvl, bid) DO NOTHING
"""
_ENTRIES = """
SELECT rid, lvl, bid, ext, data IS NOT NULL FROM tmpo_block
WHERE sensor_id = ? ORDER BY rid, bid, lvl DESC
"""
_STORE = """
INSERT INTO tmpo_block (sensor_id, rid, lvl, bid, ext, listed_at, fetched_at, data)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (sensor_id, rid, lvl, bid) DO UPDATE SET data = excluded.data,
    fetched_at = excluded.fetched_at, final = NULL
"""
_DELETE_CHILDREN = """
DELETE FROM tmpo_block
WHERE sensor_id = ? AND rid = ? AND lvl < ? AND bid >= ? AND bid + (1 << lvl) <= ?
"""
_LOAD = "SELECT data FROM tmpo_block WHERE sensor_id = ? AND rid = ? AND lvl = ? AND bid = ?"
_FORGET = "DELETE FROM tmpo_block WHERE sensor_id = ?"
# bytes of blocks overlapping [start, end) dropped (the entry stays listed, so it is
# downloaded again), unless the block is final
_FORGET_RANGE = """
UPDATE tmpo_block SET data = NULL, fetched_at = NULL
WHERE sensor_id = ? AND data IS NOT NULL AND final IS NOT 1 AND bid < ? AND bid + (1 << lvl) > ?
"""
_MARK_FINAL = """
UPDATE tmpo_block SET final = 1 WHERE sensor_id = ? AND rid = ? AND lvl = ? AND bid = ?
"""


class BlockCache:
    """Block cache in one SQLite file; ``":memory:"`` for a throw-away cache."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                create_private(self.path)  # sensors' data: the owner's only
            # one connection used from the event loop's thread only; statements are short
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
            cols = {r[1] for r in self._db.execute("PRAGMA table_info(tmpo_block)")}
            if "final" not in cols:  # a cache file from before the column
                self._db.execute("ALTER TABLE tmpo_block ADD COLUMN final INTEGER")
        except (sqlite3.Error, OSError) as exc:
            raise StorageError(f"cannot open the block cache {self.path}: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    def record_listing(self, sensor_id: str, refs: list[BlockRef]) -> None:
        """Remember blocks the server listed (bytes not downloaded yet)."""
        now = time.time()
        with self._tx():
            self._db.executemany(
                _INSERT_LISTED, [(sensor_id, r.rid, r.lvl, r.bid, r.ext, now) for r in refs]
            )

    def entries(self, sensor_id: str) -> list[CachedRef]:
        """Every entry of the sensor that no other entry supersedes, sorted by (rid, bid)."""
        rows = self._db.execute(_ENTRIES, (sensor_id,)).fetchall()
        keys = {(r, lv, b) for r, lv, b, _, _ in rows}
        levels = sorted({lv for _, lv, _, _, _ in rows})
        # spans are aligned: the only block of level L that can cover (rid, lvl, bid) is
        # (rid, L, bid - bid % 2^L), so a few set look-ups decide it
        return [
            CachedRef(BlockRef(r, lv, b, e), bool(d))
            for r, lv, b, e, d in rows
            if not any((r, up, b - b % (1 << up)) in keys for up in levels if up > lv)
        ]

    def last_listed(self, sensor_id: str) -> BlockRef | None:
        """The block with the latest end in the highest rid the server listed."""
        entries = self.entries(sensor_id)
        if not entries:
            return None
        top = max(c.ref.rid for c in entries)
        return max((c.ref for c in entries if c.ref.rid == top), key=lambda r: (r.end, r.lvl))

    def store(self, sensor_id: str, ref: BlockRef, data: bytes) -> None:
        """Store a downloaded block; it replaces every entry its span covers (compaction)."""
        now = time.time()
        with self._tx():
            self._db.execute(_DELETE_CHILDREN, (sensor_id, ref.rid, ref.lvl, ref.bid, ref.end))
            self._db.execute(
                _STORE, (sensor_id, ref.rid, ref.lvl, ref.bid, ref.ext, now, now, data)
            )

    def load(self, sensor_id: str, ref: BlockRef) -> bytes | None:
        row = self._db.execute(_LOAD, (sensor_id, ref.rid, ref.lvl, ref.bid)).fetchone()
        return None if row is None else row[0]

    def prune_undownloaded(self, sensor_id: str, keep: set[BlockRef]) -> int:
        """Delete listed-but-never-downloaded entries not in ``keep``; returns how many."""
        gone = [c.ref for c in self.entries(sensor_id) if not c.downloaded and c.ref not in keep]
        with self._tx():
            self._db.executemany(
                "DELETE FROM tmpo_block WHERE sensor_id = ? AND rid = ? AND lvl = ? AND bid = ?"
                " AND data IS NULL",
                [(sensor_id, r.rid, r.lvl, r.bid) for r in gone],
            )
        return len(gone)

    def mark_final(self, sensor_id: str, refs: list[BlockRef]) -> None:
        """Remember that these downloaded blocks cannot change (kept by forget_range)."""
        if refs:
            with self._tx():
                self._db.executemany(_MARK_FINAL, [(sensor_id, r.rid, r.lvl, r.bid) for r in refs])

    def is_final(self, sensor_id: str, ref: BlockRef) -> bool:
        row = self._db.execute(
            "SELECT final FROM tmpo_block WHERE sensor_id = ? AND rid = ? AND lvl = ? AND bid = ?",
            (sensor_id, ref.rid, ref.lvl, ref.bid),
        ).fetchone()
        return bool(row and row[0])

    def forget_range(self, sensor_id: str, start: int, end: int | None) -> int:
        """Download again the blocks overlapping [start, end) [s] (None: open) that may
        have changed (late uploads); final blocks stay cached. Returns how many."""
        hi = (1 << 62) if end is None else int(end)
        with self._tx():
            cur = self._db.execute(_FORGET_RANGE, (sensor_id, hi, int(start)))
        return cur.rowcount

    def forget(self, sensor_id: str) -> None:
        """Drop everything cached for a sensor (the next sync starts from scratch)."""
        with self._tx():
            self._db.execute(_FORGET, (sensor_id,))

    def _tx(self) -> _Transaction:
        return _Transaction(self._db, self.path)


class _Transaction:
    def __init__(self, db: sqlite3.Connection, path: str) -> None:
        self._db, self._path = db, path

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            try:
                self._db.execute("COMMIT")
                return
            except sqlite3.Error as commit_exc:  # e.g. disk full at commit
                exc = commit_exc
        # SQLite may have rolled back already (disk full): a second ROLLBACK would fail
        # with "cannot rollback" and hide the cause
        if self._db.in_transaction:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the cause below is what the operator needs
        if isinstance(exc, sqlite3.Error):
            raise StorageError(
                f"block cache {self._path}: {exc} (free disk space or move block_cache)"
            ) from exc
