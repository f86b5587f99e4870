"""Configuration import: workbook -> new configuration version, access list, captions.

All or nothing: the workbook is fully validated first and nothing is written when it has
an error (``ConfigWorkbookError`` carries every problem); then the version, access list and
captions are saved by one ``Store.save_config`` call, so a write that fails half-way leaves
the previous configuration in place. A new version is saved only when
the content changed (``ConfigVersion.content_hash``); its id is the import time in UTC epoch
microseconds. Installations whose signs or sensor set changed are then recomputed from the
stored raw data by ``vde.sync.recompute.recompute``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from vde.errors import ConfigWorkbookError
from vde.logs import get_logger
from vde.models import ConfigVersion
from vde.processing.configdiff import ConfigDiff, diff_configs
from vde.processing.configlint import lint
from vde.processing.workbook import PARTS, ParsedWorkbook, Problem, read_workbook
from vde.storage.base import Store

log = get_logger(__name__)

#: The lease ``vde sync`` holds; an import (and its recompute) takes it too.
SYNC_LOCK = "sync"
#: Long enough for a recompute of whole installations; a dead holder on this host frees
#: it at once (see Store.try_lock).
IMPORT_LOCK_TTL_S = 6 * 3600


@dataclass
class ImportResult:
    """What an import did (or, with ``dry_run``, would do)."""

    dry_run: bool
    parts: tuple[str, ...]
    version_id: int | None = None  # the new version; None when unchanged or not imported
    previous_id: int | None = None
    unchanged: bool = False  # the sensors sheet equals the latest version
    rows: int = 0
    installations: int = 0
    sensors: int = 0
    access_rows: int = 0
    captions: int = 0
    diff: ConfigDiff | None = None
    warnings: list[Problem] = field(default_factory=list)
    recomputed: list[str] = field(default_factory=list)
    recompute_summary: dict | None = None


def new_version_id(store: Store) -> int:
    """Import time in UTC epoch µs, strictly after every stored version (ids stay ordered)."""
    now_us = time.time_ns() // 1000
    versions = store.config_versions()
    return max(now_us, versions[-1][0] + 1) if versions else now_us


def _with_data(store: Store, config: ConfigVersion, installation_ids: list[str]) -> list[str]:
    """The installations that have stored power or raw data of one of their sensors."""
    stored_power = set(store.power_installations())
    # one query for every sensor with raw data, not one per sensor (200,000-row workbooks)
    has_raw = set(store.raw_sensors())
    return [
        inst
        for inst in installation_ids
        if inst in stored_power or any(r.sensor_id in has_raw for r in config.rows_of(inst))
    ]


def import_workbook(
    store: Store,
    path: str | Path,
    *,
    only: str | None = None,
    dry_run: bool = False,
    recompute: bool = True,
    progress: bool = False,
    allow_empty_access: bool = False,
) -> ImportResult:
    """Validate a workbook and import it.

    Parameters
    ----------
    store : Store
        The database.
    path : str or Path
        The .xlsx workbook.
    only : {"sensors", "access", "captions"} or None
        Import only that part (only its sheet is read); None imports all three.
    dry_run : bool
        Validate and compute the diff, write nothing.
    recompute : bool
        Recompute the power of changed installations that have stored data.
    progress : bool
        Show the recompute progress bar.
    allow_empty_access : bool
        Accept an access sheet without rows (by default an error: nobody could log in).

    Raises
    ------
    ConfigWorkbookError
        When the workbook has any error; ``problems`` lists every one. Nothing is written.
    LockedError
        When a sync (or another import) is running; nothing is written.
    """
    parts = (only,) if only else tuple(PARTS)
    if only is not None and only not in PARTS:
        raise ValueError(f"only must be one of {', '.join(PARTS)}")
    parsed = read_workbook(path, parts, allow_empty_access=allow_empty_access)
    if parsed.errors:
        log.warning("config_import_rejected", file=Path(path).name, errors=len(parsed.errors))
        raise ConfigWorkbookError(
            f"{Path(path).name}: {len(parsed.errors)} error(s), nothing imported",
            parsed.errors,
        )
    if dry_run:
        return _plan(store, parsed, parts, dry_run=True)[0]
    if store.schema_version() is None:
        store.create_schema()  # importing the configuration is how a new database starts
    # Writes and recompute hold the sync lock: a sync running meanwhile would write power
    # computed with the version it loaded at its start, after our recompute.
    with store.lock(SYNC_LOCK, IMPORT_LOCK_TTL_S):
        result, new = _plan(store, parsed, parts, dry_run=False)
        _write(store, parsed, result, new)
        if only is None:  # the optional SharingKeys sheet (vde.sync.sharing)
            from vde.sync.sharing import import_keys

            import_keys(store, path)
        # Also on a first import: raw data may already be stored (e.g. migrated).
        if new is not None and result.diff is not None and recompute:
            targets = _with_data(store, new, result.diff.recompute_installations)
            if targets:
                result.recompute_summary = run_recompute(store, new, targets, progress=progress)
                result.recomputed = targets
    return result


def _plan(
    store: Store, parsed: ParsedWorkbook, parts: tuple[str, ...], *, dry_run: bool
) -> tuple[ImportResult, ConfigVersion | None]:
    """What importing ``parsed`` changes: the result so far and the new version, if any."""
    result = ImportResult(dry_run=dry_run, parts=parts, warnings=parsed.warnings)
    result.access_rows = len(parsed.access)
    result.captions = len(parsed.captions)
    if "sensors" not in parts:
        return result, None
    # a database without schema yet (dry run before `vde db create`) has no version
    has_schema = store.schema_version() is not None
    previous = store.load_config() if has_schema else None
    result.previous_id = previous.version_id if previous else None
    candidate = ConfigVersion(version_id=0, rows=tuple(parsed.rows))
    result.warnings = [*result.warnings, *lint(candidate.rows)]  # wiring: imported anyway
    result.rows = len(candidate.rows)
    result.installations = len(candidate.installations())
    result.sensors = len(candidate.sensors())
    if previous is not None and previous.content_hash() == candidate.content_hash():
        result.unchanged = True
        return result, None
    vid = new_version_id(store) if has_schema else time.time_ns() // 1000
    new = ConfigVersion(version_id=vid, rows=candidate.rows)
    result.diff = diff_configs(previous, new)
    if not dry_run:
        result.version_id = vid
    return result, new


def _write(
    store: Store, parsed: ParsedWorkbook, result: ImportResult, new: ConfigVersion | None
) -> None:
    # Validation passed: from here on only storage errors can stop the import, and they
    # leave the previous configuration whole (one save_config call).
    store.save_config(
        new,
        parsed.access if "access" in result.parts else None,
        parsed.captions if "captions" in result.parts else None,
    )
    if new is not None:
        log.info(
            "config_version_saved",
            version_id=new.version_id,
            rows=result.rows,
            installations=result.installations,
            sensors=result.sensors,
        )
    if "access" in result.parts:
        log.info("config_access_replaced", rows=result.access_rows)
    if "captions" in result.parts:
        log.info("config_captions_replaced", captions=result.captions)


def run_recompute(
    store: Store,
    config: ConfigVersion,
    installation_ids: list[str] | None,
    start: int | None = None,
    end: int | None = None,
    *,
    progress: bool = False,
) -> dict:
    """Recompute installations' power and rollups from stored raw data under ``config``."""
    # Imported here: the recompute engine is heavier and only needed when something changed.
    from vde.sync.recompute import recompute

    log.info("config_recompute", installations=installation_ids, start=start, end=end)
    return recompute(store, config, installation_ids, start, end, progress=progress)
