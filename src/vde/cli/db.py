"""``vde db``: create the schema, show what a database holds, migrate to another backend."""

from __future__ import annotations

import sys

import click
import orjson

from vde.cli.common import db_option, settings_from, with_store
from vde.storage.base import TABLES


@click.group()
def db() -> None:
    """Create, inspect and migrate the vde database (SQLite or Cassandra)."""


@db.command()
@click.option(
    "--table",
    "tables",
    multiple=True,
    type=click.Choice(TABLES),
    help="Create only this table (repeatable). Default: every table.",
)
@db_option
@with_store
def create(tables: tuple[str, ...], store) -> None:
    """Create the tables that do not exist yet (safe to run again)."""
    store.create_schema(list(tables) or None)
    what = ", ".join(tables) if tables else f"all {len(TABLES)} tables"
    click.echo(f"schema ready on {store.url} ({what}; schema version {store.schema_version()})")


def _fmt_ts(ts: int | None) -> str:
    from vde.timeutil import iso_utc

    return "" if ts is None else iso_utc(int(ts))


@db.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@db_option
@with_store
def info(as_json: bool, store) -> None:
    """Backend, schema version, and per table: rows and time range (UTC)."""
    data = store.info()
    if as_json:
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    from rich.console import Console
    from rich.table import Table

    version = data["schema_version"]
    console = Console(soft_wrap=True)
    console.print(f"backend: {data['backend']}   url: {data['url']}", markup=False, highlight=False)
    console.print(
        "schema version: " + (str(version) if version is not None else "none (run: vde db create)"),
        markup=False,
        highlight=False,
    )
    if not data["tables"]:
        return
    table = Table("table", "rows", "first (UTC)", "last (UTC)", box=None, pad_edge=False)
    for name, t in data["tables"].items():
        table.add_row(name, f"{t['rows']:,}", _fmt_ts(t["min_ts"]), _fmt_ts(t["max_ts"]))
    console.print(table)


@db.command()
@click.option("--to", "to_url", required=True, metavar="URL", help="Target database URL.")
@click.option(
    "--chunk-days",
    type=click.IntRange(1, 366),
    default=7,
    show_default=True,
    help="Days of a time series copied (and checkpointed) at a time.",
)
@db_option
def migrate(to_url: str, chunk_days: int, db_url: str | None) -> None:
    """Copy everything from the current database (--db) to another one (--to).

    Resumable: interrupted, the same command continues where it stopped (checkpoints are
    kept in the target's meta table). Copying twice changes nothing.
    """
    from vde.storage import open_store
    from vde.storage.migrate import migrate as run

    settings = settings_from(db_url=db_url)
    source = open_store(settings.database)
    try:
        target = open_store(to_url)
    except BaseException:
        source.close()
        raise
    try:
        if source.url == target.url:
            raise click.ClickException(f"source and target are the same database ({source.url})")
        click.echo(f"migrating {source.url} -> {target.url}", err=True)
        if sys.stderr.isatty():
            report = _with_progress_bar(run, source, target, chunk_days)
        else:
            report = run(source, target, chunk_s=chunk_days * 86400, progress=_log_progress())
    finally:
        target.close()
        source.close()
    total = sum(report.rows.values())
    parts = ", ".join(f"{k} {v:,}" for k, v in report.rows.items() if v)
    click.echo(
        f"migrated {total:,} rows ({parts or 'nothing to copy'}); "
        f"{report.skipped_chunks} chunks already copied by an earlier run"
    )


def _log_progress():
    from vde.logs import get_logger

    log = get_logger("vde.cli.db")

    def progress(series: str, done: int, total: int, rows: int) -> None:
        log.info("migrate_progress", step=done, steps=total, series=series, rows=rows)

    return progress


def _with_progress_bar(run, source, target, chunk_days: int):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rows]:,} rows"),
        TimeRemainingColumn(),
        transient=False,
    ) as bar:
        task = bar.add_task("migrating", total=None, rows=0)
        copied = 0

        def progress(series: str, done: int, total: int, rows: int) -> None:
            nonlocal copied
            copied += rows
            bar.update(task, completed=done, total=total, description=series[:40], rows=copied)

        return run(source, target, chunk_s=chunk_days * 86400, progress=progress)
