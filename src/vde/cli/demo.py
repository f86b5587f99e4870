"""``vde demo``: the whole system on this machine, with a simulated community."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option(
    "--folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("vde-demo"),
    show_default=True,
    help="Where the demo keeps its database, workbook and logins; reused by the next run.",
)
@click.option(
    "--cassandra",
    "cassandra_url",
    default=None,
    metavar="URL",
    help="Run on Cassandra (cassandra://host:9042/keyspace) instead of the folder's SQLite file.",
)
@click.option(
    "--days", type=click.IntRange(1, 30), default=7, show_default=True, help="Days to backfill."
)
@click.option(
    "--homes",
    type=click.IntRange(2, 60),
    default=12,
    show_default=True,
    help="Homes in the fleet (first run only).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Dashboard address.")
@click.option("--port", type=int, default=8000, show_default=True, help="Dashboard port.")
@click.option(
    "--sync-every",
    type=click.IntRange(5, 3600),
    default=30,
    show_default=True,
    help="Seconds between the dashboard's background syncs.",
)
@click.option("--no-serve", is_flag=True, help="Set up and sync, then exit (no dashboard).")
@click.option(
    "--logins",
    "show_logins",
    is_flag=True,
    help="Print the demo's logins and passwords, then exit.",
)
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where the log goes (default: vde-demo.log in the demo folder).",
)
@click.option("-v", "--verbose", is_flag=True, help="Every log line on the terminal as well.")
def demo(
    folder: Path,
    cassandra_url: str | None,
    days: int,
    homes: int,
    host: str,
    port: int,
    sync_every: int,
    no_serve: bool,
    show_logins: bool,
    log_file: Path | None,
    verbose: bool,
) -> None:
    """Generate a demo community, sync it from the simulator and serve the dashboard.

    Ctrl-C stops everything; running it again reuses the data and syncs only what is new.
    The terminal shows what the demo does, one status line per background sync and
    warnings; the whole log goes to the demo folder's vde-demo.log.
    """
    import sys

    from vde import logs
    from vde.demo import LOG_FILE, format_logins, prepare, print_alerts, read_logins

    echo = lambda text: click.echo(text)  # noqa: E731
    if show_logins:
        known = read_logins(folder)
        if not known:
            raise click.ClickException(f"no demo in {folder} yet (run: vde demo)")
        for line in format_logins(known):
            echo(line)
        return
    log_path = log_file or folder / LOG_FILE
    logs.configure(log_file=log_path, verbose=verbose, keep=True)
    echo(f"vde demo: a simulated energy community on this machine (log: {log_path})")
    progress = sys.stderr.isatty()
    with prepare(
        folder,
        database=cassandra_url,
        days=days,
        homes=homes,
        port=port,
        host=host,
        sync_every=sync_every,
        progress=progress,
        echo=echo,
    ) as (env, store):
        s = env.sync_summary
        echo(
            f"    synced     {s.get('sensors_ok', '?')} sensors ok, "
            f"{s.get('sensors_failed', 0)} failed, {s.get('raw_rows', 0)} raw rows, "
            f"{s.get('power_rows', 0)} installation rows in {s.get('elapsed_s', 0):.1f} s"
        )
        echo("\n--- alerts for yesterday (dry run: printed, not emailed) ---")
        print_alerts(store, env.settings, echo)
        if no_serve:
            return
        import uvicorn

        from vde.web.app import create_app

        app = create_app(store, env.settings)
        echo("\nvde demo is running. Open the dashboard and sign in with a demo login:")
        echo(f"  URL            http://{host}:{port}/")
        for line in format_logins(env.logins):
            echo(line)
        again = "vde demo --logins" + (f" --folder {folder}" if folder != Path("vde-demo") else "")
        echo(f"  (kept in {env.folder / 'demo-logins.txt'}; `{again}` prints them again)")
        echo(f"A sync runs every {sync_every} s in the background; each prints one line below.")
        echo("Press Ctrl-C to stop.")
        uvicorn.run(app, host=host, port=port, log_level="warning")
        echo("demo stopped")
