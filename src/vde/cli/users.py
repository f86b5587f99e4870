"""``vde users``: passwords, one-time invitation links, administrators, the list of logins."""

from __future__ import annotations

import sys

import click

from vde.cli.common import db_option, settings_from, with_store
from vde.timeutil import iso_utc


def _check_login(login: str) -> None:
    """Refuse an empty or space-padded LOGIN (a typo, never a real login)."""
    if not login.strip() or login != login.strip():
        raise click.BadParameter(
            "empty or padded with spaces: give the login exactly", param_hint="LOGIN"
        )


@click.group()
def users() -> None:
    """Manage dashboard accounts (logins come from the workbook's access sheet)."""


@users.command("set-password")
@click.argument("login")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@db_option
@with_store
def set_password_cmd(login: str, password_stdin: bool, store) -> None:
    """Set LOGIN's password (asked twice unless --password-stdin).

    At least 12 characters, at most 1,024 bytes, not only spaces, not a common password."""
    from vde.accounts import known_login, set_password

    if not known_login(store, login):
        raise click.ClickException(f"unknown login {login!r} (not in the access list nor a user)")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        set_password(store, login, password)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"password set for {login}")


@users.command()
@click.argument("login")
@click.option(
    "--days",
    type=click.IntRange(1, 365),
    default=7,
    show_default=True,
    help="Days the link stays valid (1 to 365).",
)
@click.option(
    "--base-url",
    default=None,
    help="Dashboard URL in the link (default: setting public_url, then http://host:port).",
)
@db_option
def invite(login: str, days: int, base_url: str | None, db_url: str | None) -> None:
    """Print a one-time link with which LOGIN chooses a password."""
    from urllib.parse import urlencode

    from vde.accounts import create_invite, known_login
    from vde.storage import open_store

    _check_login(login)
    settings = settings_from(db_url=db_url)
    with open_store(settings.database) as store:
        if not known_login(store, login):
            raise click.ClickException(
                f"unknown login {login!r} (not in the access list nor a user)"
            )
        token, expires = create_invite(store, login, ttl_s=days * 86400)
    default_base = f"http://{settings.host}:{settings.port}"
    base = (base_url or settings.public_url or default_base).rstrip("/")
    click.echo(f"{base}/invite?{urlencode({'login': login, 'token': token})}")
    click.echo(f"valid until {iso_utc(expires)} (one use)", err=True)


@users.command()
@click.argument("login")
@click.option("--revoke", is_flag=True, help="Make LOGIN a member again.")
@click.option(
    "--create",
    is_flag=True,
    help="Create LOGIN when it is neither in the access list nor a user yet.",
)
@db_option
@with_store
def admin(login: str, revoke: bool, create: bool, store) -> None:
    """Make LOGIN an administrator (sees every installation and the admin page)."""
    from vde.accounts import known_login, set_role

    _check_login(login)
    if not create and not known_login(store, login):
        # a typo would otherwise create an administrator nobody meant
        raise click.ClickException(
            f"unknown login {login!r} (not in the access list nor a user); "
            "check the spelling, or pass --create to make a new administrator login"
        )

    set_role(store, login, "member" if revoke else "admin")
    click.echo(f"{login} is now {'a member' if revoke else 'an administrator'}")


@users.command("list")
@db_option
@with_store
def list_users(store) -> None:
    """Every login: role, whether a password is set, installations it may see."""
    from vde.web.admin import users_list

    rows = users_list(store)
    if not rows:
        click.echo("no logins (import the configuration workbook first)")
    for u in rows:
        pw = (
            "password"
            if u["has_password"]
            else ("invited" if u["invite_pending"] else "no password")
        )
        click.echo(f"{u['login']:<16} {u['role']:<7} {pw:<12} {', '.join(u['installations'])}")
