"""Push export files to a partner's SFTP server: atomic, resumable uploads.

Each file is uploaded under a temporary name ``.NAME.<sha256 prefix>.part`` in the target
folder, then renamed to ``NAME`` (POSIX rename: a reader never sees half a file). When
the connection drops, the next attempt (in the same run, or the next run) finds the part
file and sends only the rest; the sha256 in its name makes sure it resumes the same
content. A file already on the server with the same size and sha256 is not sent again.
``manifest.json`` goes last, so it never lists a file the server does not have.

The password or key come from settings (``sftp_password``, ``sftp_key``), never from the
URL, and are never logged; the server's host key must be in ``sftp_known_hosts`` (or
``~/.ssh/known_hosts``).
"""

from __future__ import annotations

import asyncio
import hashlib
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from vde.errors import ExportError
from vde.logs import get_logger

log = get_logger(__name__)

CHUNK = 256 * 1024
_URL = re.compile(
    r"^sftp://(?P<user>[^@:/\s]+)(?P<pw>:[^@/]*)?@(?P<host>\[[^\]]+\]|[^:/\s]+)"
    r"(?::(?P<port>\d{1,5}))?(?P<path>/[^\s]*)?$"
)


@dataclass(frozen=True)
class SftpTarget:
    user: str
    host: str
    port: int
    path: str  # folder on the server

    @property
    def url(self) -> str:
        return f"sftp://{self.user}@{self.host}:{self.port}{self.path}"


def parse_sftp_url(text: str) -> SftpTarget:
    """``sftp://user@host[:port]/path``; a password in the URL is refused (it would be
    shown wherever the URL is)."""
    m = _URL.match(text.strip())
    if not m:
        raise ExportError(
            "--to must look like sftp://user@host:port/path (e.g. sftp://lab@data.example.org:22/in)"
        )
    if m.group("pw"):
        raise ExportError(
            "the --to URL holds a password: remove it from the URL and set sftp_password "
            "(env VDE_SFTP_PASSWORD) or sftp_key instead"
        )
    port = int(m.group("port") or 22)
    if not 1 <= port <= 65535:
        raise ExportError(f"SFTP port {port} is out of range (1-65535)")
    return SftpTarget(m.group("user"), m.group("host").strip("[]"), port, m.group("path") or "/")


@dataclass(frozen=True)
class Credentials:
    password: str | None = field(default=None, repr=False)
    key_file: str | None = None
    known_hosts: str | None = None


@dataclass
class PushReport:
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already on the server, same sha256
    resumed_bytes: int = 0  # bytes found in part files, not sent again
    sent_bytes: int = 0
    attempts: int = 0


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def push_files(
    target: SftpTarget,
    files: list[Path],
    creds: Credentials,
    *,
    attempts: int = 3,
    timeout_s: float = 30.0,
) -> PushReport:
    """Upload ``files`` in order (put ``manifest.json`` last). Raises ExportError naming
    the server and the file when ``attempts`` connections in a row fail to make progress."""
    return asyncio.run(_push(target, files, creds, attempts, timeout_s))


async def _push(
    target: SftpTarget, files: list[Path], creds: Credentials, attempts: int, timeout_s: float
) -> PushReport:
    report = PushReport()
    todo = list(files)
    shas = {p: _sha256(p) for p in todo}
    failures = 0
    while todo:
        report.attempts += 1
        sent_before = report.sent_bytes
        try:
            async with _connect(target, creds, timeout_s) as conn:
                async with conn.start_sftp_client() as sftp:
                    await _ensure_dir(sftp, target.path)
                    while todo:
                        await _upload_one(sftp, target, todo[0], shas[todo[0]], report)
                        todo.pop(0)
                        failures = 0
        except (TimeoutError, asyncssh.Error, OSError) as exc:
            # an attempt that moved the upload forward resets the count: a link that keeps
            # dropping still gets the files across, one resumed part at a time
            failures = 1 if report.sent_bytes > sent_before else failures + 1
            where = todo[0].name if todo else "-"
            log.warning(
                "sftp_attempt_failed",
                server=target.url,
                file=where,
                error=type(exc).__name__,
                attempt=report.attempts,
            )
            if failures >= attempts:
                raise ExportError(
                    f"SFTP push to {target.url} failed at {where} after {failures} attempt(s): "
                    f"{_reason(exc)}; run the export again to resume"
                ) from None
            await asyncio.sleep(min(2.0 * failures, 10.0))
    log.info(
        "sftp_pushed",
        server=target.url,
        uploaded=len(report.uploaded),
        skipped=len(report.skipped),
        resumed_bytes=report.resumed_bytes,
    )
    return report


def _reason(exc: BaseException) -> str:
    # asyncssh's messages name the host and the failure, never the password
    text = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


def _connect(target: SftpTarget, creds: Credentials, timeout_s: float):
    kwargs: dict = {
        "username": target.user,
        "port": target.port,
        "connect_timeout": timeout_s,
        "known_hosts": creds.known_hosts if creds.known_hosts else (),
        "agent_path": None,
    }
    if creds.key_file:
        kwargs["client_keys"] = [creds.key_file]
    else:
        kwargs["client_keys"] = None
    if creds.password:
        kwargs["password"] = creds.password
    return asyncssh.connect(target.host, **kwargs)


async def _ensure_dir(sftp: asyncssh.SFTPClient, path: str) -> None:
    if not await sftp.isdir(path):
        await sftp.makedirs(path, exist_ok=True)


async def _remote_sha(sftp: asyncssh.SFTPClient, path: str) -> str:
    h = hashlib.sha256()
    async with sftp.open(path, "rb") as f:
        while chunk := await f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


async def _upload_one(
    sftp: asyncssh.SFTPClient, target: SftpTarget, local: Path, sha: str, report: PushReport
) -> None:
    name = local.name
    final = posixpath.join(target.path, name)
    part = posixpath.join(target.path, f".{name}.{sha[:16]}.part")
    size = local.stat().st_size
    if await sftp.exists(final):
        if (await sftp.stat(final)).size == size and await _remote_sha(sftp, final) == sha:
            report.skipped.append(name)
            return
    done = (await sftp.stat(part)).size if await sftp.exists(part) else 0
    if done > size:  # not ours after all: start again
        await sftp.remove(part)
        done = 0
    report.resumed_bytes += done
    with open(local, "rb") as src:
        src.seek(done)
        async with sftp.open(part, "ab" if done else "wb") as dst:
            while chunk := src.read(CHUNK):
                await dst.write(chunk)
                report.sent_bytes += len(chunk)
    if (await sftp.stat(part)).size != size:
        raise ExportError(f"SFTP upload of {name} to {target.url} ended short; run again")
    try:
        await sftp.posix_rename(part, final)
    except asyncssh.SFTPOpUnsupported:
        if await sftp.exists(final):
            await sftp.remove(final)
        await sftp.rename(part, final)
    report.uploaded.append(name)
    log.info("sftp_uploaded", server=target.url, file=name, bytes=size, resumed=done)
