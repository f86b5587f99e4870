"""``vde users`` and ``vde serve --help`` through click's runner on a real database."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from click.testing import CliRunner

from vde.cli import cli
from vde.storage import open_store
from vde.web.auth import invite_user, verify_password


def _run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def test_users_commands(store_url):
    with open_store(store_url) as s:
        s.replace_access([("alice", "CDB001"), ("bob", "CDB002")])
    r = _run(
        "users",
        "set-password",
        "alice",
        "--password-stdin",
        "--db",
        store_url,
        input="alice-pass-1\n",
    )
    assert r.exit_code == 0, r.output
    assert "alice-pass-1" not in r.output
    r = _run("users", "set-password", "bob", "--db", store_url, input="bob-pass-22\nbob-pass-22\n")
    assert r.exit_code == 0, r.output
    r = _run(
        "users",
        "set-password",
        "mallory",
        "--password-stdin",
        "--db",
        store_url,
        input="whatever1\n",
    )
    assert r.exit_code != 0 and "unknown login" in r.output
    r = _run(
        "users", "set-password", "alice", "--password-stdin", "--db", store_url, input="short\n"
    )
    assert r.exit_code != 0 and "8 characters" in r.output
    r = _run("users", "invite", "bob", "--db", store_url, "--base-url", "https://vde.example/")
    assert r.exit_code == 0
    link = r.stdout.strip()
    assert link.startswith("https://vde.example/invite?")
    q = parse_qs(urlparse(link).query)
    assert "valid until" in r.stderr
    assert _run("users", "admin", "bob", "--db", store_url).exit_code == 0
    with open_store(store_url) as s:
        assert verify_password(s.get_user("alice").password_hash, "alice-pass-1")
        assert verify_password(s.get_user("bob").password_hash, "bob-pass-22")
        assert invite_user(s, "bob", q["token"][0]) is not None
        assert s.get_user("bob").role == "admin"
    out = _run("users", "list", "--db", store_url).output
    assert "alice" in out and "admin" in out and "$argon2" not in out
    assert _run("users", "admin", "bob", "--revoke", "--db", store_url).exit_code == 0
    with open_store(store_url) as s:
        assert s.get_user("bob").role == "member"


def test_serve_help_lists_its_options():
    out = _run("serve", "--help").output
    for opt in ("--host", "--port", "--db", "--sync-every", "--alerts-at", "--forwarded-allow-ips"):
        assert opt in out
