"""Fixtures: the tiny tmpo API of ``tmpo_fake`` served on 127.0.0.1."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest
from tmpo_fake import TmpoServer, make_ca_and_server_cert, serve


@pytest.fixture
def tmpo_server() -> Iterator[TmpoServer]:
    yield from serve(TmpoServer())


@pytest.fixture(params=["start", "end", "tuple"])
def any_tmpo_server(request: pytest.FixtureRequest) -> Iterator[TmpoServer]:
    """The server under each reading of "newer than the named block"."""
    yield from serve(TmpoServer(newer=request.param))


@pytest.fixture
def tls_tmpo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TmpoServer]:
    """The server over HTTPS with a certificate of a private CA; ``server.ca_bundle``."""
    ca, cert, key = make_ca_and_server_cert(tmp_path_factory.mktemp("tls"))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server = TmpoServer()
    server.ca_bundle = ca
    yield from serve(server, tls=ctx)
