"""``vde tokens``: researchers' read-only API tokens (create, list, revoke)."""

from __future__ import annotations

import json

import click

from vde.cli.common import db_option, with_store
from vde.timeutil import iso_utc


@click.group()
def tokens() -> None:
    """Read-only API tokens for researchers: scoped to installations, revocable.

    A token opens the JSON and CSV endpoints (GET /api/...) with
    `Authorization: Bearer <token>`; see docs/data-exchange.md.
    """


@tokens.command("create")
@click.option("--owner", required=True, help="Who receives it (name or email address).")
@click.option(
    "--installations",
    required=True,
    metavar="A,B",
    help="Installations it opens (comma-separated).",
)
@click.option(
    "--expires",
    default=None,
    metavar="DURATION",
    help="Valid this long, e.g. 90d (default: until revoked).",
)
@db_option
@with_store
def create_cmd(owner: str, installations: str, expires: str | None, store) -> None:
    """Create a token and print it once (only its sha256 is kept)."""
    import time

    from vde.export.tokens import create_token
    from vde.timeutil import parse_duration

    try:
        expires_ts = int(time.time()) + parse_duration(expires) if expires else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--expires") from None
    store.create_schema(["api_tokens"])
    token, record = create_token(store, owner, installations.split(","), expires_ts=expires_ts)
    click.echo(f"token {record.token_id} for {record.owner}: {', '.join(record.installations)}")
    click.echo("give it to its owner now; it cannot be shown again:", err=True)
    click.echo(token)


@tokens.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
@db_option
@with_store
def list_cmd(as_json: bool, store) -> None:
    """Every token: id, owner, installations, created, expires, revoked (never the token)."""
    rows = [
        {
            "id": t.token_id,
            "owner": t.owner,
            "installations": list(t.installations),
            "created": iso_utc(t.created_ts),
            "expires": iso_utc(t.expires_ts) if t.expires_ts else None,
            "revoked": iso_utc(t.revoked_ts) if t.revoked_ts else None,
        }
        for t in store.api_tokens()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    if not rows:
        click.echo("no tokens (create one with `vde tokens create`)")
    for r in rows:
        state = (
            f"revoked {r['revoked']}"
            if r["revoked"]
            else (f"expires {r['expires']}" if r["expires"] else "active")
        )
        click.echo(f"{r['id']}  {r['owner']}  {','.join(r['installations'])}  {state}")


@tokens.command("revoke")
@click.argument("token_id")
@db_option
@with_store
def revoke_cmd(token_id: str, store) -> None:
    """Revoke token TOKEN_ID (from `vde tokens list`): it stops working at once."""
    from vde.export.tokens import revoke_token

    record = revoke_token(store, token_id)
    click.echo(f"token {record.token_id} of {record.owner} revoked")
