"""``vde sync --workers N``: N local sharded sync processes, one merged report.

Each process is ``vde sync --shard-worker --now T --json`` (vde.sync.shards): they claim
shards through leases in the database, so processes started on other machines with the
same ``--now`` (or ``vde serve --sync-every`` instances) cooperate the same way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import click

from vde.errors import LockedError
from vde.settings import Settings


def run_sharded(
    settings: Settings, workers: int, now: int | None, as_json: bool, shard_worker: bool
) -> None:
    from vde.storage import open_store
    from vde.sync.shards import merge_reports, run_worker
    from vde.timeutil import now_ts

    round_ts = int(now) if now is not None else now_ts()
    if shard_worker:
        store = open_store(settings.database)
        try:
            report = run_worker(store, settings, now_ts=round_ts)
        except LockedError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(LockedError.exit_code)
        finally:
            store.close()
        click.echo(json.dumps(report.to_dict()))
        sys.exit(0 if report.ok else 1)
    env = dict(os.environ)
    # the children read the same settings; what came from options goes by environment
    env["VDE_DATABASE"] = settings.database
    env["VDE_FLUKSO_API_URL"] = settings.flukso_api_url
    cmd = [sys.executable, "-m", "vde.cli", "sync", "--shard-worker", "--now", str(round_ts)]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) for _ in range(workers)
    ]
    parts, codes = [], []
    for p in procs:
        out, _ = p.communicate()
        codes.append(p.returncode)
        lines = [ln for ln in out.splitlines() if ln.startswith("{")]
        if lines:
            parts.append(json.loads(lines[-1]))
    if not parts:
        click.echo(f"error: no sync worker finished (exit codes {codes})", err=True)
        sys.exit(LockedError.exit_code if LockedError.exit_code in codes else 1)
    merged = merge_reports(parts)
    merged["worker_exit_codes"] = codes
    if as_json:
        click.echo(json.dumps(merged, indent=2))
    else:
        for s in merged["sensor_reports"]:
            if not s["ok"]:
                click.echo(f"FAILED {s['sensor_id']}: {s['reason']}")
        click.echo(
            f"vde sync ({workers} workers): {merged['sensors_ok']}/{merged['sensors']} sensors ok,"
            f" {merged['raw_rows']} raw rows, installations updated: {merged['installations']},"
            f" power rows: {merged['power_rows']}, {merged['elapsed_s']} s"
        )
    if not merged["ok"] or any(c != 0 for c in codes):
        sys.exit(1)
