"""``vde simulator``: run the Flukso API simulator in the foreground."""

from __future__ import annotations

import time

import click

from vde.errors import VdeError


@click.command()
@click.option("--homes", default=57, show_default=True, help="Number of equipped homes.")
@click.option("--seed", default=0, show_default=True, help="Seed: same seed, same fleet and data.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8089, show_default=True, help="Port (0 = any free port).")
@click.option(
    "--workbook",
    "workbook_path",
    default=None,
    metavar="PATH",
    help="Also write the matching configuration workbook (.xlsx) there.",
)
@click.option(
    "--faults",
    "faults_spec",
    default="",
    metavar="SPEC",
    help="Faults, e.g. 'latency=0.2,burst500=0.1,drop=0.05,truncate=0.05,defects=all,"
    "offline=SID:6h:4h:2h,reset=SID:3h,clockjump=SID:2h:-60,wrongtoken=SID'.",
)
@click.option(
    "--start",
    default=None,
    metavar="WHEN",
    help="When the meters started (ISO date/time, epoch, or e.g. 30d ago). Default: 30d.",
)
def simulator(
    homes: int,
    seed: int,
    host: str,
    port: int,
    workbook_path: str | None,
    faults_spec: str,
    start: str | None,
) -> None:
    """Serve a simulated fleet over the Flukso tmpo API until Ctrl-C.

    The fleet follows the wall clock: data keeps growing as time passes.
    """
    from vde.simulator import Faults, Fleet, serve_in_thread
    from vde.timeutil import now_ts, parse_instant

    now = now_ts()
    try:
        start_ts = parse_instant(start, now=now) if start else None
        faults = Faults.parse(faults_spec, now=now, seed=seed)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    fleet = Fleet.generate(homes=homes, seed=seed, start_ts=start_ts)
    try:
        fleet.apply_faults(faults)  # wiring faults change the workbook written below
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if workbook_path:
        from vde.processing.workbook import write_workbook

        write_workbook(workbook_path, fleet.config_rows(), fleet.access_rows(), fleet.captions())
        click.echo(f"workbook: {workbook_path}")
    try:
        with serve_in_thread(fleet, faults=faults, host=host, port=port) as server:
            click.echo(
                f"simulator: {server.url} ({len(fleet.homes)} homes, {len(fleet.sensors)} sensors, "
                f"seed {seed}); Ctrl-C to stop",
            )
            try:
                while True:
                    time.sleep(0.5)
            except KeyboardInterrupt:
                click.echo("stopping")
    except OSError as exc:
        raise VdeError(f"cannot serve on {host}:{port}: {exc}") from exc
