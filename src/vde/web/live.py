"""Live updates with Server-Sent Events: ``GET /api/installations/{id}/live``.

Each connection looks for power rows newer than the last it announced every
``app.state.live_poll_s`` seconds (one cheap key-range read) and sends a ``data`` event
with the new last ts when there are; the page then refetches what it shows. The browser's EventSource reconnects by itself; every (re)connection
passes the same session and installation checks as the rest of the API.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from vde.timeutil import now_ts
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


async def _stream(request: Request, installation_id: str) -> AsyncIterator[bytes]:
    store = request.app.state.store
    poll = request.app.state.live_poll_s
    last = await run_in_threadpool(newest_ts, store, installation_id, None)
    # retry: reconnect after 3 s when the connection drops
    yield b"retry: 3000\n" + _event("hello", {"last_ts": last})
    quiet = 0.0
    while not await request.is_disconnected():
        await asyncio.sleep(poll)
        newest = await run_in_threadpool(newest_ts, store, installation_id, last)
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
    return StreamingResponse(
        _stream(request, installation_id),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )
