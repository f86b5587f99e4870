"""Fixtures: the tiny tmpo API of ``tmpo_fake`` served on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tmpo_fake import TmpoServer, serve


@pytest.fixture
def tmpo_server() -> Iterator[TmpoServer]:
    yield from serve(TmpoServer())


@pytest.fixture(params=["start", "end", "tuple"])
def any_tmpo_server(request: pytest.FixtureRequest) -> Iterator[TmpoServer]:
    """The server under each reading of "newer than the named block"."""
    yield from serve(TmpoServer(newer=request.param))
