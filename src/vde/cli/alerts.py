"""``vde alerts``: check a day for missing data and wrong signs, email what is new.

Exit status: 0 when every alert was delivered or there was nothing to send (a dry run
always exits 0); 1 when alerts could not be delivered — the SMTP server refused or was
unreachable, or email is not configured (no smtp_host / recipients). Undelivered alerts
stay pending in the database and go out with the next run; their report is printed so
nothing is lost meanwhile.
"""

from __future__ import annotations

import json
from datetime import date

import click

from vde.cli.common import db_option, settings_from


def _day(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    from vde.timeutil import check_day

    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date: use YYYY-MM-DD") from None
    try:
        return check_day(day)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@click.option(
    "--mode",
    type=click.Choice(["missing", "sign", "all"]),
    default="all",
    show_default=True,
    help="missing: share of the day without power; sign: wrong signs and night production.",
)
@click.option(
    "--day",
    callback=_day,
    default=None,
    metavar="YYYY-MM-DD",
    help="Local day to check (default: yesterday in the configured time zone).",
)
@click.option("--dry-run", is_flag=True, help="Print the email instead of sending; store nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@db_option
def alerts(mode: str, day: date | None, dry_run: bool, as_json: bool, db_url: str | None) -> None:
    """Check a day of every installation and email the administrators what is new.

    An alert already sent is not sent again unless it changed or alert_repeat has
    passed. When the email cannot be delivered (SMTP server down or refusing, or
    smtp_host / smtp_recipients unset) the report is printed, the alerts stay pending
    for the next run and the command exits with status 1. Nothing to send exits 0,
    even without email settings.
    """
    from vde.alerts.mail import preview
    from vde.alerts.report import text_report
    from vde.storage import open_store

    settings = settings_from(db_url=db_url)
    with open_store(settings.database) as store:
        from vde.alerts.run import run_alerts

        result = run_alerts(store, settings, mode=mode, day=day, dry_run=dry_run)  # type: ignore[arg-type]
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    elif result.to_send and result.message is not None and (dry_run or not result.sent):
        click.echo(preview(result.message) if dry_run else text_report(result.to_send), nl=False)
    if not as_json:
        click.echo(_status(result, settings), err=True)
    result.raise_for_delivery()


def _status(result, settings) -> str:  # result: AlertRunResult
    checked = f"{len(result.checked)} installation(s) checked for {result.day} ({result.mode})"
    quiet = f"; {len(result.suppressed)} already sent, not due again" if result.suppressed else ""
    if result.resolved:
        quiet += f"; {len(result.resolved)} resolved (no longer found)"
    if not result.to_send:
        return f"nothing to send: {checked}{quiet}"
    n = len(result.to_send)
    if result.dry_run:
        return f"dry run: {n} alert(s) would be sent; nothing sent or stored. {checked}{quiet}"
    if result.sent:
        return (
            f"sent {n} alert(s) to {len(settings.smtp_recipients)} recipient(s) via "
            f"{settings.smtp_host}:{settings.smtp_port}. {checked}{quiet}"
        )
    return f"{n} alert(s) NOT sent (kept pending). {checked}{quiet}"
