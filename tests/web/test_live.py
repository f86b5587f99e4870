"""Server-Sent Events over a real uvicorn server: new power rows are announced within a
poll interval; the stream checks the session and the installation like the API."""

from __future__ import annotations

import time
from contextlib import ExitStack

import httpx
import pytest

from vde.storage.base import Store
from vde.timeutil import now_ts
from vde.web.auth import set_password

from .conftest import PASSWORDS, make_app, synthetic_power, write_power
from .server import serve

# Once, on SQLite: the stream reads power bounds, users, access and meta, proven on both
# backends by tests/storage/test_contract.py.
pytestmark = pytest.mark.backends("sqlite")


def _events(lines, until: float):
    """(event, data) pairs from an SSE line iterator until a deadline."""
    name = None
    for line in lines:
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            yield name, line[6:]
        if time.monotonic() > until:
            return


def _login(c: httpx.Client, user: str) -> None:
    c.get("/login")
    token = c.cookies.get("vde_csrf")
    assert token
    page = c.get("/login").text
    marker = 'name="csrf-token" content="'
    i = page.index(marker) + len(marker)
    r = c.post(
        "/login",
        data={
            "login": user,
            "password": PASSWORDS[user],
            "csrf_token": page[i : page.index('"', i)],
        },
    )
    assert r.status_code == 303


def test_live_stream_announces_new_data(seeded: Store):
    app = make_app(seeded, live_poll_s=0.2)
    with serve(app) as url, httpx.Client(base_url=url, timeout=10) as c:
        assert c.get("/api/installations/CDB001/live").status_code == 401
        _login(c, "alice")
        assert c.get("/api/installations/CDB002/live").status_code == 404
        with c.stream("GET", "/api/installations/CDB001/live") as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            assert "script-src 'self'" in r.headers["content-security-policy"]
            lines = r.iter_lines()
            first = next(_events(lines, time.monotonic() + 5))
            assert first[0] == "hello"
            start = now_ts() - now_ts() % 8 - 80
            write_power(seeded, "CDB001", synthetic_power(start, start + 80))
            t0 = time.monotonic()
            got = next(_events(lines, time.monotonic() + 10))
            assert got[0] == "data"
            assert f'"last_ts":{start + 72}' in got[1]
            assert time.monotonic() - t0 < 5
    seeded.delete_power("CDB001", start, start + 80)


# --- issue 17: streams end with their session and are capped ------------------------------------

PW = "live-stream-password"


@pytest.fixture
def members(store: Store) -> Store:
    store.replace_access([("alice", "CDB001"), ("bob", "CDB002"), ("carol", "CDB003")])
    for login in ("alice", "bob", "carol"):
        set_password(store, login, PW)
    return store


def _login_as(c: httpx.Client, user: str) -> None:
    page = c.get("/login").text
    marker = 'name="csrf-token" content="'
    i = page.index(marker) + len(marker)
    data = {"login": user, "password": PW, "csrf_token": page[i : page.index('"', i)]}
    assert c.post("/login", data=data).status_code == 303


def _csrf(c: httpx.Client) -> str:
    page = c.get("/login").text
    marker = 'name="csrf-token" content="'
    i = page.index(marker) + len(marker)
    return page[i : page.index('"', i)]


def _ends_within(r: httpx.Response, seconds: float) -> list[str]:
    """Every event name until the server closes the stream; fails after ``seconds``."""
    names, t0 = [], time.monotonic()
    for line in r.iter_lines():
        if line.startswith("event: "):
            names.append(line[7:])
        assert time.monotonic() - t0 < seconds, "the stream stayed open"
    return names


@pytest.mark.parametrize("how", ["logout", "password"])
def test_a_stream_ends_when_its_session_ends(members, how):
    app = make_app(members, live_poll_s=0.1)
    with serve(app) as url, httpx.Client(base_url=url, timeout=10) as c:
        _login_as(c, "alice")
        with c.stream("GET", "/api/installations/CDB001/live") as r:
            assert r.status_code == 200
            if how == "logout":
                with httpx.Client(base_url=url, timeout=10, cookies=c.cookies) as other:
                    token = _csrf(other)
                    assert other.post("/logout", data={"csrf_token": token}).status_code == 303
            else:
                set_password(members, "alice", "another-password-2")
            names = _ends_within(r, 5)
        assert names[0] == "hello" and names[-1] == "bye"
        assert c.get("/api/installations/CDB001/live").status_code == 401
        assert app.state.live_slots.count() == 0


def test_streams_are_capped_per_login_and_in_total(members):
    app = make_app(members, live_poll_s=0.1, live_per_login=2, live_total=3)
    with serve(app) as url, ExitStack() as stack:
        clients = {}
        for user in ("alice", "bob", "carol"):
            clients[user] = stack.enter_context(httpx.Client(base_url=url, timeout=10))
            _login_as(clients[user], user)

        def open_stream(user: str, home: str, stack: ExitStack = stack) -> httpx.Response:
            return stack.enter_context(
                clients[user].stream("GET", f"/api/installations/{home}/live")
            )

        with ExitStack() as first:
            a1 = open_stream("alice", "CDB001", first)
            a2 = open_stream("alice", "CDB001")
            assert a1.status_code == a2.status_code == 200
            r = clients["alice"].get("/api/installations/CDB001/live")
            assert r.status_code == 429 and r.json()["code"] == "live_per_login"
            assert "au plus 2 par identifiant" in r.json()["detail"]
            assert "script-src 'self'" in r.headers["content-security-policy"]
            assert open_stream("bob", "CDB002").status_code == 200
            r = clients["carol"].get("/api/installations/CDB003/live")
            assert r.status_code == 429  # 3 open in all
            assert app.state.live_slots.count() == 3
        deadline = time.monotonic() + 5  # a1 closed: its slot is free at the next poll
        while app.state.live_slots.count() > 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert open_stream("carol", "CDB003").status_code == 200
