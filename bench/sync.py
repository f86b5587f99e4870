"""Sync pipeline at the real community's size: 60 installations, 206 distinct sensors.

The simulator serves a fleet of 57 homes + 3 groups (seed 3: 206 sensors) from a thread of
this process; every sync runs in a child process (``vde``'s own ``run_sync``), so its wall
time and peak RSS (``resource.getrusage`` in the child) are the sync's alone.

Stages, each against its target (ratio = measured / target, <= 1 passes):

- SQLite 24-h backfill (new sensors, backfill horizon 1 d) — target 60 s wall;
- SQLite incremental sync 5 min later — target 5 s wall;
- peak RSS of those syncs — target 500 MB;
- Cassandra 24-h backfill (a fresh keyspace, cold block cache) — target 300 s;

``cpu_s`` is the sync process's own CPU time (user + system), a figure that a machine
busy with other work inflates far less than wall time. Rows/s per stage of the backfill:
fetch (points received / wall time not spent in processing), decode (every cached block
decoded again, in this process), resample (counter -> 8-s rows), write (raw rows), power
(installation power rows incl. rollups).
The simulator is cold for the first backfill (it generates and encodes every block), so
that figure includes the simulator's own work on the same 2 cores.

Run: ``.venv/bin/python bench/sync.py [--no-cassandra]``.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOMES, SEED = 57, 3
DAY = 86400
TARGETS = {"backfill": 60.0, "incremental": 5.0, "rss_mb": 500.0, "cassandra_backfill": 300.0}


def _child(spec: dict) -> None:
    """Runs in the child: one sync, prints its report and peak RSS as JSON."""
    from vde import logs
    from vde.settings import load_settings
    from vde.storage import open_store
    from vde.sync.pipeline import run_sync

    logs.configure("WARNING")
    settings = load_settings(
        database=spec["db"],
        flukso_api_url=spec["url"],
        block_cache=spec["cache"],
        backfill_horizon=spec["horizon"],
    )
    store = open_store(spec["db"])
    try:
        t0 = time.perf_counter()
        report = run_sync(store, settings, now_ts=spec["now"], progress=False)
        wall = time.perf_counter() - t0
    finally:
        store.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    rss_mb = usage.ru_maxrss / 1024
    cpu = usage.ru_utime + usage.ru_stime  # less sensitive than wall time to a busy machine
    print(json.dumps({"wall": wall, "cpu": cpu, "rss_mb": rss_mb, "report": report.to_dict()}))


def _run_child(spec: dict) -> dict:
    env = dict(os.environ, VDE_CONFIG=str(Path(spec["cache"]).with_suffix(".absent.toml")))
    out = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if out.returncode != 0:
        raise RuntimeError(f"sync child failed ({out.returncode}): {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _decode_rate(cache_path: str) -> tuple[int, float]:
    """Decode every block of the block cache again: (points, seconds)."""
    import sqlite3

    from vde.flukso import decode_block

    con = sqlite3.connect(cache_path)
    rows = con.execute(
        "SELECT sensor_id, rid, lvl, bid, data FROM tmpo_block WHERE data IS NOT NULL"
    ).fetchall()
    con.close()
    t0 = time.perf_counter()
    points = 0
    for sid, rid, lvl, bid, data in rows:
        points += len(decode_block(data, sensor_id=sid, rid=rid, lvl=lvl, bid=bid).ts)
    return points, time.perf_counter() - t0


def _prepare(db_url: str, fleet) -> None:
    from vde.models import ConfigVersion
    from vde.storage import open_store

    with open_store(db_url) as s:
        s.create_schema()
        s.save_config_version(ConfigVersion(1, tuple(fleet.config_rows())))


def _cassandra_url(tmp: Path) -> tuple[str | None, object, str]:
    """(URL of a fresh keyspace, node handle to stop or None, note)."""
    given = os.environ.get("VDE_TEST_CASSANDRA") or os.environ.get("VDE_BENCH_CASSANDRA")
    keyspace = f"vde_bench_{os.getpid()}"
    if given:
        return f"cassandra://{given}/{keyspace}", None, f"node {given}"
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import cassandra_node
    finally:
        sys.path.pop(0)
    try:
        node = cassandra_node.start(run_dir=tmp / "cassandra")
    except cassandra_node.NodeError as exc:
        return None, None, f"node did not start: {exc}"
    return f"cassandra://{node.host}:{node.port}/{keyspace}", node, "node started for the bench"


def _stage_rows(name: str, backend: str, res: dict, target: float | None) -> list[dict]:
    rep = res["report"]
    print(f"{name} [{backend}]: {res['wall']:.1f} s, {rep['raw_rows']} raw rows", flush=True)
    t = rep["timings_s"]
    wall = res["wall"]
    rows = [
        {
            "stage": name,
            "backend": backend,
            "wall_s": round(wall, 2),
            "cpu_s": round(res.get("cpu", 0.0), 2),
            "target_s": target,
            "ratio": round(wall / target, 2) if target else None,
            "rows": rep["raw_rows"],
            "rows_per_s": round(rep["raw_rows"] / wall) if wall else None,
            "peak_rss_mb": round(res["rss_mb"]),
            "ok": rep["ok"],
            "sensors": rep["sensors"],
        }
    ]
    processing = t["resample"] + t["write"] + t["power"]
    detail = [
        ("fetch", rep["fetched_points"], max(wall - processing, 1e-9)),
        ("resample", rep["raw_rows"], t["resample"]),
        ("write", rep["raw_rows"], t["write"]),
        ("power", rep["power_rows"], t["power"]),
    ]
    for stage, n, sec in detail:
        rows.append(
            {
                "stage": f"  {name}:{stage}",
                "backend": backend,
                "wall_s": round(sec, 2),
                "rows": n,
                "rows_per_s": round(n / sec) if sec > 0 else None,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    argv = sys.argv[1:] if argv is None else argv
    from vde import logs
    from vde.simulator import Fleet, serve_in_thread

    logs.configure("WARNING")
    now0 = 1_790_000_000 - 1_790_000_000 % DAY
    fleet = Fleet.generate(homes=HOMES, seed=SEED, start_ts=now0 - DAY - 7200, now_ts=now0)
    n_inst = len({r.installation_id for r in fleet.config_rows()})
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="vde-bench-sync-") as d, serve_in_thread(fleet) as srv:
        tmp = Path(d)
        db = f"sqlite:///{tmp / 'vde.db'}"
        _prepare(db, fleet)
        spec = {"db": db, "url": srv.url, "cache": str(tmp / "blocks.sqlite"), "horizon": DAY}
        back = _run_child({**spec, "now": fleet.now})
        results += _stage_rows("backfill 24h", "sqlite", back, TARGETS["backfill"])
        points, sec = _decode_rate(spec["cache"])
        results.append(
            {
                "stage": "  backfill 24h:decode",
                "backend": "-",
                "wall_s": round(sec, 2),
                "rows": points,
                "rows_per_s": round(points / sec) if sec else None,
            }
        )
        fleet.advance(300)
        inc = _run_child({**spec, "now": fleet.now})
        results += _stage_rows("incremental 5 min", "sqlite", inc, TARGETS["incremental"])
        peak = max(back["rss_mb"], inc["rss_mb"])
        results.append(
            {
                "stage": "peak RSS",
                "backend": "sqlite",
                "peak_rss_mb": round(peak),
                "target_s": None,
                "ratio": round(peak / TARGETS["rss_mb"], 2),
                "note": f"target {TARGETS['rss_mb']:.0f} MB",
            }
        )
        if "--no-cassandra" not in argv:
            fleet.now_ts = now0
            url, node, note = _cassandra_url(tmp)
            if url is None:
                results.append({"stage": "backfill 24h", "backend": "cassandra", "note": note})
            else:
                try:
                    _prepare(url, fleet)
                    cspec = {**spec, "db": url, "cache": str(tmp / "blocks-c.sqlite")}
                    cas = _run_child({**cspec, "now": fleet.now})
                    results += _stage_rows(
                        "backfill 24h", "cassandra", cas, TARGETS["cassandra_backfill"]
                    )
                finally:
                    _drop(url)
                    if node is not None:
                        node.stop()
    _print(results, sensors=len(fleet.sensors), installations=n_inst)
    return results


def _drop(url: str) -> None:
    from vde.storage import open_store

    with open_store(url) as s:
        s.drop_keyspace()


def _print(rows: list[dict], *, sensors: int, installations: int) -> None:
    print(f"sync benchmark: {installations} installations, {sensors} distinct sensors")
    cols = ["stage", "backend", "wall_s", "cpu_s", "target_s", "ratio", "rows", "rows_per_s"]
    cols.append("peak_rss_mb")
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, load average (1 min) {load:.1f} at the end")
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        line = "  ".join(
            str(r.get(c, "") if r.get(c) is not None else "").ljust(widths[c]) for c in cols
        )
        print(line + (f"  {r['note']}" if r.get("note") else ""))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        _child(json.loads(sys.argv[2]))
    else:
        main()
