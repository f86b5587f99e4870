"""``vde sharing``: energy sharing in a community (what-if, runs, indicators, statements, keys)."""

from __future__ import annotations

import json
from datetime import date

import click

from vde.cli.common import db_option, settings_from

_WINDOW = [
    click.option(
        "--since",
        default="30d",
        show_default=True,
        metavar="WHEN",
        help="Start (2026-01-01 local midnight, ISO datetime, or 30d ago).",
    ),
    click.option("--until", default=None, metavar="WHEN", help="End, exclusive (default: now)."),
]


def _window(fn):
    for opt in reversed(_WINDOW):
        fn = opt(fn)
    return fn


def _bounds(since: str, until: str | None) -> tuple[int, int]:
    from vde.processing.sharing import QUARTER_S
    from vde.timeutil import parse_instant

    try:
        start = parse_instant(since)
        end = parse_instant(until) if until else parse_instant("0s")
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    start -= start % QUARTER_S
    end -= end % QUARTER_S
    if end <= start:
        raise click.BadParameter("--until must be after --since (a whole quarter-hour at least)")
    return start, end


community_option = click.option(
    "--community", required=True, metavar="GROUP", help="The community: a group id (e.g. CDBZ01)."
)


@click.group()
def sharing() -> None:
    """Energy sharing: quarter-hour collective self-consumption with sharing keys."""


