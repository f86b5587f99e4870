"""No traceback for any argument: out-of-range dates, bad settings, risky user commands.

Runs ``vde.cli.main`` in-process (the real entry point: its error handling and exit codes).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from vde.cli import main


@pytest.fixture(autouse=True)
def _keep_umask() -> Iterator[None]:
    old = os.umask(0o022)
    os.umask(old)
    yield
    os.umask(old)  # main() sets 077 for the process


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A database with the example configuration (logins CDB001...)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VDE_CONFIG", raising=False)
    url = f"sqlite:///{tmp_path / 'vde.db'}"
    monkeypatch.setenv("VDE_DATABASE", url)
    assert run(["config", "template", "c.xlsx"])[0] == 0
    code, _, err = run(["config", "import", "c.xlsx"])
    assert code == 0, err
    return url


def run(argv: list[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``vde ARGV``."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["alerts", "--day", "9999-12-31", "--dry-run"], "out of range"),
        (["alerts", "--day", "0001-01-01", "--dry-run"], "out of range"),
        (["recompute", "--since", "0001-01-01"], "out of range"),
        (["recompute", "--since", "2026-03-02", "--until", "2026-03-01"], "--until must be after"),
        (["sync", "--since", "99999999999999999999"], "out of range"),
        (["sync", "--since", "1000000000w"], "out of range"),
        (["sync", "--since", "2026-03-02", "--until", "2026-03-01"], "--until must be after"),
        (["serve", "--alerts-at", "25:99"], "'25:99' is not a time of day"),
        (["users", "invite", "CDB001", "--days", "1000000000"], "1<=x<=365"),
        (["users", "invite", "CDB001", "--days", "-1"], "1<=x<=365"),
        (["serve", "--sync-every", "1000000000w"], "less than or equal to 604800"),
        (["users", "invite", ""], "empty"),
        (["users", "admin", ""], "empty"),
        (["users", "admin", " CDB001"], "padded with spaces"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(db: str, argv: list[str], fragment: str) -> None:
    code, out, err = run(argv)
    assert code == 2, (out, err)
    assert fragment in err and "Traceback" not in out + err


def test_admin_for_an_unknown_login_needs_create(db: str) -> None:
    code, _, err = run(["users", "admin", "CDB0O1"])  # a typo: letter O for zero
    assert code == 1 and "unknown login 'CDB0O1'" in err and "--create" in err
    assert run(["users", "admin", "CDB001"])[0] == 0  # in the access list
    code, out, _ = run(["users", "admin", "ops", "--create"])
    assert code == 0 and "ops is now an administrator" in out


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"VDE_TIMEZONE": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"VDE_CONFIG": "/nonexistent/vde.toml"}, "VDE_CONFIG names '/nonexistent/vde.toml'"),
        (
            {
                "VDE_SMTP_SECURITY": "none",
                "VDE_SMTP_HOST": "mail.example.org",
                "VDE_SMTP_PASSWORD": "hunter2hunter2",
            },
            "clear text to mail.example.org",
        ),
        ({"VDE_ALERTS_AT": "7h"}, "is not a time of day"),
    ],
)
def test_bad_settings_exit_2_with_a_message(
    db: str, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], fragment: str
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    code, out, err = run(["alerts", "--dry-run"])
    assert code == 2, (out, err)
    assert fragment in err and "Traceback" not in out + err
    assert "hunter2" not in out + err


def test_cleartext_smtp_password_is_allowed_on_loopback(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for host in ("127.0.0.1", "localhost", "::1"):
        monkeypatch.setenv("VDE_SMTP_SECURITY", "none")
        monkeypatch.setenv("VDE_SMTP_HOST", host)
        monkeypatch.setenv("VDE_SMTP_PASSWORD", "hunter2hunter2")
        code, out, err = run(["config", "list"])
        assert code == 0, err
