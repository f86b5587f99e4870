"""Scale: sync of 1,000 / 2,000 / 5,000 simulated homes with 1, 2 and 4 sharded workers.

The simulator serves the fleet from a thread of this process with a realistic API latency
(``latency=0.1`` s per request); its own cost (fleet generation time, RSS of this process)
is printed first. Each sync is ``vde sync [--workers W] --json`` in a child process on a
fresh database holding the fleet's configuration, with ``backfill_horizon`` = 10 min, so
each sensor fetches and stores about what a 5-minute incremental sync does (one short
window; blocks come from a cold cache, as after a restart: a pessimistic figure).

Printed per run: wall time, sensors/s, per-sensor cost of each stage (fetch, resample,
write, power; summed over workers), and the peak RSS of the largest sync process. Then
the projection for a 5-minute cadence at 10,000 and 100,000 homes: workers needed (from
the best measured sensors/s per worker, keeping half the cadence as margin) and, with
``--cassandra HOST:PORT``, Cassandra nodes needed (from the measured write rate of raw
rows into one node, at RF 3).

Run: ``.venv/bin/python bench/scale.py [--homes 1000,2000,5000] [--workers 1,2,4]
[--cassandra 127.0.0.1:9042]``. ``make bench`` runs the smallest size on SQLite.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CADENCE_S = 300
ROWS_PER_SENSOR = CADENCE_S // 8  # raw rows one sensor adds per 5-minute sync
T0 = 1_790_000_000 - 1_790_000_000 % 86400


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _prepare(db_url: str, fleet) -> None:
    from vde.models import ConfigVersion
    from vde.storage import open_store

    with open_store(db_url) as s:
        s.create_schema()
        s.save_config_version(ConfigVersion(1, tuple(fleet.config_rows())))


def _sync(db_url: str, sim_url: str, now: int, workers: int, tmp: Path) -> dict:
    empty = tmp / "empty.toml"
    empty.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VDE_")}
    env.update(
        VDE_CONFIG=str(empty),
        VDE_DATABASE=db_url,
        VDE_FLUKSO_API_URL=sim_url,
        VDE_BLOCK_CACHE=str(tmp / f"blocks-{workers}.sqlite"),
        VDE_BACKFILL_HORIZON="600",
        VDE_LOG_LEVEL="WARNING",
    )
    cmd = [sys.executable, "-m", "vde.cli", "sync", "--json", "--now", str(now)]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=7200)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"sync failed ({out.returncode}): {out.stderr[-2000:]}")
    rep = json.loads(out.stdout)
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    return {"wall": wall, "report": rep, "peak_rss_mb": peak}


def _cassandra_write_rate(hostport: str) -> float:
    """Raw rows/s one node takes from this client (a fresh keyspace, dropped after)."""
    import numpy as np

    from vde.storage import open_store

    store = open_store(f"cassandra://{hostport}/vde_scale_{os.getpid()}")
    try:
        store.create_schema(["raw"])
        ts = np.arange(T0, T0 + 86400, 8, dtype=np.int64)
        vals = np.linspace(0, 1000, len(ts))
        rows, t0 = 0, time.perf_counter()
        for k in range(8):
            rows += store.write_raw(f"{k:032x}", ts, vals, 1)
        return rows / (time.perf_counter() - t0)
    finally:
        store.drop_keyspace()
        store.close()


def run(homes_list: list[int], workers_list: list[int], cassandra: str | None) -> list[dict]:
    from vde.simulator import Faults, Fleet, serve_in_thread

    results: list[dict] = []
    for homes in homes_list:
        t0 = time.perf_counter()
        fleet = Fleet.generate(homes=homes, seed=5, start_ts=T0, now_ts=T0 + 3 * 3600)
        gen_s = time.perf_counter() - t0
        sensors = len({r.sensor_id for r in fleet.config_rows()})
        print(
            f"\n{homes} homes, {sensors} sensors: simulator fleet generated in {gen_s:.1f} s,"
            f" bench process RSS {_rss_mb():.0f} MB",
            flush=True,
        )
        with serve_in_thread(fleet, faults=Faults(latency=0.1)) as srv:
            for w in workers_list:
                with tempfile.TemporaryDirectory(prefix="vde-scale-") as tmp:
                    db = f"sqlite:///{Path(tmp) / 'vde.db'}"
                    _prepare(db, fleet)
                    res = _sync(db, srv.url, fleet.now, w, Path(tmp))
                rep = res["report"]
                t = rep["timings_s"]
                row = {
                    "homes": homes,
                    "sensors": sensors,
                    "workers": w,
                    "backend": "sqlite",
                    "wall_s": round(res["wall"], 1),
                    "sensors_per_s": round(sensors / res["wall"], 1),
                    "ok": rep["ok"],
                    "raw_rows": rep["raw_rows"],
                    "peak_rss_mb": round(res["peak_rss_mb"]),
                    "sim_rss_mb": round(_rss_mb()),
                    **{f"{k}_ms_per_sensor": round(1000 * v / sensors, 2) for k, v in t.items()},
                }
                results.append(row)
                print(
                    f"  {w} worker(s): {row['wall_s']} s, {row['sensors_per_s']} sensors/s,"
                    f" peak RSS {row['peak_rss_mb']} MB, per sensor [ms]: "
                    + ", ".join(f"{k} {1000 * v / sensors:.1f}" for k, v in t.items()),
                    flush=True,
                )
    per_worker = max(r["sensors_per_s"] / r["workers"] for r in results)
    sensors_per_home = results[0]["sensors"] / results[0]["homes"]
    write_rate = _cassandra_write_rate(cassandra) if cassandra else None
    print("\nprojection, 5-minute cadence (half of it kept as margin):")
    for homes in (10_000, 100_000):
        s = homes * sensors_per_home
        need = s / (CADENCE_S / 2)  # sensors/s
        workers = math.ceil(need / per_worker)
        proj = {"homes": homes, "sensors": round(s), "workers": workers}
        line = f"  {homes:,} homes ({s:,.0f} sensors): {workers} workers"
        if write_rate:
            rows_s = (s + homes) * ROWS_PER_SENSOR / (CADENCE_S / 2)  # raw + power rows
            nodes = max(3, math.ceil(rows_s * 3 / write_rate))
            proj["cassandra_nodes"] = nodes
            line += f", {nodes} Cassandra nodes (RF 3, {write_rate:,.0f} rows/s per node)"
        print(line + f" at {per_worker:.1f} sensors/s per worker", flush=True)
        results.append({"projection": proj})
    return results


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--homes", default="1000", help="comma-separated fleet sizes")
    ap.add_argument("--workers", default="1,2,4", help="comma-separated worker counts")
    ap.add_argument("--cassandra", default=None, metavar="HOST:PORT")
    args = ap.parse_args(argv if argv is not None else [])
    return run(
        [int(x) for x in args.homes.split(",")],
        [int(x) for x in args.workers.split(",")],
        args.cassandra,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
