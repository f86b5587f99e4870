"""Live updates with Server-Sent Events: ``GET /api/installations/{id}/live``.

Each connection looks for power rows newer than the last it announced every
``app.state.live_poll_s`` seconds (one cheap key-range read) and sends a ``data`` event
with the new last ts when there are; the page then refetches what it shows. The browser's EventSource reconnects by itself; every (re)connection
passes the same session and installation checks as the rest of the API.

Each poll also re-reads the session: a logout (anywhere) or a password change ends the
stream. Open streams are capped per login and in total (429 beyond), since each one costs
a store read every poll.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable

import orjson
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from vde.timeutil import now_ts
from vde.web.auth import SESSION_COOKIE
from vde.web.deps import installation, require_session

router = APIRouter(prefix="/api", dependencies=[Depends(require_session)])

#: Send a comment this often so proxies keep the connection open [s].
KEEPALIVE_S = 15.0


def _event(name: str, data: dict) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


#: How far back the first look for the newest row goes [s]; older data falls back to bounds.
RECENT_S = 86400


def newest_ts(store, installation_id: str, after: int | None) -> int | None:
    """Last power ts of an installation, reading only rows newer than ``after``.

    A range read on the primary key costs next to nothing when nothing is new, unlike
    ``power_bounds`` (MIN and MAX over every row of the installation on SQLite).
    """
    now = now_ts()
    lo = after + 1 if after is not None else now - RECENT_S
    p = store.read_power(installation_id, lo, now + RECENT_S)
    if len(p):
        return int(p.ts[-1])
    if after is None:
        bounds = store.power_bounds(installation_id)
        return bounds[1] if bounds else None
    return after


class StreamSlots:
    """Counts open live streams per login and in total (thread-safe)."""

    def __init__(self, per_login: int = 4, total: int = 64) -> None:
        self.per_login = per_login
        self.total = total
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, login: str) -> Callable[[], None]:
        """Reserve a slot for ``login`` (429 when none is left); returns its release."""
        with self._lock:
            if self._open.get(login, 0) >= self.per_login:
                raise HTTPException(
                    429,
                    f"too many live connections (at most {self.per_login} per login); "
                    "close other dashboard tabs",
                    headers={"Retry-After": "10"},
                )
            if sum(self._open.values()) >= self.total:
                raise HTTPException(429, "too many live connections", headers={"Retry-After": "30"})
            self._open[login] = self._open.get(login, 0) + 1
        released = False

        def release() -> None:
            nonlocal released
            with self._lock:
                if not released:
                    released = True
                    self._open[login] -= 1
                    if not self._open[login]:
                        del self._open[login]

        return release

    def count(self, login: str | None = None) -> int:
        with self._lock:
            return sum(self._open.values()) if login is None else self._open.get(login, 0)


class _SlotResponse(StreamingResponse):
    """A stream that gives its slot back however it ends (even if never started)."""

    def __init__(self, content: AsyncIterator[bytes], release: Callable[[], None], **kw) -> None:
        super().__init__(content, **kw)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


def _poll(request: Request, cookie: str | None, installation_id: str, last: int | None):
    """(session still valid, newest ts): one thread hop per poll."""
    state = request.app.state
    if state.sessions.load(state.store, cookie) is None:
        return False, last
    return True, newest_ts(state.store, installation_id, last)


async def _stream(request: Request, installation_id: str) -> AsyncIterator[bytes]:
    store = request.app.state.store
    poll = request.app.state.live_poll_s
    cookie = request.cookies.get(SESSION_COOKIE)
    last = await run_in_threadpool(newest_ts, store, installation_id, None)
    # retry: reconnect after 3 s when the connection drops
    yield b"retry: 3000\n" + _event("hello", {"last_ts": last})
    quiet = 0.0
    while not await request.is_disconnected():
        await asyncio.sleep(poll)
        valid, newest = await run_in_threadpool(_poll, request, cookie, installation_id, last)
        if not valid:  # logged out or password changed: the reconnection gets 401
            yield _event("bye", {"reason": "session ended"})
            return
        if newest is not None and (last is None or newest > last):
            last = newest
            quiet = 0.0
            yield _event("data", {"last_ts": last})
        else:
            quiet += poll
            if quiet >= KEEPALIVE_S:
                quiet = 0.0
                yield b": keepalive\n\n"


@router.get(
    "/installations/{installation_id}/live",
    summary="Server-Sent Events: 'data' with the last ts whenever new power lands",
    response_class=StreamingResponse,
)
def live(request: Request, installation_id: str) -> StreamingResponse:
    installation(request, installation_id)  # 404 before the stream starts
    release = request.app.state.live_slots.take(require_session(request).login)
    return _SlotResponse(
        _stream(request, installation_id),
        release,
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )
