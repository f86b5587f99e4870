"""Tests that need the 3-node cluster of ``make test-cluster`` (tests/cluster/run.py).

``make test`` never runs them: unless ``VDE_TEST_CLUSTER`` names the cluster's run folder
(``run.py`` sets it), this folder is not even collected.
"""

from __future__ import annotations

import os
from pathlib import Path


def pytest_ignore_collect(collection_path: Path, config) -> bool | None:
    if not os.environ.get("VDE_TEST_CLUSTER"):
        return True
    return None
