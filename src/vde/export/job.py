"""One export job, as ``vde export`` and ``vde serve --export-at`` run it: write the files
into a folder, push them over SFTP when a ``sftp://`` target is given, then store the marks
(only once the files are where they must be, so a failed push is sent again next time)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vde.export.run import MANIFEST, ExportResult, commit_marks, export_folder
from vde.export.sftp import Credentials, PushReport, parse_sftp_url, push_files
from vde.export.spec import RESOLUTIONS
from vde.logs import get_logger
from vde.settings import Settings
from vde.storage.base import Store

log = get_logger(__name__)


@dataclass
class JobResult:
    export: ExportResult
    push: PushReport | None = None


def credentials(settings: Settings) -> Credentials:
    pw = settings.sftp_password.get_secret_value() if settings.sftp_password else None
    return Credentials(
        password=pw, key_file=settings.sftp_key, known_hosts=settings.sftp_known_hosts
    )


def run_job(
    store: Store,
    settings: Settings,
    *,
    installations: list[str] | None,
    since: int | None,
    until: int | None,
    fmt: str,
    resolution: str,
    raw: bool = False,
    out: Path | None = None,
    to: str | None = None,
    progress: Callable[[str], None] | None = None,
    push_attempts: int = 3,
) -> JobResult:
    """Export (``since`` None: since the last export to that target) and push the new
    files, then ``manifest.json`` (nothing new: nothing is pushed)."""
    sftp = parse_sftp_url(to) if to else None
    folder = Path(out or settings.export_folder)
    result = export_folder(
        store,
        folder,
        installations=installations,
        since=since,
        until=until,
        fmt=fmt,
        resolution_s=RESOLUTIONS[resolution],
        raw=raw,
        target=sftp.url if sftp else None,
        progress=progress,
    )
    push = None
    if sftp is not None and result.files:
        files = [folder / f.file for f in result.files]
        push = push_files(
            sftp, [*files, folder / MANIFEST], credentials(settings), attempts=push_attempts
        )
    commit_marks(store, result)
    return JobResult(result, push)


def scheduled_job(store: Store, settings: Settings) -> JobResult:
    """What ``vde serve --export-at`` runs daily: everything new since the last export to
    ``export_to`` (an ``sftp://`` URL, or a folder; default ``export_folder``)."""
    to = settings.export_to
    is_sftp = bool(to) and to.startswith("sftp://")
    return run_job(
        store,
        settings,
        installations=settings.export_installations or None,
        since=None,
        until=None,
        fmt=settings.export_format,
        resolution=settings.export_resolution,
        to=to if is_sftp else None,
        out=Path(to) if to and not is_sftp else None,
    )
