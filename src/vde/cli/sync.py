"""``vde sync``: fetch new Flukso data and update raw power, installation power, rollups."""

from __future__ import annotations

import json
import logging
import sys

import click

from vde.cli.common import db_option, log_options, settings_from
from vde.errors import LockedError


@click.command()
@click.option(
    "--since",
    default=None,
    metavar="WHEN",
    help="Manual mode: re-fetch and rewrite from this instant (2d, 2026-03-29, ISO datetime).",
)
@click.option(
    "--until",
    default=None,
    metavar="WHEN",
    help="End of the manual window (exclusive; default now). Needs --since.",
)
@click.option(
    "--installations",
    default=None,
    metavar="A,B",
    help="Only the sensors of these installations (comma-separated).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.option("--no-progress", is_flag=True, help="No progress bar (log lines instead).")
@click.option(
    "--flukso-url", default=None, metavar="URL", help="Flukso API base URL (e.g. a simulator's)."
)
@click.option(
    "--now",
    "now_text",
    default=None,
    hidden=True,
    metavar="WHEN",
    help="Treat this instant as now (tests and the simulator's frozen clock).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    help="Run this many sharded sync processes and merge their reports (auto mode only).",
)
@click.option(
    "--shard-worker",
    is_flag=True,
    hidden=True,
    help="Be one worker of a sharded round (what --workers starts; also for other machines).",
)
@db_option
@log_options
def sync(
    since: str | None,
    until: str | None,
    installations: str | None,
    as_json: bool,
    no_progress: bool,
    flukso_url: str | None,
    now_text: str | None,
    workers: int,
    shard_worker: bool,
    db_url: str | None,
) -> None:
    """Sync every sensor of the current configuration from the Flukso API.

    Without --since: fetch what is new since each sensor's last stored point (new sensors
    from their start date, bounded by the backfill horizon) and re-fetch recent missing
    intervals. With --since [--until]: re-fetch and rewrite exactly that window.
    Exit codes: 0 all sensors ok, 1 some sensor failed, 3 another sync holds the lock.
    """
    from vde.storage import open_store
    from vde.sync.pipeline import run_sync
    from vde.timeutil import parse_instant

    # one INFO line per HTTP request drowns the sync's own lines: keep httpx's warnings only
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if until and not since:
        raise click.UsageError("--until needs --since")
    settings = settings_from(db_url=db_url, flukso_api_url=flukso_url)
    try:
        now = parse_instant(now_text) if now_text else None
        start = parse_instant(since, now=now) if since else None
        end = parse_instant(until, now=now) if until else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if start is not None and end is not None and end <= start:
        raise click.BadParameter("--until must be after --since")
    ids = [p.strip() for p in installations.split(",") if p.strip()] if installations else None
    if workers > 1 or shard_worker:
        if start is not None or ids:
            raise click.UsageError(
                "--workers syncs everything: not with --since or --installations"
            )
        from vde.cli.sync_workers import run_sharded

        run_sharded(settings, workers, now, as_json, shard_worker)
        return
    store = open_store(settings.database)
    try:
        report = run_sync(
            store,
            settings,
            since=start,
            until=end,
            installations=ids,
            now_ts=now,
            progress=False if no_progress or as_json else None,
        )
    except LockedError as exc:
        click.echo(f"error: another sync is running on this database ({exc})", err=True)
        sys.exit(LockedError.exit_code)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        print_report(report)
    if not report.ok:
        sys.exit(1)


def print_report(report) -> None:  # report: vde.sync.pipeline.SyncReport
    """Summary table on the terminal (rich): one line per failed sensor, totals."""
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=False)
    s = report.summary()
    table = Table(title=f"vde sync ({report.mode}) — {s['sensors_ok']}/{s['sensors']} sensors ok")
    for col in ("sensor", "status", "points", "rows", "gaps", "filled", "issues"):
        table.add_column(col, justify="left" if col in ("sensor", "status") else "right")
    shown = report.failed + [r for r in report.sensors if r.ok and (r.gaps or r.issues)]
    for r in shown:
        status = "ok" if r.ok else "FAILED"
        table.add_row(
            r.sensor_id,
            status,
            str(r.points),
            str(r.rows),
            str(r.gaps),
            str(r.filled),
            str(r.issues),
        )
    ok_rest = [r for r in report.sensors if r not in shown]
    if ok_rest:
        table.add_row(
            f"{len(ok_rest)} other sensors",
            "ok",
            str(sum(r.points for r in ok_rest)),
            str(sum(r.rows for r in ok_rest)),
            str(sum(r.gaps for r in ok_rest)),
            str(sum(r.filled for r in ok_rest)),
            str(sum(r.issues for r in ok_rest)),
        )
    table.add_section()
    table.add_row(
        "total",
        "ok" if report.ok else f"{s['sensors_failed']} failed",
        str(s["points"]),
        str(s["raw_rows"]),
        str(s["gaps"]),
        str(s["filled"]),
        str(s["block_issues"]),
    )
    console.print(table)
    for r in report.failed:
        # whole lines, outside the table: a reason is never cut by the terminal's width
        click.echo(f"FAILED {r.sensor_id}: {r.reason}")
    console.print(
        f"installations updated: {s['installations']}, power rows: {s['power_rows']}, "
        f"{s['elapsed_s']} s"
    )
