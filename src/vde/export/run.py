"""Run an export: plan the files, write them, keep the manifest and the marks.

A *target* names where files go (``file:///abs/folder`` or ``sftp://user@host:port/path``,
never a password) plus the variant (format, resolution, kind). The store keeps, per target
and installation, the instant up to which data went there; ``--since last`` resumes from
it. An export whose window starts at or before the mark moves the mark to its end, so
after a first explicit window, daily ``--since last`` runs continue without a gap and
never send a row twice. Data that arrives later for an instant already exported is not
sent again by ``--since last`` (re-export that window with an explicit ``--since``: the
files get the same names and replace the earlier ones).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from vde.errors import ExportError
from vde.export import tables
from vde.export.formats import sha256_of, write_table
from vde.export.spec import ExportSpec, FilePeriod, file_periods, resolution_name
from vde.logs import get_logger
from vde.storage.base import Store
from vde.timeutil import BRUSSELS, iso_utc, local_day_bounds

log = get_logger(__name__)

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "vde-export/1"


@dataclass
class FileEntry:
    """One written file, as listed in ``manifest.json``."""

    file: str
    installation_id: str
    kind: str  # "power" | "raw"
    resolution: str
    format: str
    start: str  # UTC ISO-8601, inclusive
    end: str  # UTC ISO-8601, exclusive
    rows: int
    bytes: int
    sha256: str
    config_versions: list[int]  # configuration versions of the rows (power / raw at 8 s)


@dataclass
class ExportResult:
    folder: Path
    target: str
    files: list[FileEntry] = field(default_factory=list)
    #: installation -> new mark [UTC epoch s]; committed by ``commit_marks``
    marks: dict[str, int] = field(default_factory=dict)
    config_version: int | None = None

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)


def folder_target(folder: Path) -> str:
    return "file://" + str(Path(folder).resolve())


def target_key(target: str, spec_variant: str) -> str:
    return f"{target}#{spec_variant}"


def start_of_today(now: int | None = None) -> int:
    """Local midnight that starts today [UTC epoch s]: the default end of ``--since last``."""
    now = int(time.time()) if now is None else now
    return local_day_bounds(datetime.fromtimestamp(now, BRUSSELS).date())[0]


def known_installations(store: Store) -> list[str]:
    cfg = store.load_config()
    ids = set(cfg.installations()) if cfg else set()
    return sorted(ids | set(store.power_installations()))


def check_installations(store: Store, wanted: list[str] | None) -> list[str]:
    known = known_installations(store)
    if not wanted:
        return known
    unknown = [i for i in wanted if i not in known]
    if unknown:
        raise ExportError(
            f"unknown installation(s) {', '.join(unknown)}: not in the configuration and no "
            "power stored; see `vde config show`"
        )
    return list(dict.fromkeys(wanted))


def first_data(store: Store, installation_id: str, raw: bool) -> int | None:
    """Local midnight before the installation's first data, None when it has none."""
    if raw:
        cfg = store.load_config()
        firsts = [
            b[0]
            for r in (cfg.rows_of(installation_id) if cfg else [])
            if (b := store.raw_bounds(r.sensor_id)) is not None
        ]
        first = min(firsts) if firsts else None
    else:
        b = store.power_bounds(installation_id)
        first = b[0] if b else None
    if first is None:
        return None
    return local_day_bounds(datetime.fromtimestamp(first, BRUSSELS).date())[0]


def plan_starts(
    store: Store,
    installations: list[str],
    key: str,
    since: int | None,
    raw: bool,
) -> dict[str, int]:
    """Start of each installation's window: ``since``, else its mark, else its first data."""
    if since is not None:
        return dict.fromkeys(installations, since)
    marks = store.export_marks(key)
    out = {}
    for inst in installations:
        start = marks.get(inst)
        if start is None:
            start = first_data(store, inst, raw)
        if start is not None:
            out[inst] = start
    return out


