"""``vde export``: files of stored power for researchers and partners (CSV or Parquet),
optionally pushed to an SFTP server."""

from __future__ import annotations

import click

from vde.cli.common import db_option, log_options, settings_from


@click.command()
@click.option(
    "--installations",
    default=None,
    metavar="A,B",
    help="Only these installations (comma-separated). Default: all.",
)
@click.option(
    "--since",
    default="last",
    show_default=True,
    metavar="WHEN|last",
    help="Start (2026-03-29, ISO datetime, 2d); 'last': where the last export to the same "
    "target ended (first run: each installation's first data).",
)
@click.option(
    "--until",
    default=None,
    metavar="WHEN",
    help="End, exclusive. Default: today's local midnight (whole days only).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "parquet"]),
    default="csv",
    show_default=True,
    help="CSV as the dashboard writes it, or Parquet (zstd).",
)
@click.option(
    "--resolution",
    type=click.Choice(["8s", "1m", "15m", "1h", "1d"]),
    default="8s",
    show_default=True,
    help="8s: stored power; coarser: the rollups (energy, mean power, coverage). One file "
    "per installation and day, per month from 15m.",
)
@click.option("--raw", is_flag=True, help="Each sensor's 8-s power instead of the installation's.")
@click.option(
    "--out",
    default=None,
    metavar="DIR",
    help="Folder of the files and manifest.json (setting export_folder, default vde-export).",
)
@click.option(
    "--to",
    default=None,
    metavar="sftp://user@host:port/path",
    help="Also push the files there (password or key: settings sftp_password / sftp_key).",
)
@db_option
@log_options
def export(
    installations: str | None,
    since: str,
    until: str | None,
    fmt: str,
    resolution: str,
    raw: bool,
    out: str | None,
    to: str | None,
    db_url: str | None,
) -> None:
    """Export stored power to CSV or Parquet files, one per installation and period.

    Every file has UTC and local time columns, coverage and estimated flags; manifest.json
    lists each file's rows, sha256 and configuration versions. Re-running never sends a
    row twice: --since last resumes where the last export to the same folder or server
    ended. See docs/data-exchange.md for the columns.
    """
    from pathlib import Path

    from vde.export.job import run_job
    from vde.storage import open_store
    from vde.timeutil import parse_instant

    settings = settings_from(db_url=db_url)
    try:
        start = None if since.strip().lower() == "last" else parse_instant(since)
        end = parse_instant(until) if until else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    ids = [i.strip() for i in installations.split(",") if i.strip()] if installations else None
    store = open_store(settings.database)
    try:
        store.create_schema()
        job = run_job(
            store,
            settings,
            installations=ids,
            since=start,
            until=end,
            fmt=fmt,
            resolution=resolution,
            raw=raw,
            out=Path(out) if out else None,
            to=to,
        )
    finally:
        store.close()
    res = job.export
    click.echo(f"exported {len(res.files)} file(s), {res.rows:,} rows to {res.folder}/")
    if job.push is not None and to:
        from vde.export.sftp import parse_sftp_url

        p = job.push
        click.echo(
            f"pushed {len(p.uploaded)} file(s) to {parse_sftp_url(to).url}"
            f"{'' if not p.skipped else f', {len(p.skipped)} already there'}"
            f"{'' if not p.resumed_bytes else f', resumed {p.resumed_bytes:,} bytes'}"
        )
