"""Storage benchmark: write and read throughput of both backends on the same data.

For each backend, vde's Store is measured against the naive baseline of the original
project, in the same run:

- write: one INSERT per row, each awaited before the next (the original's loop);
- read: a statement as text (not prepared), rows as Python objects converted one by one.

Figures: raw rows written per second (one process), latency of one sensor-day read
(10,800 rows of 8 s) and of one installation-year of 15-min rollups (35,040 buckets).
Cassandra: ``VDE_TEST_CASSANDRA=host:port`` uses a running node, otherwise a node is
started (and stopped) with scripts/cassandra_node.py and its start-up time is reported.

    .venv/bin/python bench/storage.py [--quick]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from vde.models import ROLLUP_FIELDS, RollupBatch  # noqa: E402
from vde.storage import open_store  # noqa: E402

DAY = 86400
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
YEAR_15MIN = np.arange(T0, T0 + 365 * DAY, 900, dtype=np.int64)


def _timeit(fn, repeat: int, cpu: list | None = None) -> float:
    """Median wall time of ``fn()`` [s] (one warm-up call first); CPU time appended to cpu."""
    fn()
    times, cpus = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    if cpu is not None:
        cpu.append(statistics.median(cpus))
    return statistics.median(times)


def _rollups() -> RollupBatch:
    cols = {f: np.sin(YEAR_15MIN / 1e4 + i) * 100 for i, f in enumerate(ROLLUP_FIELDS)}
    cols["n"] = np.full(len(YEAR_15MIN), 112, dtype=np.int64)
    return RollupBatch(resolution_s=900, ts=YEAR_15MIN, columns=cols)


def _raw(days: int) -> tuple[np.ndarray, np.ndarray]:
    ts = np.arange(T0, T0 + days * DAY, 8, dtype=np.int64)
    return ts, np.abs(np.sin(ts / 3600.0)) * 2000


# --- naive baselines ------------------------------------------------------------------------


def _naive_sqlite(path: Path, ts: np.ndarray, p: np.ndarray) -> dict:
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)  # autocommit: one transaction per row
    conn.execute("PRAGMA journal_mode=WAL")
    t = time.perf_counter()
    for a, b in zip(ts.tolist(), p.tolist(), strict=True):
        conn.execute(
            "INSERT OR REPLACE INTO raw (sensor_id, ts, power_w, config_version, inserted_ts)"
            " VALUES ('naive', ?, ?, 1, 0)",
            (a, b),
        )
    write = len(ts) / (time.perf_counter() - t)

    def read_day() -> None:
        out_t, out_p = [], []
        for row in conn.execute(
            f"SELECT * FROM raw WHERE sensor_id = 's' AND ts >= {T0 + DAY} AND ts < {T0 + 2 * DAY}"
        ):
            out_t.append(row[1])
            out_p.append(row[2])
        np.array(out_t), np.array(out_p)

    # the naive layout of rollups: one REAL column per field (what vde packs in one blob)
    conn.execute(
        f"CREATE TABLE naive_rollup (installation_id TEXT, resolution_s INTEGER, ts INTEGER,"
        f" {', '.join(ROLLUP_FIELDS)}, PRIMARY KEY (installation_id, resolution_s, ts))"
        " WITHOUT ROWID"
    )
    b = _rollups()
    conn.execute("BEGIN")
    conn.executemany(
        f"INSERT INTO naive_rollup VALUES ('i', 900, ?, {', '.join('?' * len(ROLLUP_FIELDS))})",
        zip(b.ts.tolist(), *(b.columns[f].tolist() for f in ROLLUP_FIELDS), strict=True),
    )
    conn.execute("COMMIT")

    def read_year() -> None:
        cols: dict[str, list] = {f: [] for f in ("ts", *ROLLUP_FIELDS)}
        for row in conn.execute(
            f"SELECT ts, {', '.join(ROLLUP_FIELDS)} FROM naive_rollup"
            f" WHERE installation_id = 'i' AND resolution_s = 900 AND ts >= {T0}"
            f" AND ts < {T0 + 365 * DAY}"
        ):
            for k, v in zip(cols, row, strict=True):
                cols[k].append(v)
        {k: np.array(v) for k, v in cols.items()}

    out = {"write": write, "day": _timeit(read_day, 5), "year": _timeit(read_year, 3)}
    conn.close()
    return out


def _naive_cassandra(store, ts: np.ndarray, p: np.ndarray) -> dict:
    from cassandra.cluster import EXEC_PROFILE_DEFAULT
    from cassandra.concurrent import execute_concurrent_with_args
    from cassandra.query import SimpleStatement, named_tuple_factory

    session = store._session  # the baseline talks to the same node through the same driver
    ks = store.keyspace
    t = time.perf_counter()
    for a, b in zip(ts.tolist(), p.tolist(), strict=True):
        session.execute(
            f"INSERT INTO {ks}.raw (sensor_id, day, ts, power_w, config_version, inserted_ts)"
            " VALUES (%s, %s, %s, %s, 1, 0)",
            ("naive", a // DAY, a, b),
        )
    write = len(ts) / (time.perf_counter() - t)

    profile = session.execution_profile_clone_update(
        EXEC_PROFILE_DEFAULT, row_factory=named_tuple_factory
    )

    def read_day() -> None:
        q = SimpleStatement(
            f"SELECT * FROM {ks}.raw WHERE sensor_id = 's' AND day = {T0 // DAY + 1}"
        )
        rows = session.execute(q, execution_profile=profile)
        out_t, out_p = [], []
        for row in rows:
            out_t.append(row.ts)
            out_p.append(row.power_w)
        np.array(out_t), np.array(out_p)

    # the naive layout of rollups: one double column per field (what vde packs in one blob)
    session.execute(
        f"CREATE TABLE IF NOT EXISTS {ks}.naive_rollup (installation_id text, resolution_s int,"
        f" period int, ts bigint, {', '.join(f + ' double' for f in ROLLUP_FIELDS)},"
        " PRIMARY KEY ((installation_id, resolution_s, period), ts))"
    )
    b = _rollups()
    ins = session.prepare(
        f"INSERT INTO {ks}.naive_rollup (installation_id, resolution_s, period, ts,"
        f" {', '.join(ROLLUP_FIELDS)}) VALUES ('i', 900, ?, ?, {', '.join('?' * len(ROLLUP_FIELDS))})"
    )
    periods = b.ts.astype("datetime64[s]").astype("datetime64[M]").astype(int).tolist()
    execute_concurrent_with_args(
        session,
        ins,
        list(
            zip(
                periods,
                b.ts.tolist(),
                *(b.columns[f].astype(float).tolist() for f in ROLLUP_FIELDS),
                strict=True,
            )
        ),
        concurrency=64,
    )

    def read_year() -> None:
        cols: dict[str, list] = {f: [] for f in ("ts", *ROLLUP_FIELDS)}
        months = np.unique(YEAR_15MIN.astype("datetime64[s]").astype("datetime64[M]").astype(int))
        for m in months.tolist():
            rows = session.execute(
                f"SELECT ts, {', '.join(ROLLUP_FIELDS)} FROM {ks}.naive_rollup"
                f" WHERE installation_id = 'i' AND resolution_s = 900 AND period = {m}",
                execution_profile=profile,
            )
            for row in rows:
                for k in cols:
                    cols[k].append(getattr(row, k))
        {k: np.array(v) for k, v in cols.items()}

    return {"write": write, "day": _timeit(read_day, 5), "year": _timeit(read_year, 3)}


# --- vde ------------------------------------------------------------------------------------


def _vde(store, ts: np.ndarray, p: np.ndarray) -> dict:
    t, c = time.perf_counter(), time.process_time()
    store.write_raw("s", ts, p, 1)
    write = len(ts) / (time.perf_counter() - t)
    cpu = [len(ts) / (time.process_time() - c)]
    store.write_rollups("i", _rollups())
    day = _timeit(lambda: store.read_raw("s", T0 + DAY, T0 + 2 * DAY), 7, cpu)
    year = _timeit(lambda: store.read_rollups("i", 900, T0, T0 + 365 * DAY), 5, cpu)
    assert len(store.read_raw("s", T0 + DAY, T0 + 2 * DAY)) == DAY // 8
    assert len(store.read_rollups("i", 900, T0, T0 + 365 * DAY)) == len(YEAR_15MIN)
    return {"write": write, "day": day, "year": year, "cpu": cpu}


def _cassandra_url() -> tuple[str, object | None, float | None]:
    given = os.environ.get("VDE_TEST_CASSANDRA")
    if given:
        return f"cassandra://{given}/vde_bench", None, None
    sys.path.insert(0, str(ROOT / "scripts"))
    import cassandra_node

    node = cassandra_node.start(tempfile.mkdtemp(prefix="vde-bench-cass-"))
    return f"cassandra://{node.host}:{node.port}/vde_bench", node, node.started_s


def main(quick: bool = False) -> list[dict]:
    days = 2 if quick else 7
    ts, p = _raw(days)
    naive_n = 1000 if quick else 3000
    nts, np_ = _raw(1)
    nts, np_ = nts[:naive_n], np_[:naive_n]
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        with open_store(f"sqlite:///{Path(tmp) / 'bench.db'}") as s:
            s.create_schema()
            v = _vde(s, ts, p)
        n = _naive_sqlite(Path(tmp) / "bench.db", nts, np_)
        rows += _rows("sqlite", v, n, len(ts), None)
    url, node, started = _cassandra_url()
    try:
        with open_store(url) as s:
            s.drop_keyspace()
            s.create_schema()
            try:
                # warm the JVM (JIT, memtables) so neither side pays for a cold node
                for _ in range(3):
                    s.write_raw("warm-up", ts[:20000], p[:20000], 1)
                    s.read_raw("warm-up", T0, T0 + DAY)
                v = _vde(s, ts, p)
                n = _naive_cassandra(s, nts, np_)
            finally:
                s.drop_keyspace()
        rows += _rows("cassandra", v, n, len(ts), started)
    finally:
        if node is not None:
            node.stop()
    _print(rows)
    return rows


def _rows(backend: str, v: dict, n: dict, write_rows: int, started: float | None) -> list[dict]:
    base = {"bench": "storage", "backend": backend, "node_start_s": started}
    return [
        {
            **base,
            "figure": "write raw [rows/s]",
            "vde": v["write"],
            "vde_cpu": v["cpu"][0],
            "naive": n["write"],
            "ratio": v["write"] / n["write"],
            "rows": write_rows,
        },
        {
            **base,
            "figure": "read sensor-day [ms]",
            "vde": v["day"] * 1e3,
            "vde_cpu": v["cpu"][1] * 1e3,
            "naive": n["day"] * 1e3,
            "ratio": n["day"] / v["day"],
            "rows": DAY // 8,
        },
        {
            **base,
            "figure": "read year 15-min [ms]",
            "vde": v["year"] * 1e3,
            "vde_cpu": v["cpu"][2] * 1e3,
            "naive": n["year"] * 1e3,
            "ratio": n["year"] / v["year"],
            "rows": len(YEAR_15MIN),
        },
    ]


def _print(rows: list[dict]) -> None:
    head = (
        f"{'backend':<10} {'figure':<24} {'rows':>7} {'vde':>11} {'vde (cpu)':>11} "
        f"{'naive':>11} {'x naive':>8}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['backend']:<10} {r['figure']:<24} {r['rows']:>7} {r['vde']:>11,.1f} {r['vde_cpu']:>11,.1f} "
            f"{r['naive']:>11,.1f} {r['ratio']:>8.1f}"
        )
    starts = [r["node_start_s"] for r in rows if r["node_start_s"]]
    if starts:
        print(f"Cassandra node start-up: {starts[0]:.1f} s")
    print(
        "vde (cpu): the same figure from this process's CPU time instead of wall time (for "
        "SQLite, what a quiet machine shows; for Cassandra the client's share only).\n"
        "x naive: how many times better than the naive baseline (one statement per row, awaited "
        "one by one; reads as text statements with rows converted one by one), same run.\n"
        "targets: SQLite write >= 300k rows/s, sensor-day <= 20 ms, year of 15-min <= 50 ms; "
        "Cassandra write >= 10k rows/s and >= 10x naive."
    )


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
