"""SFTP push against a real SFTP server on loopback (asyncssh's server, ``sftp`` fixture):
atomic uploads, resume after a dropped connection, marks only after a complete push,
credentials from settings and never shown."""

from __future__ import annotations

import hashlib
import json
import logging

import pytest
from export_support import END, START
from sftp_server import PASSWORD, USER

from vde.errors import ExportError
from vde.export.job import run_job
from vde.export.sftp import Credentials, parse_sftp_url, push_files
from vde.settings import load_settings


def _settings(sftp, tmp_path, **kw):
    return load_settings(
        database="sqlite:///unused.db", sftp_known_hosts=str(sftp.known_hosts), **kw
    )


def _url(sftp) -> str:
    return f"sftp://{USER}@127.0.0.1:{sftp.port}/inbox"


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _job(fleet, sftp, tmp_path, settings, **kw):
    args = dict(installations=["CDB001"], since=START, until=END, fmt="csv", resolution="8s")
    args.update(kw)
    args.setdefault("out", tmp_path / "out")
    return run_job(fleet, settings, to=_url(sftp), **args)


def test_push_with_password_is_complete_atomic_and_not_repeated(fleet, sftp, tmp_path):
    settings = _settings(sftp, tmp_path, sftp_password=PASSWORD)
    job = _job(fleet, sftp, tmp_path, settings)
    inbox = sftp.state.root / "inbox"
    local = tmp_path / "out"
    sent = sorted(p.name for p in inbox.iterdir())
    assert sent == sorted([*(f.file for f in job.export.files), "manifest.json"])
    for name in sent:  # same bytes, and no temporary name left behind
        assert _sha(inbox / name) == _sha(local / name)
    manifest = json.loads((inbox / "manifest.json").read_text())
    assert {e["file"] for e in manifest["files"]} == {f.file for f in job.export.files}
    assert job.push.uploaded[-1] == "manifest.json"  # last: it never lists a missing file
    assert sftp.state.logins == ["password"]
    # the marks moved: the next run has nothing new; a forced re-push skips what is there
    again = _job(fleet, sftp, tmp_path, settings, since=None)
    assert again.export.files == [] and again.push is None
    written = sftp.state.written
    report = push_files(
        parse_sftp_url(_url(sftp)),
        [local / f.file for f in job.export.files],
        Credentials(password=PASSWORD, known_hosts=str(sftp.known_hosts)),
    )
    assert report.skipped == [f.file for f in job.export.files] and report.uploaded == []
    assert sftp.state.written == written


def test_connection_dropped_mid_upload_resumes_in_the_same_run(fleet, sftp, tmp_path):
    settings = _settings(sftp, tmp_path, sftp_password=PASSWORD)
    sftp.state.drop_at = 1_500_000  # inside the second day's file (about 1 MB each)
    job = _job(fleet, sftp, tmp_path, settings)
    assert sftp.state.drops == 1 and job.push.attempts == 2
    assert job.push.resumed_bytes > 0  # the part already there was not sent again
    total = sum(f.bytes for f in job.export.files) + (tmp_path / "out/manifest.json").stat().st_size
    assert sftp.state.written == total  # every byte exactly once
    inbox = sftp.state.root / "inbox"
    for f in job.export.files:
        assert _sha(inbox / f.file) == f.sha256
    assert not [p for p in inbox.iterdir() if p.name.endswith(".part")]


def test_failed_push_keeps_the_marks_and_the_next_run_resumes(fleet, sftp, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    settings = _settings(sftp, tmp_path, sftp_password=PASSWORD)
    sftp.state.drop_at = 1_500_000
    sftp.state.root.joinpath("inbox").mkdir()
    with pytest.raises(ExportError) as err:
        _job(fleet, sftp, tmp_path, settings, since=None, push_attempts=1)
    assert f"127.0.0.1:{sftp.port}" in str(err.value) and PASSWORD not in str(err.value)
    inbox = sftp.state.root / "inbox"
    names = [p.name for p in inbox.iterdir()]
    parts = [n for n in names if n.endswith(".part")]
    assert len(parts) == 1  # the interrupted file only under its temporary name
    assert parts[0].split(".")[1] + ".csv" not in names
    assert fleet.export_marks(f"{_url(sftp)}#csv/8s/power") == {}  # nothing marked as sent
    job = _job(fleet, sftp, tmp_path, settings, since=None)
    assert job.push.resumed_bytes > 0
    assert sorted(p.name for p in inbox.iterdir()) == sorted(
        [*(f.file for f in job.export.files), "manifest.json"]
    )
    assert fleet.export_marks(job.export.target) == {"CDB001": END}
    assert PASSWORD not in caplog.text


def test_key_from_settings_and_unknown_host_key_refused(fleet, sftp, tmp_path):
    key = _settings(sftp, tmp_path, sftp_key=str(tmp_path / "id_ed25519"))
    job = _job(fleet, sftp, tmp_path, key, until=START + 86400 - 3600)
    assert job.push.uploaded and sftp.state.logins == []  # no password was used
    (tmp_path / "other_known_hosts").write_text("")
    stranger = load_settings(
        database="sqlite:///unused.db",
        sftp_password=PASSWORD,
        sftp_known_hosts=str(tmp_path / "other_known_hosts"),
    )
    with pytest.raises(ExportError, match="run the export again"):
        _job(fleet, sftp, tmp_path, stranger, out=tmp_path / "o2", push_attempts=1)


def test_sftp_urls_are_checked():
    t = parse_sftp_url("sftp://lab@data.example.org/in/vde")
    assert (t.user, t.host, t.port, t.path) == ("lab", "data.example.org", 22, "/in/vde")
    assert parse_sftp_url("sftp://u@[::1]:2222/x").url == "sftp://u@::1:2222/x"
    with pytest.raises(ExportError, match="password") as err:
        parse_sftp_url("sftp://lab:hunter2@host/x")
    assert "hunter2" not in str(err.value)
    with pytest.raises(ExportError, match="sftp://user@host"):
        parse_sftp_url("ftp://lab@host/x")
