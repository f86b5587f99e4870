"""Server-Sent Events over a real uvicorn server: new power rows are announced within a
poll interval; the stream checks the session and the installation like the API."""

from __future__ import annotations

import time

import httpx

from vde.storage.base import Store
from vde.timeutil import now_ts

from .conftest import PASSWORDS, make_app, synthetic_power, write_power
from .server import serve


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
