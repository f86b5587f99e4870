"""``vde config``: import, list, show, diff the configuration workbook; ``vde recompute``."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from vde.cli.common import db_option, with_store
from vde.errors import ConfigWorkbookError, NotFoundError
from vde.logs import mask
from vde.models import NO_START_TS, ConfigVersion, SensorRow
from vde.timeutil import version_local

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def version_iso(version_id: int) -> str:
    """A version id [UTC epoch µs] as ISO-8601 UTC with microseconds."""
    return (_EPOCH + timedelta(microseconds=version_id)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _resolve(store, text: str | None) -> int:  # store: vde.storage.Store
    """A version id from 'latest', 'previous', an integer id or its ISO form."""
    ids = [vid for vid, _ in store.config_versions()] if store.schema_version() else []
    if not ids:
        raise NotFoundError("no configuration imported yet (run: vde config import PATH)")
    if text is None or text == "latest":
        return ids[-1]
    if text == "previous":
        if len(ids) < 2:
            raise NotFoundError("there is only one configuration version")
        return ids[-2]
    for vid in ids:
        if text in (str(vid), version_iso(vid), version_local(vid)):
            return vid
    raise NotFoundError(f"no configuration version {text!r} (see: vde config list)")


def _row_dict(r: SensorRow) -> dict:
    from vde.timeutil import iso_utc

    fields = r.public_fields()
    return {
        **fields,
        "token": mask(r.token),  # secret: only its last characters
        # a blank StartDate: the sensor counts for the installation from its first data
        "start": iso_utc(r.start_ts) if r.start_ts != NO_START_TS else None,
    }


@click.group()
def config() -> None:
    """The configuration workbook: import it, list versions, show and compare them."""


@config.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--only",
    type=click.Choice(["sensors", "access", "captions"]),
    default=None,
    help="Import only this part (sheet) of the workbook.",
)
@click.option("--dry-run", is_flag=True, help="Validate and show what would change; write nothing.")
@click.option("--no-recompute", is_flag=True, help="Do not recompute changed installations now.")
@click.option(
    "--allow-empty-access",
    is_flag=True,
    help="Accept an access sheet without rows (every member then loses access).",
)
@db_option
@with_store
def import_cmd(
    path: Path,
    only: str | None,
    dry_run: bool,
    no_recompute: bool,
    allow_empty_access: bool,
    store,
) -> None:
    """Validate the workbook at PATH and import it (all or nothing)."""
    from vde.processing.configdiff import format_diff
    from vde.sync.importer import import_workbook

    try:
        res = import_workbook(
            store,
            path,
            only=only,
            dry_run=dry_run,
            recompute=not no_recompute,
            progress=True,
            allow_empty_access=allow_empty_access,
        )
    except ConfigWorkbookError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    for w in res.warnings:
        click.echo(str(w), err=True)
    prefix = "dry run, nothing written: " if dry_run else ""
    if "sensors" in res.parts:
        if res.unchanged:
            click.echo(f"{prefix}sensors unchanged (same content as version {res.previous_id})")
        else:
            what = "would create" if dry_run else "created"
            vid = f" {res.version_id} ({version_local(res.version_id)})" if res.version_id else ""
            click.echo(
                f"{prefix}{what} configuration version{vid}: {res.rows} rows, "
                f"{res.installations} installations, {res.sensors} sensors"
            )
            if res.diff is not None and res.previous_id is not None:
                for line in format_diff(res.diff, version_local)[1:]:
                    click.echo(f"  {line}")
    if "access" in res.parts:
        click.echo(f"{prefix}access list: {res.access_rows} rows")
    if "captions" in res.parts:
        click.echo(f"{prefix}captions: {res.captions}")
    if res.recomputed:
        click.echo(f"recomputed: {', '.join(res.recomputed)}")
    elif no_recompute and not dry_run and res.diff and res.diff.recompute_installations:
        ids = ",".join(res.diff.recompute_installations)
        click.echo(f"not recomputed; when ready run: vde recompute --installations {ids}")


@config.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@db_option
@with_store
def list_cmd(as_json: bool, store) -> None:
    """List configuration versions, oldest first; the last one is current."""
    versions = store.config_versions() if store.schema_version() is not None else []
    out = []
    for i, (vid, content_hash) in enumerate(versions):
        v = store.load_config(vid)
        rows = v.rows if v else ()
        out.append(
            {
                "version_id": vid,
                "version": version_iso(vid),
                "imported_local": version_local(vid),
                "rows": len(rows),
                "installations": len({r.installation_id for r in rows}),
                "sensors": len({r.sensor_id for r in rows}),
                "content_hash": content_hash,
                "current": i == len(versions) - 1,
                # installations with a blank StartDate on some row (no start limit)
                "no_start_date": sorted(
                    {r.installation_id for r in rows if r.start_ts == NO_START_TS}
                ),
            }
        )
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    if not out:
        click.echo("no configuration imported yet (run: vde config import PATH)")
        return
    click.echo(
        f"{'version id':>16}  {'imported (Europe/Brussels)':27}  "
        f"{'rows':>5} {'inst':>5} {'sensors':>7}"
    )
    for v in out:
        mark = "  current" if v["current"] else ""
        if v["no_start_date"]:
            mark += f"  ({len(v['no_start_date'])} installation(s) with no start date)"
        click.echo(
            f"{v['version_id']:>16}  {v['imported_local']:27}  {v['rows']:>5} "
            f"{v['installations']:>5} {v['sensors']:>7}{mark}"
        )


@config.command("show")
@click.argument("version", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON (tokens masked).")
@db_option
@with_store
def show_cmd(version: str | None, as_json: bool, store) -> None:
    """Show a configuration version (default: latest), tokens masked.

    VERSION is a version id, its ISO time as in `vde config list`, 'latest' or 'previous'.
    """
    v: ConfigVersion | None = store.load_config(_resolve(store, version))
    assert v is not None  # _resolve returned a stored id
    rows = [_row_dict(r) for r in sorted(v.rows, key=lambda r: (r.installation_id, r.sensor_id))]
    if as_json:
        doc = {
            "version_id": v.version_id,
            "version": version_iso(v.version_id),
            "rows": rows,
            "access": [list(p) for p in sorted(store.access())],
            "captions": dict(sorted(store.captions().items())),
        }
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    click.echo(f"version {v.version_id} ({version_local(v.version_id)}): {len(rows)} rows")
    click.echo(
        f"{'installation':12} {'sensor':32} {'token':6} {'flm':12} {'function':16} "
        f"{'net':>3} {'prod':>4} {'cons':>4} {'ve':>3}  start"
    )
    for r in rows:
        click.echo(
            f"{r['installation_id']:12} {r['sensor_id']:32} {r['token']:6} {r['flm_id']:12} "
            f"{r['function'][:16]:16} {r['net']:>3} {r['prod']:>4} {r['cons']:>4} {r['ve']:>3}  "
            f"{r['start'] or 'no start date'}"
        )


@config.command("diff")
@click.argument("a", required=False)
@click.argument("b", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@db_option
@with_store
def diff_cmd(a: str | None, b: str | None, as_json: bool, store) -> None:
    """Compare versions A and B (default: previous vs latest; one argument: A vs latest)."""
    from vde.processing.configdiff import diff_configs, format_diff

    versions = store.config_versions() if store.schema_version() is not None else []
    if a is None and b is None and len(versions) == 1:
        # nothing to compare yet is a normal state, not an error
        only = versions[0][0]
        if as_json:
            click.echo(json.dumps({"versions": 1, "version_id": only, "changes": []}, indent=2))
        else:
            click.echo(
                f"only one configuration version ({only}, imported {version_local(only)}): "
                "nothing to compare yet"
            )
        return
    new_id = _resolve(store, b)
    old_id = _resolve(store, a if a is not None else "previous")
    d = diff_configs(store.load_config(old_id), store.load_config(new_id))
    if as_json:
        click.echo(json.dumps(d.to_dict(), indent=2))
        return
    for line in format_diff(d, version_local):
        click.echo(line)


@config.command("template")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
def template_cmd(path: Path, force: bool) -> None:
    """Write an example workbook (made-up ids and tokens) to PATH."""
    from vde.processing.template import example_config
    from vde.processing.workbook import write_workbook

    if path.exists() and not force:
        raise click.ClickException(f"{path} exists (use --force to overwrite)")
    rows, access, captions = example_config()
    write_workbook(path, rows, access, captions)
    click.echo(
        f"wrote {path}: {len(rows)} sensor rows, {len(access)} access rows, {len(captions)} captions"
    )


@click.command()
@click.option(
    "--installations",
    default=None,
    metavar="A,B",
    help="Only these installations (comma-separated).",
)
@click.option(
    "--since",
    default=None,
    metavar="WHEN",
    help="From this instant (2026-03-29, 2d, ...); default: the first stored data.",
)
@click.option(
    "--until",
    default=None,
    metavar="WHEN",
    help="Up to this instant (exclusive); default: past the last stored data.",
)
@click.option("--no-progress", is_flag=True, help="Do not show the progress bar.")
@db_option
@with_store
def recompute(
    installations: str | None, since: str | None, until: str | None, no_progress: bool, store
) -> None:
    """Recompute installations' power and rollups from stored raw data (latest configuration)."""
    from vde.sync.importer import IMPORT_LOCK_TTL_S, SYNC_LOCK, run_recompute
    from vde.timeutil import parse_instant

    config_version = store.load_config()
    if config_version is None:
        raise NotFoundError("no configuration imported yet (run: vde config import PATH)")
    ids = [p.strip() for p in installations.split(",") if p.strip()] if installations else None
    if ids:
        unknown = sorted(set(ids) - set(config_version.installations()))
        if unknown:
            raise click.BadParameter(
                f"not in the configuration: {', '.join(unknown)}", param_hint="--installations"
            )
    try:
        start = parse_instant(since) if since else None
        end = parse_instant(until) if until else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if start is not None and end is not None and end <= start:
        raise click.BadParameter("--until must be after --since", param_hint="--until")
    with store.lock(SYNC_LOCK, IMPORT_LOCK_TTL_S):  # never alongside a sync or an import
        summary = run_recompute(store, config_version, ids, start, end, progress=not no_progress)
    click.echo(json.dumps(summary, indent=2, default=str))
