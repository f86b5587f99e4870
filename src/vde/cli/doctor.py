"""``vde doctor``: a pass/fail list of what vde needs to run."""

from __future__ import annotations

import json
import sys

import click

from vde.cli.common import db_option


@click.command()
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def doctor(db_url: str | None, as_json: bool) -> None:
    """Check settings, database, Flukso API and SMTP (no data written, no mail sent)."""
    from vde.doctor import FAIL, run_checks

    checks = run_checks({"database": db_url})
    if as_json:
        click.echo(json.dumps([c.__dict__ for c in checks], indent=2))
    else:
        marks = {"pass": "PASS", "warn": "WARN", "fail": "FAIL"}
        for c in checks:
            click.echo(f"{marks[c.status]:4}  {c.name:11} {c.message}")
    if any(c.status == FAIL for c in checks):
        sys.exit(1)
