"""Adaptive bound on the Flukso requests in flight (AIMD, as TCP does with its window).

The limit starts at ``initial`` and grows while the API keeps up: by one per successful
request in *slow start* (it doubles every round trip) and by ``1/limit`` per success once
the API pushed back at least once (about one per round trip). It grows only while the
latency stays flat (the smoothed latency within ``latency_tolerance`` times the lowest
seen: a queue building up at the server, or a saturated CPU here, raises it) and while
the requests actually fill the limit (an idle client learns nothing). A 429, a 5xx, a
timeout or a dropped connection halves it, at most once per round trip (one burst of
failures is one signal), never below 1 and never above ``maximum``.

:class:`Lanes` spreads the requests over several httpx clients of a few connections each:
httpcore's pool scans every connection of its pool (a socket poll each) whenever a
request starts or ends, so one pool of 64 HTTP/1.1 connections spends more CPU there than
the rest of a sync does (measured: 11 of 29 s of a profiled incremental sync).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

#: smoothing of the latency average (weight of the newest sample)
EWMA_WEIGHT = 0.1
#: connections per httpx client (lane)
LANE_CONNECTIONS = 8


@dataclass(frozen=True)
class LimitStats:
    """What the limiter did so far."""

    limit: int  # current limit [requests]
    peak: int  # highest limit reached [requests]
    decreases: int  # halvings (one per congestion signal)
    min_latency_s: float | None  # lowest request latency seen [s]
    ewma_latency_s: float | None  # smoothed request latency [s]


class AdaptiveLimit:
    """An asyncio bound on requests in flight whose size adapts (see the module docstring).

    Use ``async with limiter.slot() as slot:`` around one request, then call
    ``slot.congested()`` if the answer was a 429/5xx/timeout (the success is recorded
    otherwise when the block exits).
    """

    def __init__(
        self, initial: int, maximum: int, *, latency_tolerance: float = 2.0, minimum: int = 1
    ) -> None:
        if maximum < 1 or minimum < 1:
            raise ValueError("concurrency limits must be at least 1")
        self.maximum = int(maximum)
        self.minimum = min(int(minimum), self.maximum)
        self.latency_tolerance = float(latency_tolerance)
        self._limit = float(max(self.minimum, min(int(initial), self.maximum)))
        self._ssthresh = float(self.maximum)  # slow start until the first congestion
        self._inflight = 0
        self._cond = asyncio.Condition()
        self._peak = int(self._limit)
        self._decreases = 0
        self._last_decrease = 0.0
        self._min_latency: float | None = None
        self._ewma: float | None = None

    @property
    def limit(self) -> int:
        """Requests allowed in flight now."""
        return int(self._limit)

    @property
    def in_flight(self) -> int:
        return self._inflight

    def stats(self) -> LimitStats:
        return LimitStats(
            limit=self.limit,
            peak=self._peak,
            decreases=self._decreases,
            min_latency_s=self._min_latency,
            ewma_latency_s=self._ewma,
        )

    def slot(self) -> _Slot:
        return _Slot(self)

    async def _acquire(self) -> None:
        async with self._cond:
            await self._cond.wait_for(lambda: self._inflight < int(self._limit))
            self._inflight += 1

    async def _release(self) -> None:
        async with self._cond:
            self._inflight -= 1
            self._cond.notify(max(1, int(self._limit) - self._inflight))

    def _on_success(self, latency: float, busy: int) -> None:
        self._min_latency = (
            latency if self._min_latency is None else min(self._min_latency, latency)
        )
        self._ewma = (
            latency if self._ewma is None else self._ewma + EWMA_WEIGHT * (latency - self._ewma)
        )
        if busy < int(self._limit):  # the limit was not the bottleneck: no evidence
            return
        if self._ewma > self.latency_tolerance * self._min_latency:
            return  # latency rising: the API (or this host) is queueing; hold
        step = 1.0 if self._limit < self._ssthresh else 1.0 / self._limit
        self._limit = min(float(self.maximum), self._limit + step)
        self._peak = max(self._peak, int(self._limit))

    def _on_congestion(self) -> None:
        now = time.monotonic()
        # one halving per round trip: the failures of one burst are one signal
        if now - self._last_decrease < (self._ewma or 0.0):
            return
        self._last_decrease = now
        self._limit = max(float(self.minimum), self._limit / 2)
        self._ssthresh = max(float(self.minimum), self._limit)
        self._decreases += 1


class _Slot:
    """One request's place under the limit."""

    def __init__(self, limiter: AdaptiveLimit) -> None:
        self._lim = limiter
        self._congested = False
        self._t0 = 0.0
        self._busy = 0

    def congested(self) -> None:
        """Mark this request's answer as a congestion signal (429, 5xx, timeout, drop)."""
        self._congested = True

    async def __aenter__(self) -> _Slot:
        await self._lim._acquire()
        self._busy = self._lim.in_flight
        self._t0 = time.perf_counter()
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        latency = time.perf_counter() - self._t0
        if self._congested:
            self._lim._on_congestion()
        elif exc_type is None:
            self._lim._on_success(latency, self._busy)
        await self._lim._release()


class Lanes:
    """httpx clients of at most ``per_lane`` connections each, ``connections`` in all.

    ``make(n)`` builds one client of ``n`` connections. Each request goes to the lane with
    the fewest requests in flight, so no lane queues while another has room.
    """

    def __init__(
        self,
        make: Callable[[int], httpx.AsyncClient],
        connections: int,
        per_lane: int = LANE_CONNECTIONS,
    ) -> None:
        count = max(1, -(-int(connections) // per_lane))
        size = -(-int(connections) // count)
        self._clients = [make(size) for _ in range(count)]
        self._busy = [0] * count

    def __len__(self) -> int:
        return len(self._clients)

    async def get(self, url: str, **kwargs: object) -> httpx.Response:
        i = min(range(len(self._busy)), key=self._busy.__getitem__)
        self._busy[i] += 1
        try:
            return await self._clients[i].get(url, **kwargs)
        finally:
            self._busy[i] -= 1

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()
