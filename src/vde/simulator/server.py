"""The Flukso-compatible HTTP API of the simulator: a plain ASGI app on uvicorn.

Endpoints (those of the Flukso tmpo protocol):
``GET /sensor/{sid}/tmpo/sync?rid=&lvl=&bid=`` and ``GET /sensor/{sid}/tmpo/{rid}/{lvl}/{bid}``.
``serve_in_thread`` runs it on 127.0.0.1 in a background thread for tests and the demo:
on uvicorn (HTTP/1.1), or, given a certificate and key (``tls=``), on hypercorn over TLS
offering HTTP/2 and HTTP/1.1 by ALPN, as an API that speaks HTTP/2 does.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs

import anyio.to_thread
import orjson
import uvicorn

from vde.errors import VdeError
from vde.logs import get_logger
from vde.simulator.blocks import BlockStore, list_blocks, newer_than
from vde.simulator.faults import Faults
from vde.simulator.fleet import Fleet

log = get_logger(__name__)

_LEVELS = {8, 12, 16, 20}


class Stats:
    """Request counts per endpoint and status (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, int | str]] = Counter()

    def add(self, endpoint: str, status: int | str) -> None:
        with self._lock:
            self._counts[(endpoint, status)] += 1

    def snapshot(self) -> dict[str, dict[int | str, int]]:
        """``{endpoint: {status: count}}``; status "dropped" = closed without answer."""
        with self._lock:
            out: dict[str, dict[int | str, int]] = {}
            for (endpoint, status), n in self._counts.items():
                out.setdefault(endpoint, {})[status] = n
            return out

    def __getitem__(self, endpoint: str) -> dict[int | str, int]:
        """``stats["block"][200]``: counts of one endpoint by status."""
        return self.snapshot().get(endpoint, {})

    def count(self, endpoint: str | None = None, status: int | str | None = None) -> int:
        with self._lock:
            return sum(
                n
                for (e, st), n in self._counts.items()
                if (endpoint is None or e == endpoint) and (status is None or st == status)
            )


