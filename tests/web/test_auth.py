"""Accounts and request security: login, rate limit, CSRF, sessions, logout, invites,
language. Each test gets a fresh store with accounts only (no power)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient
from pydantic import SecretStr

from vde.settings import Settings
from vde.storage import open_store
from vde.storage.base import Store
from vde.web.app import create_app
from vde.web.auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    LoginGuard,
    WeakPasswordError,
    authenticate,
    create_invite,
    session_version,
    set_password,
    set_role,
    throttle_key,
    verify_password,
)
from vde.web.throttle import MAX_VERIFIERS, verifier_slots

from .conftest import csrf, login

# Once, on SQLite: accounts, sessions and the login throttle keep users, access and meta,
# proven on both backends by tests/storage/test_contract.py (test_users, test_meta,
# test_access_and_captions).
pytestmark = pytest.mark.backends("sqlite")

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


# --- issue 17: throttling, sessions, CSRF, passwords ------------------------------------------


@pytest.mark.parametrize("variant", [" alice", "alice\t", "ALICE", "\talice "])
def test_login_variants_share_the_throttle(client, variant):
    for _ in range(5):
        assert post_login(client, "alice", "nope").status_code == 401
    assert post_login(client, variant, PW).status_code == 429
    assert client.get("/api/me").status_code == 401


def test_a_login_typed_with_spaces_is_the_same_login(client):
    assert post_login(client, " alice\t", PW).status_code == 303
    assert client.get("/api/me").json()["login"] == "alice"


def test_logout_revokes_a_saved_cookie_server_side(client, accounts):
    login(client, "alice", PW)
    saved = client.cookies.get(SESSION_COOKIE)
    with TestClient(client.app) as other:  # a second device of the same member
        login(other, "alice", PW)
        r = client.post("/logout", data={"csrf_token": csrf(client)}, follow_redirects=False)
        assert r.status_code == 303
        client.cookies.set(SESSION_COOKIE, saved)  # the attacker replays the copied cookie
        assert client.get("/api/me").status_code == 401
        assert other.get("/api/me").status_code == 401  # logout signs out every device
    assert session_version(accounts, "alice") == 1
    client.cookies.delete(SESSION_COOKIE)
    login(client, "alice", PW)  # signing in again works
    assert client.get("/api/me").status_code == 200


def test_the_csrf_token_rotates_at_login(client):
    before = csrf(client)
    r = post_login(client, "alice", PW)
    assert any(v.startswith(CSRF_COOKIE + "=") for v in r.headers.get_list("set-cookie"))
    after = csrf(client)
    assert after != before
    r = client.post("/logout", data={"csrf_token": before}, follow_redirects=False)
    assert r.status_code == 403  # the token known before login is worthless after it


@pytest.mark.parametrize(
    ("header", "value", "status"),
    [
        ("origin", "https://evil.example", 403),
        ("origin", "null", 403),
        ("origin", "http://testserver", 303),
        ("referer", "https://evil.example/login", 403),
        ("referer", "http://testserver/login?next=/", 303),
    ],
)
def test_posts_check_origin_and_referer(client, header, value, status):
    data = {"login": "alice", "password": PW, "csrf_token": csrf(client)}
    r = client.post("/login", data=data, headers={header: value}, follow_redirects=False)
    assert r.status_code == status


def test_the_public_url_is_an_accepted_origin(accounts):
    app = create_app(accounts, Settings(public_url="https://vde.example.org/"))
    with TestClient(app) as c:
        data = {"login": "alice", "password": PW, "csrf_token": csrf(c)}
        r = c.post(
            "/login",
            data=data,
            headers={"origin": "https://vde.example.org"},
            follow_redirects=False,
        )
        assert r.status_code == 303
        r = c.post("/logout", headers={"origin": "https://vde.example.org:8443"})
        assert r.status_code == 403


def test_the_owner_keeps_signing_in_from_a_known_device(accounts):
    guard = LoginGuard(per_login=5, per_ip=8, global_login=3, max_backoff_s=600)
    app = create_app(accounts, Settings(), login_guard=guard)
    with TestClient(app) as owner, TestClient(app) as stranger:
        assert post_login(owner, "alice", PW).status_code == 303  # marks the owner's device
        owner.post("/logout", data={"csrf_token": csrf(owner)})
        for i in range(3):  # an attack from other addresses reaches the global cap
            with guard.attempt(throttle_key("alice"), f"10.0.0.{i}"):
                pass
        r = post_login(stranger, "alice", PW)
        assert r.status_code == 429 and 0 < int(r.headers["retry-after"]) <= 600
        assert post_login(owner, "alice", PW).status_code == 303


def test_the_global_backoff_doubles_and_is_capped():
    guard = LoginGuard(per_login=100, per_ip=100, global_login=2, max_backoff_s=4)
    waits = []
    for i in range(6):
        try:
            with guard.attempt("bob", f"10.1.0.{i}"):
                waits.append(0)
        except HTTPException as exc:
            waits.append(int(exc.headers["Retry-After"]))
            guard._backoff["bob"].last -= 100  # let the time pass, then fail again
            with guard.attempt("bob", f"10.2.0.{i}"):
                pass
    assert waits[:2] == [0, 0]
    assert waits[2:] == [1, 2, 4, 4]


def test_failures_are_counted_before_the_check_under_parallel_load():
    guard = LoginGuard(per_login=5, per_ip=100, verifiers=30)
    verified, refused = [], []
    barrier = threading.Barrier(30)

    def try_once() -> None:
        barrier.wait()
        try:
            with guard.attempt("carol", "10.9.9.9"):
                time.sleep(0.05)  # the argon2 check
                verified.append(1)
        except HTTPException as exc:
            refused.append(exc.status_code)

    threads = [threading.Thread(target=try_once) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(verified) == 5 and refused == [429] * 25


def test_argon2_checks_beyond_the_slots_get_429_at_once():
    guard = LoginGuard(per_login=100, per_ip=100, verifiers=2)
    with guard.attempt("a", "1.1.1.1"), guard.attempt("b", "1.1.1.2"):
        t0 = time.monotonic()
        with pytest.raises(HTTPException) as exc, guard.attempt("c", "1.1.1.3"):
            pass
        assert time.monotonic() - t0 < 0.5  # refused at once, not queued behind the others
        assert exc.value.status_code == 429 and exc.value.headers["Retry-After"] == "1"
    with guard.attempt("c", "1.1.1.3"):  # a busy refusal is not counted as a failure
        pass


def test_verifier_slots_come_from_memory():
    per_check = 64 * 1024 * 1024
    assert verifier_slots(0) == 1
    assert verifier_slots(8 * per_check * 2) == 2
    assert verifier_slots(1 << 40) == MAX_VERIFIERS
    assert 1 <= verifier_slots() <= MAX_VERIFIERS


WEAK = [
    ("short-pw-1", "short"),
    ("             ", "blank"),
    ("\t \u00a0\u2003" * 4, "blank"),
    ("password1234", "common"),
    ("Motdepasse2026!", "common"),
    ("qwertyuiop12", "common"),
    ("zzzzzzzzzzzzzzzz", "common"),
    ("alice-alice-2026", None),  # fine: not only the login
    ("é" * 513, "long"),
    ("x" * 1025, "long"),
]


@pytest.mark.parametrize(("password", "code"), WEAK)
def test_password_policy(accounts, password, code):
    if code is None:
        set_password(accounts, "alice", password)
        assert verify_password(accounts.get_user("alice").password_hash, password)
        return
    before = accounts.get_user("alice").password_hash
    with pytest.raises(WeakPasswordError) as exc:
        set_password(accounts, "alice", password)
    assert exc.value.code == code
    assert accounts.get_user("alice").password_hash == before  # stored data untouched


def test_the_login_itself_is_refused_as_password(accounts):
    accounts.replace_access([("quartier-solaire", "CDB009")])
    with pytest.raises(WeakPasswordError):
        set_password(accounts, "quartier-solaire", "Quartier-Solaire-99")


def test_the_invite_form_applies_the_policy(client, accounts):
    token, _ = create_invite(accounts, "carol")
    form = {"login": "carol", "token": token, "csrf_token": csrf(client)}
    for pw, text in [
        ("abcdefghij1", "12 caractères"),
        ("motdepasse123", "trop courant"),
        ("   " * 5, "espaces"),
        ("x" * 1100, "trop long"),
    ]:
        r = client.post("/invite", data={**form, "password": pw, "password2": pw})
        assert r.status_code == 422 and text in r.text, pw
    assert accounts.get_user("carol").password_hash is None


@pytest.mark.parametrize(("password", "message"), [(" " * 14, "only spaces"), ("é" * 600, "1024")])
def test_the_cli_applies_the_policy(store_url, password, message):
    from click.testing import CliRunner

    from vde.cli import cli

    with open_store(store_url) as s:
        s.replace_access([("alice", "CDB001")])
    r = CliRunner().invoke(
        cli,
        ["users", "set-password", "alice", "--password-stdin", "--db", store_url],
        input=password,
    )
    assert r.exit_code == 1 and message in r.output
    assert password not in r.output
    with open_store(store_url) as s:
        assert s.get_user("alice") is None


def test_an_oversized_password_fails_without_hashing(client, accounts):
    data = {"login": "alice", "password": "p" * 4000, "csrf_token": csrf(client)}
    t0 = time.monotonic()
    for _ in range(4):  # refused before the argon2 check (cheap whatever the size)
        assert client.post("/login", data=data).status_code == 401
    assert time.monotonic() - t0 < 2
    assert authenticate(accounts, "alice", "p" * 1025) is None
    assert authenticate(accounts, "alice", PW) is not None
