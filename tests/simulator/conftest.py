"""Fixtures of the simulator tests: a small frozen fleet served over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from simhelpers import NOW, START

from vde.simulator import Fleet, serve_in_thread


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return Fleet.generate(homes=6, seed=7, start_ts=START, now_ts=NOW)


@pytest.fixture(scope="module")
def server(fleet: Fleet) -> Iterator:
    with serve_in_thread(fleet) as srv:
        yield srv
