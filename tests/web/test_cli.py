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
    r = _run(
        "users", "set-password", "bob", "--db", store_url, input="bob-pass-2222\nbob-pass-2222\n"
    )
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
    assert r.exit_code != 0 and "12 characters" in r.output
    r = _run("users", "invite", "bob", "--db", store_url, "--base-url", "https://vde.example/")
    assert r.exit_code == 0
    link = r.stdout.strip()
    assert link.startswith("https://vde.example/invite?")
    q = parse_qs(urlparse(link).query)
    assert "valid until" in r.stderr
    assert _run("users", "admin", "bob", "--db", store_url).exit_code == 0
    with open_store(store_url) as s:
        assert verify_password(s.get_user("alice").password_hash, "alice-pass-1")
        assert verify_password(s.get_user("bob").password_hash, "bob-pass-2222")
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


def test_vde_serve_runs_the_dashboard(tmp_path):
    """The real command in a subprocess: pages, API, and HTTPS seen through a trusted proxy."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import httpx

    from vde.web.auth import set_password

    from .server import free_port

    url = f"sqlite:///{tmp_path / 'vde.db'}"
    with open_store(url) as s:
        s.create_schema()
        s.replace_access([("alice", "CDB001")])
        set_password(s, "alice", "alice-pass-1")
    port = free_port()
    (tmp_path / "none.toml").write_text("")  # empty: a missing VDE_CONFIG file is an error
    env = {**os.environ, "VDE_CONFIG": str(tmp_path / "none.toml")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vde.cli", "serve", "--port", str(port), "--db", url],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(base + "/login", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read().decode()
                assert time.monotonic() < deadline, "vde serve did not answer"
                time.sleep(0.3)
        assert r.status_code == 200 and "Connexion" in r.text
        assert httpx.get(base + "/api/me").status_code == 401
        assert httpx.get(base + "/openapi.json").json()["info"]["title"] == "vde dashboard API"
        # behind a proxy on 127.0.0.1 (trusted by default) that terminates HTTPS
        with httpx.Client(base_url=base, headers={"X-Forwarded-Proto": "https"}) as c:
            first = c.get("/login")
            assert "Secure" in first.headers["set-cookie"]
            page = first.text
            i = page.index('name="csrf-token" content="') + len('name="csrf-token" content="')
            data = {
                "login": "alice",
                "password": "alice-pass-1",
                "csrf_token": page[i : page.index('"', i)],
            }
            # the client keeps Secure cookies for https: hand the CSRF cookie over by hand
            cookie = first.headers["set-cookie"].split(";")[0]
            c.cookies.clear()
            r = c.post("/login", data=data, headers={"Cookie": cookie})
            assert r.status_code == 303
            assert "Secure" in r.headers["set-cookie"]
            assert "strict-transport-security" in r.headers
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
