"""``vde db``: create the schema, show what a database holds, migrate to another backend."""

from __future__ import annotations

import shutil
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


@db.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a summary.")
@click.option(
    "--now", "now_text", default=None, hidden=True, metavar="WHEN", help="Treat this as now."
)
@db_option
def prune(as_json: bool, now_text: str | None, db_url: str | None) -> None:
    """Delete 8-s rows older than raw_retention / power_retention once rolled up.

    Rows go one UTC day at a time, and only where the 1-min rollups of every installation
    they feed reach past them; rollups are kept forever. A retention of 0 keeps a table.
    """
    from vde.storage import open_store
    from vde.sync.retention import prune as run_prune
    from vde.timeutil import now_ts, parse_instant

    settings = settings_from(db_url=db_url)
    try:
        now = parse_instant(now_text) if now_text else now_ts()
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if not settings.raw_retention and not settings.power_retention:
        click.echo("nothing to prune: raw_retention and power_retention are 0 (keep forever)")
        return
    store = open_store(settings.database)
    try:
        with store.lock("prune", 3600):
            rep = run_prune(
                store,
                store.load_config(),
                raw_retention=settings.raw_retention,
                power_retention=settings.power_retention,
                now_ts=now,
            )
    finally:
        store.close()
    if as_json:
        click.echo(orjson.dumps(rep.to_dict(), option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(
        f"pruned raw rows of {len(rep.raw)} sensors and power rows of {len(rep.power)}"
        f" installations; kept {len(rep.kept)} series that no 1-min rollup covers yet"
    )


@db.command()
@click.option("--homes", type=click.IntRange(1, 10_000_000), required=True, help="Homes.")
@click.option(
    "--years", type=click.FloatRange(0.01, 100), required=True, help="Years of data kept."
)
@click.option(
    "--sensors-per-home",
    type=click.FloatRange(0.1, 100),
    default=None,
    help="Default: as in the imported configuration (4 when there is none).",
)
@click.option(
    "--replication",
    type=click.IntRange(1, 9),
    default=3,
    show_default=True,
    help="Cassandra replication factor.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@db_option
def estimate(
    homes: int,
    years: float,
    sensors_per_home: float | None,
    replication: int,
    as_json: bool,
    db_url: str | None,
) -> None:
    """Disk each time-series table needs on SQLite and on Cassandra.

    SQLite bytes per row are measured now on a small generated sample (a scratch file);
    Cassandra's come from the row layout of its SSTable format (documented in
    vde.storage.estimate). raw_retention and power_retention cap the raw and power tables.
    """
    from vde.storage.estimate import estimate as run_estimate

    settings = settings_from(db_url=db_url)
    if sensors_per_home is None:
        sensors_per_home = _sensors_per_home(settings.database)
    rows = run_estimate(
        homes=homes,
        years=years,
        sensors_per_home=sensors_per_home,
        raw_retention_s=settings.raw_retention,
        power_retention_s=settings.power_retention,
        replication=replication,
    )
    if as_json:
        data = {
            "homes": homes,
            "years": years,
            "sensors_per_home": round(sensors_per_home, 2),
            "replication": replication,
            "tables": [r.to_dict() for r in rows],
            "total_sqlite_bytes": sum(r.sqlite_bytes for r in rows),
            "total_cassandra_bytes": sum(r.cassandra_bytes for r in rows),
        }
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(
        "table",
        "rows",
        "SQLite B/row (measured)",
        "SQLite",
        "Cassandra B/row (model)",
        f"Cassandra (RF {replication})",
        title=f"{homes:,} homes, {years:g} years, {sensors_per_home:.2f} sensors per home",
    )
    for r in rows:
        table.add_row(
            r.table,
            f"{r.rows:,}",
            f"{r.sqlite_bytes_per_row:.1f}",
            _size(r.sqlite_bytes),
            f"{r.cassandra_bytes_per_row:.0f}",
            _size(r.cassandra_bytes),
        )
    table.add_section()
    table.add_row(
        "total",
        f"{sum(r.rows for r in rows):,}",
        "",
        _size(sum(r.sqlite_bytes for r in rows)),
        "",
        _size(sum(r.cassandra_bytes for r in rows)),
    )
    Console(width=max(100, shutil.get_terminal_size().columns)).print(table)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _sensors_per_home(url: str) -> float:
    """Sensors per home in the imported configuration; 4 without a database or one."""
    from vde.errors import VdeError
    from vde.storage import open_store

    try:
        with open_store(url) as store:
            cfg = store.load_config() if store.schema_version() is not None else None
    except VdeError as exc:
        click.echo(f"(configuration not read: {exc}; assuming 4 sensors per home)", err=True)
        return 4.0
    if cfg is None:
        return 4.0
    # a sensor's home is the smallest installation it belongs to (groups hold many homes)
    size = {inst: len(cfg.rows_of(inst)) for inst in cfg.installations()}
    homes = {
        min((r.installation_id for r in cfg.rows if r.sensor_id == sid), key=size.get)
        for sid in cfg.sensors()
    }
    return len(cfg.sensors()) / max(1, len(homes))
