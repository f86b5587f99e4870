"""``vde serve``: the dashboard (and, optionally, periodic sync and alerts) in one process."""

from __future__ import annotations

import click

from vde.cli.common import db_option, log_options, settings_from


@click.command()
@click.option(
    "--host", default=None, help="Address to listen on (setting host, default 127.0.0.1)."
)
@click.option(
    "--port", type=int, default=None, help="Port to listen on (setting port, default 8000)."
)
@db_option
@click.option(
    "--sync-every", default=None, metavar="DURATION", help="Also run a sync this often, e.g. 5m."
)
@click.option(
    "--alerts-at",
    default=None,
    metavar="HH:MM",
    help="Also run the alerts daily at this local time.",
)
@click.option(
    "--export-at",
    default=None,
    metavar="HH:MM",
    help="Also export what is new daily at this local time (settings export_*).",
)
@click.option(
    "--forwarded-allow-ips",
    default="127.0.0.1",
    show_default=True,
    help="Proxies whose X-Forwarded-Proto/-For are trusted (HTTPS detection for Secure cookies).",
)
@log_options
def serve(
    host: str | None,
    port: int | None,
    db_url: str | None,
    sync_every: str | None,
    alerts_at: str | None,
    export_at: str | None,
    forwarded_allow_ips: str,
) -> None:
    """Serve the members' dashboard and its JSON API (OpenAPI at /openapi.json).

    With --sync-every, the first sync runs at start, then on schedule; each run prints one
    status line.
    """
    import uvicorn

    from vde.storage import open_store
    from vde.web.app import create_app

    settings = settings_from(
        host=host,
        port=port,
        db_url=db_url,
        sync_every=sync_every,
        alerts_at=alerts_at,
        export_at=export_at,
    )
    store = open_store(settings.database)
    try:
        store.create_schema()
        app = create_app(store, settings)
        click.echo(
            f"vde dashboard on http://{settings.host}:{settings.port}/ ({store.url})", err=True
        )
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            proxy_headers=True,
            forwarded_allow_ips=forwarded_allow_ips,
            log_level="warning",
            # open live (SSE) connections must not hold a shutdown forever
            timeout_graceful_shutdown=5,
        )
    finally:
        store.close()