def _table(store: Store, spec: ExportSpec, cfg, inst: str, p: FilePeriod):
    if spec.raw:
        return tables.raw_table(store, cfg, inst, p.start, p.end)
    if spec.resolution_s == 8:
        return tables.power_table(store, inst, p.start, p.end)
    return tables.rollup_table(store, inst, spec.resolution_s, p.start, p.end), None


def export_folder(
    store: Store,
    folder: Path,
    *,
    installations: list[str] | None,
    since: int | None,
    until: int | None,
    fmt: str = "csv",
    resolution_s: int = 8,
    raw: bool = False,
    target: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> ExportResult:
    """Write the export files into ``folder`` and update its manifest.

    ``since`` None means "since last" (the marks of ``target``, which defaults to the
    folder itself); ``until`` None means the start of today (whole local days). The marks
    are returned in the result and stored by ``commit_marks`` once the files are where they
    must be (in the folder, or on the SFTP server).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    until = start_of_today() if until is None else until
    if since is not None and since >= until:
        raise ExportError(
            f"nothing to export: --since {iso_utc(since)} is not before --until {iso_utc(until)}"
            " (the default --until is today's local midnight)"
        )
    insts = check_installations(store, installations)
    probe = ExportSpec(tuple(insts), 0, 1, fmt, resolution_s, raw)  # validates the options
    key = target_key(target or folder_target(folder), probe.variant())
    starts = plan_starts(store, insts, key, since, raw)
    cfg = store.load_config()
    result = ExportResult(folder, key, config_version=cfg.version_id if cfg else None)
    old_marks = store.export_marks(key)
    for inst, start in starts.items():
        if start >= until:
            continue
        spec = ExportSpec((inst,), start, until, fmt, resolution_s, raw)
        for period in file_periods(start, until, resolution_s):
            table, versions = _table(store, spec, cfg, inst, period)
            if table.num_rows == 0:
                continue
            name = period.filename(inst, spec)
            path = folder / name
            write_table(table, path, fmt)
            if versions is None:  # rollups carry no version: the current one made them
                versions = {result.config_version} if result.config_version else set()
            entry = FileEntry(
                file=name,
                installation_id=inst,
                kind=spec.kind,
                resolution=resolution_name(resolution_s),
                format=fmt,
                start=iso_utc(period.start),
                end=iso_utc(period.end),
                rows=table.num_rows,
                bytes=path.stat().st_size,
                sha256=sha256_of(path),
                config_versions=sorted(versions),
            )
            result.files.append(entry)
            if progress is not None:
                progress(name)
        # contiguous with what went before (or the first export): the mark moves on
        old = old_marks.get(inst)
        if old is None or start <= old:
            result.marks[inst] = max(until, old or until)
    write_manifest(folder, result)
    log.info(
        "export_written",
        folder=str(folder),
        files=len(result.files),
        rows=result.rows,
        variant=probe.variant(),
    )
    return result


def write_manifest(folder: Path, result: ExportResult) -> Path:
    """Merge this run's files into ``folder/manifest.json`` (by file name), atomically."""
    path = folder / MANIFEST
    entries: dict[str, dict] = {}
    if path.is_file():
        try:
            old = json.loads(path.read_text())
            entries = {e["file"]: e for e in old.get("files", []) if (folder / e["file"]).is_file()}
        except (ValueError, KeyError, TypeError) as exc:
            raise ExportError(
                f"{path} is not a vde export manifest ({exc}): move it away or use another --out"
            ) from exc
    for f in result.files:
        entries[f.file] = asdict(f)
    doc = {
        "format": MANIFEST_FORMAT,
        "generated": iso_utc(int(time.time())),
        "time_zone": BRUSSELS.key,
        "config_version": result.config_version,
        "columns_doc": "docs/data-exchange.md",
        "files": [entries[k] for k in sorted(entries)],
    }
    tmp = path.with_name(f".{MANIFEST}.tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, path)
    return path


def commit_marks(store: Store, result: ExportResult) -> None:
    if result.marks:
        store.set_export_marks(result.target, result.marks)
