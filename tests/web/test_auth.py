"""Accounts and request security: login, rate limit, CSRF, sessions, logout, invites,
language. Each test gets a fresh store with accounts only (no power)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from vde.settings import Settings
from vde.storage.base import Store
from vde.web.app import create_app
from vde.web.auth import SESSION_COOKIE, LoginGuard, create_invite, set_password, set_role

from .conftest import csrf, login

PW = "correct horse battery"


@pytest.fixture
def accounts(store: Store) -> Store:
    store.replace_access([("alice", "CDB001"), ("carol", "CDB003")])
    store.replace_captions({})
    set_password(store, "alice", PW)
    set_role(store, "carol", "member")
    return store


@pytest.fixture
def client(accounts: Store) -> Iterator[TestClient]:
    app = create_app(accounts, Settings(), login_guard=LoginGuard(per_login=5, per_ip=8))
    with TestClient(app) as c:
        yield c


def post_login(c: TestClient, user: str, password: str, **extra) -> object:
    data = {"login": user, "password": password, "csrf_token": csrf(c), **extra}
    return c.post("/login", data=data, follow_redirects=False)


def test_login_sets_a_httponly_lax_session_cookie(client):
    r = post_login(client, "alice", PW)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = next(v for v in r.headers.get_list("set-cookie") if v.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    assert client.get("/api/me").json()["login"] == "alice"


def test_cookies_are_secure_over_https(accounts):
    app = create_app(accounts, Settings())
    with TestClient(app, base_url="https://testserver") as c:
        r = post_login(c, "alice", PW)
        cookies = r.headers.get_list("set-cookie")
        assert cookies and all("Secure" in v for v in cookies)
        assert "max-age" in c.get("/login").headers["strict-transport-security"]


@pytest.mark.parametrize(
    ("user", "password"), [("alice", "wrong password"), ("nobody", PW), ("carol", "")]
)
def test_bad_logins_are_refused(client, user, password):
    r = post_login(client, user, password or "anything")
    assert r.status_code == 401
    assert "Identifiant ou mot de passe incorrect" in r.text
    assert client.get("/api/me").status_code == 401


def test_a_login_without_password_cannot_log_in(client, accounts):
    assert accounts.get_user("carol").password_hash is None
    assert post_login(client, "carol", "").status_code in (401, 422)


def test_failed_logins_are_rate_limited_per_login(client):
    for _ in range(5):
        assert post_login(client, "alice", "nope").status_code == 401
    r = post_login(client, "alice", PW)  # even the right password waits
    assert r.status_code == 429
    assert 0 < int(r.headers["retry-after"]) <= 300


def test_failed_logins_are_rate_limited_per_address(client):
    for i in range(8):
        assert post_login(client, f"user{i}", "nope").status_code == 401
    assert post_login(client, "someone", "nope").status_code == 429


def test_a_success_resets_the_login_counter(client):
    for _ in range(4):
        post_login(client, "alice", "nope")
    assert post_login(client, "alice", PW).status_code == 303
    for _ in range(4):
        assert post_login(client, "alice", "nope").status_code == 401


@pytest.mark.parametrize("token", [None, "forged", ""])
def test_login_and_logout_need_the_csrf_token(client, token):
    data = {"login": "alice", "password": PW}
    if token is not None:
        data["csrf_token"] = token
    client.get("/login")
    assert client.post("/login", data=data, follow_redirects=False).status_code == 403
    login(client, "alice", PW)
    r = client.post(
        "/logout", data={} if token is None else {"csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 403
    assert client.get("/api/me").status_code == 200  # still logged in


def test_csrf_header_is_accepted_for_scripts(client):
    login(client, "alice", PW)
    r = client.post("/logout", headers={"X-CSRF-Token": csrf(client)}, follow_redirects=False)
    assert r.status_code == 303


def test_logout_ends_the_session(client):
    login(client, "alice", PW)
    r = client.post("/logout", data={"csrf_token": csrf(client)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert client.get("/api/me").status_code == 401
    assert client.get("/i/CDB001", follow_redirects=False).status_code == 303


def test_forged_or_foreign_sessions_are_refused(client, accounts):
    login(client, "alice", PW)
    good = client.cookies.get(SESSION_COOKIE)
    client.cookies.set(SESSION_COOKIE, good[:-3] + "abc")
    assert client.get("/api/me").status_code == 401
    other = create_app(accounts, Settings(secret_key=SecretStr("another key entirely")))
    with TestClient(other) as c2:
        login(c2, "alice", PW)
        client.cookies.set(SESSION_COOKIE, c2.cookies.get(SESSION_COOKIE))
    assert client.get("/api/me").status_code == 401


def test_the_generated_key_is_kept_so_sessions_survive_a_restart(client, accounts):
    login(client, "alice", PW)
    key = accounts.get_meta("secret_key")
    assert key and len(key) >= 40
    with TestClient(create_app(accounts, Settings())) as c2:
        c2.cookies.set(SESSION_COOKIE, client.cookies.get(SESSION_COOKIE))
        assert c2.get("/api/me").status_code == 200


def test_changing_the_password_ends_older_sessions(client, accounts):
    login(client, "alice", PW)
    set_password(accounts, "alice", "a brand new password")
    assert client.get("/api/me").status_code == 401


@pytest.mark.parametrize("nxt", ["//evil.example/x", "https://evil.example/", "\\\\evil"])
def test_next_never_leaves_the_site(client, nxt):
    r = post_login(client, "alice", PW, next=nxt)
    assert r.headers["location"] == "/"


def test_next_brings_back_to_the_page_asked(client):
    r = client.get("/i/CDB001?period=week", follow_redirects=False)
    assert r.headers["location"] == "/login?next=/i/CDB001%3Fperiod%3Dweek"
    assert post_login(client, "alice", PW, next="/i/CDB001?period=week").headers["location"] == (
        "/i/CDB001?period=week"
    )


def test_invite_lets_a_member_choose_a_password_once(client, accounts):
    token, expires = create_invite(accounts, "carol")
    assert accounts.get_user("carol").invite_hash != token  # only its hash is stored
    assert client.get(f"/invite?login=carol&token={token}").status_code == 200
    assert client.get("/invite?login=carol&token=wrong").status_code == 404
    form = {"login": "carol", "token": token, "csrf_token": csrf(client)}
    r = client.post("/invite", data={**form, "password": "abcdefgh1", "password2": "abcdefgh2"})
    assert r.status_code == 422 and "diffèrent" in r.text
    r = client.post("/invite", data={**form, "password": "short", "password2": "short"})
    assert r.status_code == 422
    r = client.post(
        "/invite",
        data={**form, "password": "carol-password", "password2": "carol-password"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert client.get("/api/me").json()["login"] == "carol"
    assert client.get(f"/invite?login=carol&token={token}").status_code == 404  # used up
    with TestClient(client.app) as c2:
        assert post_login(c2, "carol", "carol-password").status_code == 303


def test_expired_invites_do_not_work(client, accounts):
    token, _ = create_invite(accounts, "carol", ttl_s=-1)
    assert client.get(f"/invite?login=carol&token={token}").status_code == 404


def test_language_defaults_to_french_and_switches(client):
    assert "Mot de passe" in client.get("/login").text
    r = client.get("/login?lang=nl")
    assert "Wachtwoord" in r.text and '<html lang="nl">' in r.text
    assert "Wachtwoord" in client.get("/login").text  # remembered in a cookie
    assert "Password" in client.get("/login?lang=en").text
    client.cookies.delete("vde_lang")
    assert "Mot de passe" in client.get("/login?lang=xx").text


def test_error_pages_are_html_and_api_errors_json(client):
    login(client, "alice", PW)
    r = client.get("/i/CDB999")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "Page introuvable" in r.text
    assert client.get("/admin").status_code == 403
    assert client.get("/api/nope").headers["content-type"].startswith("application/json")
