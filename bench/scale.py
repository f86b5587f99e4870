"""Scale: incremental 5-minute syncs of 1,000 / 2,000 / 5,000 simulated homes, 1/2/4 workers.

The simulator serves the fleet from a thread of this process with a realistic API latency
(``latency=0.1`` s per request), blocks generated lazily on request. Its own cost is
printed: fleet generation time, this process's RSS, and the CPU it spent serving each
sync (this process does nothing else meanwhile).

Per fleet size and backend (SQLite file; Cassandra with ``--cassandra HOST:PORT``, in a
keyspace of its own dropped at the end):

1. a *backfill*: ``vde sync --workers 4`` of the fleet's whole history (``--history``,
   20 min by default) into the empty database, with a block cache file of its own;
2. for each worker count W, the simulator's clock moves 5 minutes and ``vde sync
   [--workers W] --json`` runs: a true incremental sync (resume points stored, the block
   cache warm, about 38 new 8-s rows per sensor), each step on the previous one's data.

Printed per run: wall time, sensors/s, per-sensor cost of each stage (fetch = summed
waits of the overlapping fetches, resample, write, power; summed over workers), the CPU
the sync processes used per sensor, the peak RSS of the largest sync process, the
simulator's CPU per sensor, and the load average of this shared machine before the run.
Then the projection for a 5-minute cadence at 10,000 and 100,000 homes: workers needed
(from the best incremental sensors/s per worker, half the cadence kept as margin; and
from the sync CPU per sensor, for workers with a core each) and,
with ``--cassandra``, Cassandra nodes (from the measured write rate of raw rows into one
node from one client, at RF 3).

Run: ``.venv/bin/python bench/scale.py [--homes 1000,2000,5000] [--workers 1,2,4]
[--cassandra 127.0.0.1:9042] [--tls] [--concurrency-max N]``. ``make bench`` runs
``--quick`` (200 homes, SQLite); the issue's sizes are opt-in.
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
BACKFILL_WORKERS = 4
# runs the sync and reports the peak RSS and CPU of it and its worker processes
_WRAP = (
    "import json, resource, subprocess, sys\n"
    "out = subprocess.run(sys.argv[2:], capture_output=True, text=True)\n"
    "r = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "open(sys.argv[1], 'w').write(json.dumps({'rc': out.returncode, 'stdout': out.stdout,"
    " 'stderr': out.stderr[-3000:], 'maxrss_kb': r.ru_maxrss,"
    " 'cpu_s': r.ru_utime + r.ru_stime}))\n"
)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _prepare(db_url: str, fleet) -> None:
    from vde.models import ConfigVersion
    from vde.storage import open_store

    with open_store(db_url) as s:
        s.create_schema()
        s.save_config_version(ConfigVersion(1, tuple(fleet.config_rows())))


def _drop(db_url: str) -> None:
    from vde.storage import open_store

    store = open_store(db_url)
    try:
        store.drop_keyspace()
    finally:
        store.close()


def _sync(db_url: str, sim_url: str, now: int, workers: int, tmp: Path, env_extra: dict) -> dict:
    empty = tmp / "empty.toml"
    empty.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VDE_")}
    env.update(
        VDE_CONFIG=str(empty),
        VDE_DATABASE=db_url,
        VDE_FLUKSO_API_URL=sim_url,
        VDE_BLOCK_CACHE=str(tmp / "blocks.sqlite"),
        VDE_LOG_LEVEL="WARNING",
        **env_extra,
    )
    cmd = [sys.executable, "-m", "vde.cli", "sync", "--json", "--now", str(now)]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    result = tmp / "run.json"
    load = _load()
    sim_cpu = _cpu_self()
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", _WRAP, str(result), *cmd], env=env, check=True, timeout=7200
    )
    wall = time.perf_counter() - t0
    sim_cpu = _cpu_self() - sim_cpu
    out = json.loads(result.read_text())
    if out["rc"] != 0:
        raise RuntimeError(f"sync failed ({out['rc']}): {out['stderr']}")
    rep = json.loads(out["stdout"])
    return {
        "wall": wall,
        "report": rep,
        "peak_rss_mb": out["maxrss_kb"] / 1024,
        "cpu_s": out["cpu_s"],
        "sim_cpu_s": sim_cpu,
        "load": load,
    }


def _cassandra_write_rate(hostport: str) -> float:
    """Raw rows/s one node takes from this client (a fresh keyspace, dropped after)."""
    import numpy as np

    from vde.storage import open_store

    store = open_store(f"cassandra://{hostport}/vde_bench_wrate_{os.getpid()}")
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


def _row(kind: str, homes: int, sensors: int, backend: str, w: int, res: dict) -> dict:
    rep = res["report"]
    if not rep["ok"]:
        raise RuntimeError(f"{kind} sync of {homes} homes: {rep['sensors_failed']} sensors failed")
    t = rep["timings_s"]
    return {
        "kind": kind,
        "homes": homes,
        "sensors": sensors,
        "backend": backend,
        "workers": w,
        "wall_s": round(res["wall"], 1),
        "sensors_per_s": round(sensors / res["wall"], 1),
        "raw_rows": rep["raw_rows"],
        "power_rows": rep["power_rows"],
        "blocks_downloaded": rep["blocks_downloaded"],
        "peak_rss_mb": round(res["peak_rss_mb"]),
        "sync_cpu_ms_per_sensor": round(1000 * res["cpu_s"] / sensors, 2),
        "sim_cpu_ms_per_sensor": round(1000 * res["sim_cpu_s"] / sensors, 2),
        "load_avg": res["load"],
        **{f"{k}_ms_per_sensor": round(1000 * v / sensors, 2) for k, v in t.items()},
    }


def _print(row: dict) -> None:
    stages = ", ".join(
        f"{k.removesuffix('_ms_per_sensor')} {v}"
        for k, v in row.items()
        if k.endswith("_ms_per_sensor") and not k.startswith(("sync_cpu", "sim_cpu"))
    )
    print(
        f"  {row['kind']:<11} {row['backend']:<9} {row['workers']} worker(s): "
        f"{row['wall_s']:>6} s, {row['sensors_per_s']:>6} sensors/s, "
        f"{row['raw_rows']} raw rows, peak RSS {row['peak_rss_mb']} MB, "
        f"sync CPU {row['sync_cpu_ms_per_sensor']} ms/sensor, "
        f"simulator CPU {row['sim_cpu_ms_per_sensor']} ms/sensor; "
        f"stages [ms/sensor]: {stages}; load {row['load_avg']}",
        flush=True,
    )


def _tls_files(folder: Path) -> tuple[Path, Path]:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    cert.private_key_and_cert_chain_pem.write_to_path(str(folder / "server.pem"))
    return folder / "ca.pem", folder / "server.pem"


def run(
    homes_list: list[int],
    workers_list: list[int],
    cassandra: str | None,
    *,
    history_s: int = 1200,
    tls: bool = False,
    concurrency_max: int | None = None,
) -> list[dict]:
    from vde.simulator import Faults, Fleet, serve_in_thread

    results: list[dict] = []
    backends = ["sqlite"] + (["cassandra"] if cassandra else [])
    env_extra: dict[str, str] = {}
    if concurrency_max is not None:
        env_extra["VDE_FLUKSO_CONCURRENCY_MAX"] = str(concurrency_max)
    with tempfile.TemporaryDirectory(prefix="vde-scale-") as top:
        tls_files = _tls_files(Path(top)) if tls else None
        if tls_files:
            env_extra["VDE_FLUKSO_CA_BUNDLE"] = str(tls_files[0])
        for homes in homes_list:
            t0 = time.perf_counter()
            fleet = Fleet.generate(homes=homes, seed=5, start_ts=T0, now_ts=T0 + history_s)
            gen_s = time.perf_counter() - t0
            sensors = len({r.sensor_id for r in fleet.config_rows()})
            print(
                f"\n{homes} homes, {sensors} sensors: simulator fleet generated in {gen_s:.2f} s,"
                f" bench process RSS {_rss_mb():.0f} MB (load {_load()})",
                flush=True,
            )
            tls_arg = (tls_files[1], tls_files[1]) if tls_files else None
            with serve_in_thread(fleet, faults=Faults(latency=0.1), tls=tls_arg) as srv:
                for backend in backends:
                    fleet.now_ts = T0 + history_s  # every backend backfills the same history
                    tmp = Path(top) / f"{homes}-{backend}"
                    tmp.mkdir()
                    if backend == "sqlite":
                        db = f"sqlite:///{tmp / 'vde.db'}"
                    else:
                        db = f"cassandra://{cassandra}/vde_bench_scale_{os.getpid()}_{homes}"
                    _prepare(db, fleet)
                    try:
                        res = _sync(db, srv.url, fleet.now, BACKFILL_WORKERS, tmp, env_extra)
                        row = _row("backfill", homes, sensors, backend, BACKFILL_WORKERS, res)
                        results.append(row)
                        _print(row)
                        for w in workers_list:
                            now = srv.advance(CADENCE_S)
                            res = _sync(db, srv.url, now, w, tmp, env_extra)
                            row = _row("incremental", homes, sensors, backend, w, res)
                            row["sim_rss_mb"] = round(_rss_mb())
                            results.append(row)
                            _print(row)
                    finally:
                        if backend == "cassandra":
                            _drop(db)
    _project(results, cassandra)
    return results


def _project(results: list[dict], cassandra: str | None) -> None:
    inc = [r for r in results if r.get("kind") == "incremental"]
    per_worker = max(r["sensors_per_s"] / r["workers"] for r in inc)
    # what one worker does with a core of its own: the wall figure above is bound by
    # the load of the machine it was measured on, the CPU per sensor much less so
    per_core = 1000 / min(r["sync_cpu_ms_per_sensor"] for r in inc)
    sensors_per_home = inc[0]["sensors"] / inc[0]["homes"]
    print("\nscaling (incremental 5-min sync, sensors/s by workers):")
    for key in sorted({(r["backend"], r["homes"]) for r in inc}):
        curve = [r for r in inc if (r["backend"], r["homes"]) == key]
        print(
            f"  {key[0]:<9} {key[1]:>5} homes: "
            + ", ".join(f"{r['workers']}w {r['sensors_per_s']}" for r in curve)
        )
    write_rate = _cassandra_write_rate(cassandra) if cassandra else None
    print(
        f"\nprojection, 5-minute cadence (half of it kept as margin), at the best measured"
        f" {per_worker:.1f} sensors/s per worker (load {_load()}):"
    )
    for homes in (10_000, 100_000):
        s = homes * sensors_per_home
        need = s / (CADENCE_S / 2)  # sensors/s
        workers = math.ceil(need / per_worker)
        cores = math.ceil(need / per_core)
        proj = {"homes": homes, "sensors": round(s), "workers": workers, "worker_cores": cores}
        line = (
            f"  {homes:,} homes ({s:,.0f} sensors): {workers} workers as measured, or"
            f" {cores} workers with a core each ({per_core:.0f} sensors/s per core from the"
            f" sync CPU per sensor)"
        )
        if write_rate:
            rows_s = (s + homes) * ROWS_PER_SENSOR / (CADENCE_S / 2)  # raw + power rows
            nodes = max(3, math.ceil(rows_s * 3 / write_rate))
            proj["cassandra_nodes"] = nodes
            proj["node_write_rows_per_s"] = round(write_rate)
            line += f", {nodes} Cassandra nodes (RF 3, {write_rate:,.0f} rows/s per node)"
        print(line, flush=True)
        results.append({"projection": proj})


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--homes", default="1000", help="comma-separated fleet sizes")
    ap.add_argument("--workers", default="1,2,4", help="comma-separated worker counts")
    ap.add_argument("--cassandra", default=None, metavar="HOST:PORT")
    ap.add_argument("--history", type=int, default=1200, help="backfilled history [s]")
    ap.add_argument("--tls", action="store_true", help="simulator over TLS (HTTP/2 offered)")
    ap.add_argument("--concurrency-max", type=int, default=None, help="flukso_concurrency_max")
    ap.add_argument("--quick", action="store_true", help="200 homes, 1 and 2 workers")
    args = ap.parse_args(argv if argv is not None else ["--quick"])
    if args.quick:
        args.homes, args.workers = "200", "1,2"
    return run(
        [int(x) for x in args.homes.split(",")],
        [int(x) for x in args.workers.split(",")],
        args.cassandra,
        history_s=args.history,
        tls=args.tls,
        concurrency_max=args.concurrency_max,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
