"""Fixtures of the export tests: the small fleet of ``export_support`` in a store.

The export reads through the Store interface only, so the file tests share one SQLite
fleet per module (written once); ``test_export_files.py::test_export_reads_both_backends``
runs an export on each backend (``store`` fixture), and the export marks and API tokens
tables are tested on both.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from export_support import write_fleet
from sftp_server import SftpServer

from vde.storage import Store, open_store


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path = tmp_path_factory.mktemp("fleet") / "vde.db"
    store = open_store(f"sqlite:///{path}")
    store.create_schema()
    write_fleet(store)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def sftp(tmp_path: Path) -> Iterator[SftpServer]:
    """A real SFTP server on loopback serving ``tmp_path/server``; its host key is in
    ``srv.known_hosts``, the client's key in ``tmp_path/id_ed25519``."""
    import asyncssh

    root = tmp_path / "server"
    root.mkdir()
    client = asyncssh.generate_private_key("ssh-ed25519")
    (tmp_path / "id_ed25519").write_bytes(client.export_private_key())
    host = asyncssh.generate_private_key("ssh-ed25519")
    with SftpServer(
        root, client.export_public_key().decode(), host, tmp_path / "known_hosts"
    ) as srv:
        yield srv