class SimApp:
    """ASGI application serving a fleet, with run-time switchable faults."""

    def __init__(self, fleet: Fleet, faults: Faults | None = None) -> None:
        self.fleet = fleet
        self.stats = Stats()
        self.blocks = BlockStore(fleet)
        self._seen: Counter[str] = Counter()
        self._seen_lock = threading.Lock()
        self._inflight = 0  # requests being served (the event loop's thread only)
        #: requests per HTTP version the client spoke ("1.1", "2")
        self.http_versions: Counter[str] = Counter()
        self.set_faults(faults or Faults())

    def set_faults(self, faults: Faults) -> None:
        self.faults = faults
        self.fleet.apply_faults(faults)
        self.blocks.clear()

    async def __call__(self, scope: dict, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        self.http_versions[scope.get("http_version", "1.1")] += 1
        self._inflight += 1
        try:
            await self._serve(scope, receive, send)
        finally:
            self._inflight -= 1

    async def _serve(self, scope: dict, receive, send) -> None:
        parts = scope["path"].strip("/").split("/")
        endpoint, sid = "other", None
        if len(parts) >= 4 and parts[0] == "sensor" and parts[2] == "tmpo":
            sid = parts[1]
            if len(parts) == 4 and parts[3] == "sync":
                endpoint = "sync"
            elif len(parts) == 6:
                endpoint = "block"
        url = scope["path"] + "?" + scope.get("query_string", b"").decode()
        faults = self.faults
        n = 0
        if faults.burst500 or faults.drop or faults.truncate:
            # the n-th request to a URL gets its own draw; counted only while needed
            with self._seen_lock:
                self._seen[url] += 1
                n = self._seen[url]
        hit = faults.applies_to(sid)
        if faults.max_inflight and hit and self._inflight > faults.max_inflight:
            return await self._reply(send, endpoint, 429, b"too many requests at once")
        if faults.latency > 0 and hit:
            await asyncio.sleep(faults.latency)
        if faults.drop > 0 and hit and faults.draw("drop", url, n) < faults.drop:
            self.stats.add(endpoint, "dropped")
            await _drop(receive, send)
            return
        if faults.burst500 > 0 and hit and faults.draw("burst", url, n) < faults.burst500:
            status = 500 if faults.draw("burst-code", url, n) < 0.5 else 503
            return await self._reply(send, endpoint, status, b"simulated server error")
        if endpoint == "other":
            return await self._reply(send, endpoint, 404, b"not found")
        if not self.fleet.has_sensor(sid):
            return await self._reply(send, endpoint, 404, b"unknown sensor")
        sensor = self.fleet.sensor(sid)
        token = dict(scope["headers"]).get(b"x-token", b"").decode(errors="replace")
        if token != sensor.token or faults.token_refused(sid):
            return await self._reply(send, endpoint, 401, b"wrong or missing token")
        now = self.fleet.now
        try:
            if endpoint == "sync":
                q = parse_qs(scope.get("query_string", b"").decode())
                rid, lvl, bid = (int(q.get(k, ["0"])[0]) for k in ("rid", "lvl", "bid"))
            else:
                rid, lvl, bid = int(parts[3]), int(parts[4]), int(parts[5])
        except ValueError:
            return await self._reply(send, endpoint, 400, b"rid, lvl and bid must be integers")
        blocks = list_blocks(self.fleet, sensor, now)  # cheap: < 1 ms
        if endpoint == "sync":
            listed = [
                {"rid": r, "lvl": lv, "bid": b, "ext": "gz"}
                for r, lv, b in newer_than(blocks, rid, lvl, bid)
            ]
            return await self._reply(send, endpoint, 200, orjson.dumps(listed), "application/json")
        if lvl not in _LEVELS or (rid, lvl, bid) not in set(blocks):
            return await self._reply(send, endpoint, 404, b"no such block")
        body = self.blocks.cached(sensor, rid, lvl, bid, now)
        if body is None:  # generate off the event loop so cached answers keep flowing
            body = await anyio.to_thread.run_sync(self.blocks.block, sensor, rid, lvl, bid, now)
        if faults.truncate > 0 and hit and faults.draw("truncate", url, n) < faults.truncate:
            body = body[: max(10, len(body) // 2)]
            self.stats.add(endpoint, "truncated")
        return await self._reply(send, endpoint, 200, body, "application/gzip")

    async def _reply(
        self, send, endpoint: str, status: int, body: bytes, ctype: str = "text/plain"
    ) -> None:
        self.stats.add(endpoint, status)
        headers = [(b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _drop(receive, send) -> None:
    """Close the connection without any response."""
    # uvicorn's receive is a bound method of its request cycle, which holds the transport.
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is not None:
        transport.abort()
        await asyncio.sleep(0.01)  # let connection_lost mark the cycle disconnected
        return
    # Fallback (other servers): announce a body and never send it.
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]}
    )


class SimServer:
    """A running simulator: ``url``, ``stats``, ``set_faults``, ``advance``."""

    def __init__(self, app: SimApp, url: str, stop: Callable[[], None]):
        self.app = app
        self.fleet = app.fleet
        self.url = url
        self._stop = stop

    @property
    def stats(self) -> Stats:
        return self.app.stats

    @property
    def faults(self) -> Faults:
        return self.app.faults

    def set_faults(self, faults: Faults) -> None:
        """Switch faults at run time (meter faults change the data and the truth)."""
        self.app.set_faults(faults)

    def advance(self, seconds: int) -> int:
        """Move the fleet's frozen clock forward; returns the new now."""
        return self.fleet.advance(seconds)

    def stop(self) -> None:
        self._stop()


@contextmanager
def serve_in_thread(
    fleet: Fleet,
    faults: Faults | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    tls: tuple[str | Path, str | Path] | None = None,
) -> Iterator[SimServer]:
    """Serve ``fleet`` over real HTTP in a background thread until the block exits.

    ``tls``: (certificate chain PEM, private key PEM): serve https:// on hypercorn,
    offering HTTP/2 (clients must trust the certificate's CA).
    """
    app = SimApp(fleet, faults)
    if tls is not None:
        from vde.simulator.tls import start_hypercorn

        url, stop = start_hypercorn(app, host, port, *tls)
        sim = SimServer(app, url, stop)
        log.info("simulator_started", url=url, sensors=len(fleet.sensors), tls=True)
        try:
            yield sim
        finally:
            sim.stop()
        return
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="off",
        access_log=False,
        timeout_graceful_shutdown=2,
        timeout_keep_alive=30,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True, name="vde-simulator")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        server.should_exit = True
        thread.join(timeout=5)
        raise VdeError(f"simulator could not start on {host}:{port}")
    bound = server.servers[0].sockets[0].getsockname()
    url = f"http://{bound[0]}:{bound[1]}"

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)

    sim = SimServer(app, url, stop)
    log.info("simulator_started", url=url, sensors=len(fleet.sensors))
    try:
        yield sim
    finally:
        sim.stop()
