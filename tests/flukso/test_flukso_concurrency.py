"""Adaptive fetch concurrency and HTTP/2, against the simulator over real HTTP(S).

The limit grows under a server that keeps up, halves on 429 (the simulator's
``maxinflight`` switch) and 5xx (``burst500``), and every series still equals the meters'
truth. HTTP/2 is proven from both ends: the client's responses and the server's ASGI
scopes name the version, over TLS with ALPN on hypercorn.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest
import trustme
from hypothesis import given, settings
from hypothesis import strategies as st

from vde.flukso import FluksoClient
from vde.flukso.concurrency import AdaptiveLimit
from vde.settings import Settings
from vde.simulator import Faults, Fleet, serve_in_thread

NOW = 1_795_000_000 - 1_795_000_000 % 256
WINDOW = 1024  # [s] fetched per sensor: a few blocks each, many requests in all


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return Fleet.generate(homes=6, seed=21, start_ts=NOW - 6 * 3600, now_ts=NOW)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(CA bundle the client trusts, server certificate chain + key) for 127.0.0.1."""
    folder = tmp_path_factory.mktemp("h2")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    cert.private_key_and_cert_chain_pem.write_to_path(str(folder / "server.pem"))
    return folder / "ca.pem", folder / "server.pem"


def _fetch(url: str, fleet: Fleet, tmp_path: Path, **kw) -> tuple[FluksoClient, list]:
    """Every sensor's last WINDOW seconds at once; (the closed client, the series)."""

    async def go() -> tuple[FluksoClient, list]:
        async with FluksoClient(
            url, cache_path=tmp_path / "blocks.sqlite", backoff=0.02, retries=12, **kw
        ) as client:
            calls = [client.series(s.sensor_id, s.token, NOW - WINDOW, NOW) for s in fleet.sensors]
            return client, await asyncio.gather(*calls)

    return asyncio.run(go())


def _assert_truth(fleet: Fleet, series: list) -> None:
    end = NOW - NOW % 256  # the meter's open block is not served yet
    for s, got in zip(fleet.sensors, series, strict=True):
        ts, counter, _ = fleet.counter_truth(s.sensor_id, NOW - WINDOW, end)
        np.testing.assert_array_equal(got.ts, ts)
        np.testing.assert_allclose(got.counter_wh, counter, rtol=0, atol=5e-7)


def test_limit_rises_while_the_server_keeps_up(fleet: Fleet, tmp_path: Path) -> None:
    # 0.1 s of API latency: this host's own load stays small beside it (flat latency)
    with serve_in_thread(fleet, Faults(latency=0.1)) as srv:
        client, series = _fetch(srv.url, fleet, tmp_path, concurrency=2, concurrency_max=24)
        requests = srv.stats.count()
    st = client.limiter.stats()
    assert st.decreases == 0
    assert st.peak >= 8, st  # slow start from 2: doubled at least twice
    assert st.peak <= 24 and requests > 3 * st.peak
    assert client.http_versions == {"HTTP/1.1": requests}
    _assert_truth(fleet, series)


def test_limit_falls_back_on_429_from_a_server_capping_requests_in_flight(
    fleet: Fleet, tmp_path: Path
) -> None:
    cap = 5
    with serve_in_thread(fleet, Faults(latency=0.05, max_inflight=cap)) as srv:
        client, series = _fetch(srv.url, fleet, tmp_path, concurrency=32, concurrency_max=32)
        refused = srv.stats.count(status=429)
    st = client.limiter.stats()
    assert refused > 0 and st.decreases > 0
    assert st.limit <= 2 * cap, st  # settled near what the server takes, not at 32
    _assert_truth(fleet, series)  # every refused request was retried to success


def test_limit_falls_back_on_503_bursts(fleet: Fleet, tmp_path: Path) -> None:
    with serve_in_thread(fleet, Faults(latency=0.02, burst500=0.25, seed=5)) as srv:
        client, series = _fetch(srv.url, fleet, tmp_path, concurrency=24, concurrency_max=24)
        errors = srv.stats.count(status=503) + srv.stats.count(status=500)
    st = client.limiter.stats()
    assert errors > 0 and st.decreases > 0
    assert st.limit < 24, st
    _assert_truth(fleet, series)


def test_http2_over_tls_when_the_server_offers_it(
    fleet: Fleet, tmp_path: Path, tls_files: tuple[Path, Path]
) -> None:
    ca, server_pem = tls_files
    with serve_in_thread(fleet, Faults(latency=0.02), tls=(server_pem, server_pem)) as srv:
        assert srv.url.startswith("https://")
        client, series = _fetch(srv.url, fleet, tmp_path / "h2", ca_bundle=ca, concurrency=8)
        served = dict(srv.app.http_versions)
        client1, series1 = _fetch(
            srv.url, fleet, tmp_path / "h1", ca_bundle=ca, concurrency=8, http2=False
        )
        served1 = {k: v - served.get(k, 0) for k, v in srv.app.http_versions.items()}
    n = sum(served.values())
    assert n > len(fleet.sensors)
    assert served == {"2": n} and client.http_versions == {"HTTP/2": n}
    m = sum(served1.values())
    assert served1 == {"1.1": m, "2": 0} and client1.http_versions == {"HTTP/1.1": m}
    _assert_truth(fleet, series)
    _assert_truth(fleet, series1)


def test_settings_set_the_start_and_the_ceiling_of_the_limit() -> None:
    s = Settings(flukso_concurrency=3, flukso_concurrency_max=40, flukso_http2=False)

    async def go() -> tuple[int, int]:
        async with FluksoClient.from_settings(s, cache_path=None) as client:
            return client.limiter.limit, client.max_in_flight

    assert asyncio.run(go()) == (3, 40)
    # a ceiling below the start is no ceiling: the start wins
    assert AdaptiveLimit(16, 4).limit == 4 and AdaptiveLimit(16, 4).maximum == 4


events = st.lists(
    st.tuples(st.floats(0.001, 5.0), st.booleans(), st.integers(1, 300)), max_size=200
)


@settings(max_examples=60, deadline=None)
@given(start=st.integers(1, 300), most=st.integers(1, 300), seq=events)
def test_limit_stays_between_one_and_the_maximum(start: int, most: int, seq: list) -> None:
    lim = AdaptiveLimit(start, most)
    for latency, congested, busy in seq:
        if congested:
            lim._last_decrease = time.monotonic() - 10  # every signal counts here
            lim._on_congestion()
        else:
            lim._on_success(latency, busy)
        assert 1 <= lim.limit <= max(1, most)
        assert lim.stats().peak <= max(1, most)


def test_requests_in_flight_never_exceed_the_limit() -> None:
    async def go() -> int:
        # the latency rule is not under test here (a loaded host makes sleeps uneven)
        lim = AdaptiveLimit(3, 50, latency_tolerance=1e6)
        most = 0

        async def one(i: int) -> None:
            nonlocal most
            async with lim.slot() as slot:
                most = max(most, lim.in_flight)
                assert lim.in_flight <= lim.limit
                await asyncio.sleep(0.001 * (1 + i % 3))
                if i % 17 == 16:
                    slot.congested()

        await asyncio.gather(*(one(i) for i in range(300)))
        assert lim.in_flight == 0
        return most

    assert asyncio.run(go()) > 3  # it grew, and the bound held all along
