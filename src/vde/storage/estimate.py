"""Disk each time-series table needs for N homes over Y years, on each backend.

SQLite: bytes per row are **measured** each time: a small sample of generated rows is
written through the Store into a scratch file, the file is vacuumed, and its growth over
the empty schema is divided by the rows written (indexes and page overhead included).

Cassandra: bytes per row come from the row layout of Cassandra 5.0's default ``big``
SSTable format (see ``CASSANDRA_ROW_BYTES``: a model, not a measurement), times the
replication factor. Compaction head-room is not included (size-tiered compaction may need
as much free space again as the table while it runs).
"""

from __future__ import annotations

import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vde.models import ROLLUP_RESOLUTIONS, PowerSeries
from vde.processing.rollups import compute_rollups

YEAR_S = 365.25 * 86400
GRID_S = 8

#: Cassandra 5.0 ``big`` format, per row of a partition, uncompressed [B]: row header
#: (flags, size, delta-encoded liveness: ~7) + clustering ts (8) + per cell one flag byte
#: and the value (raw: double, bigint, bigint, boolean = 29; power: 3 doubles, 2 bigints,
#: boolean = 46; rollup: bigint n + blob of 16 doubles with its length = 138). LZ4 chunks
#: of timestamps 8 s apart with the same config_version/inserted_ts compress to about
#: 0.6 of that (the values themselves barely compress), hence the figures below.
CASSANDRA_ROW_BYTES = {"raw": 26, "power": 37, "power_rollup": 110}


@dataclass
class TableEstimate:
    table: str
    rows: int
    sqlite_bytes_per_row: float
    cassandra_bytes_per_row: float
    sqlite_bytes: int
    cassandra_bytes: int  # all replicas together

    def to_dict(self) -> dict:
        return dict(vars(self))


def rows_per_year(sensors: int, installations: int) -> dict[str, float]:
    """Rows a year adds to each time-series table."""
    slots = YEAR_S / GRID_S
    rollups = sum(YEAR_S / r for r in ROLLUP_RESOLUTIONS)
    return {
        "raw": sensors * slots,
        "power": installations * slots,
        "power_rollup": installations * rollups,
    }


def measure_sqlite(sample_days: int = 1) -> dict[str, float]:
    """Bytes per row of raw, power and power_rollup in a scratch SQLite file (measured)."""
    from vde.storage import open_store

    with tempfile.TemporaryDirectory(prefix="vde-estimate-") as tmp:
        path = Path(tmp) / "sample.db"
        url = f"sqlite:///{path}"
        with open_store(url) as store:
            store.create_schema()
        base = _vacuumed_size(path)
        out: dict[str, float] = {}
        rng = np.random.default_rng(0)
        t0 = 1_700_000_000 - 1_700_000_000 % 86400
        ts = np.arange(t0, t0 + sample_days * 86400, GRID_S, dtype=np.int64)
        n_series = 4
        with open_store(url) as store:
            for k in range(n_series):
                store.write_raw(f"{k:032x}", ts, rng.normal(500, 300, len(ts)).round(3), 1)
        size = _vacuumed_size(path)
        out["raw"] = (size - base) / (n_series * len(ts))
        base = size
        rollup_rows = 0
        with open_store(url) as store:
            for k in range(n_series):
                cons = rng.normal(500, 300, len(ts)).round(3)
                prod = -np.abs(rng.normal(200, 100, len(ts))).round(3)
                p = PowerSeries(ts=ts, p_cons=cons, p_prod=prod, p_tot=cons + prod)
                store.write_power(f"H{k}", p, 1)
        size = _vacuumed_size(path)
        out["power"] = (size - base) / (n_series * len(ts))
        base = size
        with open_store(url) as store:
            p = store.read_power("H0", 0, 2**40)
            for k in range(n_series):
                for res in ROLLUP_RESOLUTIONS:
                    batch = compute_rollups(p, res)
                    rollup_rows += store.write_rollups(f"H{k}", batch)
        size = _vacuumed_size(path)
        out["power_rollup"] = (size - base) / max(1, rollup_rows)
    return out


def _vacuumed_size(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        conn.execute("VACUUM")
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    return int(pages) * int(size)


def estimate(
    *,
    homes: int,
    years: float,
    sensors_per_home: float,
    raw_retention_s: int = 0,
    power_retention_s: int = 0,
    replication: int = 3,
    sqlite_bytes_per_row: dict[str, float] | None = None,
) -> list[TableEstimate]:
    """Disk per table after ``years`` for ``homes`` homes (retention caps raw and power).

    Parameters
    ----------
    homes : int
    years : float
    sensors_per_home : float
    raw_retention_s, power_retention_s : int
        Retention [s] (0: rows kept forever).
    replication : int
        Cassandra replication factor (every replica holds the whole table).
    sqlite_bytes_per_row : dict, optional
        Measured figures (default: measured now by :func:`measure_sqlite`).
    """
    per_row = sqlite_bytes_per_row or measure_sqlite()
    per_year = rows_per_year(round(homes * sensors_per_home), homes)
    kept = {
        "raw": min(years, raw_retention_s / YEAR_S) if raw_retention_s else years,
        "power": min(years, power_retention_s / YEAR_S) if power_retention_s else years,
        "power_rollup": years,
    }
    out = []
    for table, rate in per_year.items():
        rows = int(rate * kept[table])
        sq, cq = per_row[table], CASSANDRA_ROW_BYTES[table]
        out.append(
            TableEstimate(
                table=table,
                rows=rows,
                sqlite_bytes_per_row=round(sq, 1),
                cassandra_bytes_per_row=float(cq),
                sqlite_bytes=int(rows * sq),
                cassandra_bytes=int(rows * cq * replication),
            )
        )
    return out
