"""Live updates with Server-Sent Events: ``GET /api/installations/{id}/live``.

Each connection looks at the installation's last power ts every ``app.state.live_poll_s``
seconds (one cheap bounds query) and sends a ``data`` event when it moves; the page then
refetches what it shows. The browser's EventSource reconnects by itself; every (re)connection
passes the same session and installation checks as the rest of the API.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from vde.web.deps import installation, require_session

router = APIRouter(prefix="/api", dependencies=[Depends(require_session)])

#: Send a comment this often so proxies keep the connection open [s].
KEEPALIVE_S = 15.0


def _event(name: str, data: dict) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


async def _stream(request: Request, installation_id: str) -> AsyncIterator[bytes]:
    store = request.app.state.store
    poll = request.app.state.live_poll_s
    bounds = await run_in_threadpool(store.power_bounds, installation_id)
    last = bounds[1] if bounds else None
    # retry: reconnect after 3 s when the connection drops
    yield b"retry: 3000\n" + _event("hello", {"last_ts": last})
    quiet = 0.0
    while not await request.is_disconnected():
        await asyncio.sleep(poll)
        bounds = await run_in_threadpool(store.power_bounds, installation_id)
        now_last = bounds[1] if bounds else None
        if now_last is not None and (last is None or now_last > last):
            last = now_last
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
