"""Fixtures of the sharing tests: a small community in the store, an SMTP server on loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from sharing_support import Collector, Community, write_community

from vde.storage import Store


@pytest.fixture
def community(store: Store) -> Community:
    return write_community(store)


@pytest.fixture
def smtp() -> Iterator[tuple[int, Collector]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    handler = Collector()
    ctl = Controller(handler, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        yield port, handler
    finally:
        ctl.stop()