@sharing.command()
@community_option
@click.option(
    "--keys",
    default="fixed,prorata,hybrid",
    show_default=True,
    help="Keys to compare: fixed, fixed-noredistribute, prorata, hybrid, priority, configured.",
)
@_window
@click.option("--refresh", is_flag=True, help="Recompute every quarter balance from power.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@db_option
def simulate(
    community: str,
    keys: str,
    since: str,
    until: str | None,
    refresh: bool,
    as_json: bool,
    db_url: str | None,
) -> None:
    """Compare sharing keys on the community's history (stores quarter balances only)."""
    from vde.storage import open_store
    from vde.sync import sharing as sh

    names = [k.strip() for k in keys.split(",") if k.strip()]
    if not names:
        raise click.BadParameter("give at least one key", param_hint="--keys")
    start, end = _bounds(since, until)
    settings = settings_from(db_url=db_url)
    with open_store(settings.database) as store:
        sim = sh.simulate(store, settings, community, names, start, end, refresh=refresh)
    if as_json:
        click.echo(json.dumps(sim.to_json(), indent=2))
        return
    click.echo(_simulation_table(sim.to_json()))


def _simulation_table(data: dict) -> str:
    keys = data["keys"]
    head = f"{'member':<10} {'offtake':>9} {'inject':>9}"
    for k in keys:
        head += f" | {k['key'][:12]:>12} kWh {'€':>7}"
    lines = [
        f"community {data['community']}: {len(data['members'])} members (kWh received, € saved)",
        head,
    ]
    for j, m in enumerate(data["members"]):
        first = keys[0]["members"][j]
        row = f"{m:<10} {first['offtake_kwh']:>9.1f} {first['injection_kwh']:>9.1f}"
        for k in keys:
            r = k["members"][j]
            row += f" | {r['received_kwh']:>16.1f} {r['saved_eur']:>7.2f}"
        lines.append(row)
    tot = f"{'total':<10} {keys[0]['totals']['offtake_kwh']:>9.1f} {keys[0]['totals']['injection_kwh']:>9.1f}"
    for k in keys:
        tot += f" | {k['totals']['shared_kwh']:>16.1f} {k['totals']['saved_eur']:>7.2f}"
    lines.append(tot)
    lines.append("")
    for k in keys:
        t, f = k["totals"], k["fairness"]
        lines.append(
            f"{k['key']}: collective self-consumption {_pct(t['collective_self_consumption'])}, "
            f"self-sufficiency {_pct(t['self_sufficiency'])}, fairness spread "
            f"{_eur(f['spread_eur_per_kwh'])} €/kWh (std {_eur(f['std_eur_per_kwh'])})"
            + (f"; {k['note']}" if k["note"] else "")
        )
    flagged = sum(r["flagged_quarters"] for r in keys[0]["members"])
    if flagged:
        lines.append(f"{flagged} member-quarter(s) computed on incomplete data (coverage < 100 %)")
    return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def _eur(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


@sharing.command("run")
@community_option
@_window
@click.option("--refresh", is_flag=True, help="Recompute every quarter balance from power.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@db_option
def run_cmd(
    community: str, since: str, until: str | None, refresh: bool, as_json: bool, db_url: str | None
) -> None:
    """Share the window with the community's configured dated keys and store the results."""
    from vde.storage import open_store
    from vde.sync import sharing as sh

    start, end = _bounds(since, until)
    settings = settings_from(db_url=db_url)
    with open_store(settings.database) as store:
        report = sh.run(store, settings, community, start, end, refresh=refresh)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        click.echo(
            f"{community}: {report.quarters} quarter-hours x {report.members} members shared "
            f"with {', '.join(report.keys)}: {report.shared_kwh:.1f} kWh shared; stored"
        )


@sharing.command()
@community_option
@click.option(
    "--period", type=click.Choice(["day", "month", "year"]), default="month", show_default=True
)
@_window
@click.option("--json", "as_json", is_flag=True, help="Print the indicators as JSON.")
@db_option
def report(
    community: str, period: str, since: str, until: str | None, as_json: bool, db_url: str | None
) -> None:
    """Indicators of the stored run per local day, month or year."""
    from vde.storage import open_store
    from vde.sync import sharing as sh
    from vde.sync.sharing_statements import indicators_json

    start, end = _bounds(since, until)
    settings = settings_from(db_url=db_url)
    with open_store(settings.database) as store:
        ind = sh.stored_indicators(store, settings, community, start, end, period)
    data = indicators_json(ind)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(
        f"{'period':<10} {'offtake':>9} {'inject':>9} {'shared':>9} {'CSC':>7} {'SS':>7} {'€':>8}"
    )
    for p in data["periods"]:
        click.echo(
            f"{p['period']:<10} {p['offtake_kwh']:>9.1f} {p['injection_kwh']:>9.1f} "
            f"{p['shared_kwh']:>9.1f} {_pct(p['collective_self_consumption']):>7} "
            f"{_pct(p['self_sufficiency']):>7} {p['saved_eur']:>8.2f}"
        )


@sharing.command()
@community_option
@click.option("--month", required=True, metavar="YYYY-MM", help="Local calendar month.")
@click.option("--dry-run", is_flag=True, help="Print what would be sent; send nothing.")
@click.option(
    "--out",
    default=None,
    metavar="FOLDER",
    help="Also write each printable statement there (STATEMENT-<member>-<month>.html).",
)
@db_option
def statements(
    community: str, month: str, dry_run: bool, out: str | None, db_url: str | None
) -> None:
    """Email each member the month's statement (through the alerts' SMTP settings)."""
    from vde.storage import open_store
    from vde.sync.sharing_statements import send_statements

    try:
        first = date.fromisoformat(month + "-01")
    except ValueError:
        raise click.BadParameter(f"{month!r} is not a month: use YYYY-MM") from None
    if not 1970 < first.year < 9999:
        raise click.BadParameter(f"{month!r}: give a month between 1971 and 9998")
    settings = settings_from(db_url=db_url)
    with open_store(settings.database) as store:
        result = send_statements(store, settings, community, first, dry_run=dry_run, folder=out)
    for line in result.lines:
        click.echo(line)
    result.raise_for_delivery()


@sharing.group()
def keys() -> None:
    """Sharing keys: import the workbook's SharingKeys sheet, show what is configured."""


@keys.command("import")
@click.argument("workbook", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Validate only; store nothing.")
@db_option
def keys_import(workbook: str, dry_run: bool, db_url: str | None) -> None:
    """Store the SharingKeys sheet of a workbook (every community it names)."""
    from vde.storage import open_store
    from vde.sync import sharing as sh

    settings = settings_from(db_url=db_url)
    with open_store(settings.database) as store:
        if not dry_run:
            store.create_schema(["sharing_keys"])
        done = sh.import_keys(store, workbook, dry_run=dry_run)
    if not done:
        click.echo("no SharingKeys sheet (or no rows): nothing imported")
    for c, n in sorted(done.items()):
        click.echo(f"{c}: {n} key version(s) {'valid' if dry_run else 'stored'}")


@keys.command("show")
@community_option
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@db_option
def keys_show(community: str, as_json: bool, db_url: str | None) -> None:
    """The dated key versions a run of the community uses."""
    from vde.processing.sharingkeys import key_to_json
    from vde.storage import open_store
    from vde.sync import sharing as sh
    from vde.timeutil import BRUSSELS

    settings = settings_from(db_url=db_url)
    with open_store(settings.database) as store:
        versions = sh.configured_keys(store, settings, community)
    data = [key_to_json(k) for k in versions]
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    if not data:
        click.echo(f"no key configured for {community}")
    from datetime import datetime

    for d in data:
        since = (
            datetime.fromtimestamp(d["valid_from"], BRUSSELS).date().isoformat()
            if d["valid_from"]
            else "the beginning"
        )
        detail = d["order"] or d["shares"] or ""
        click.echo(f"from {since}: {d['key']} {detail}")
