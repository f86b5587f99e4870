"""Fixtures of the storage tests (the shared ones live in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from vde.storage import Store, open_store


@pytest.fixture
def other_store(store: Store) -> Iterator[Store]:
    """A second Store on the same database as ``store`` (another connection, another owner)."""
    with open_store(store.url) as other:
        yield other
        if store.backend == "cassandra":
            # let the fixture truncate what this second connection wrote too
            store._dirty |= other._dirty
