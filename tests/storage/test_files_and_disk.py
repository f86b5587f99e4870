"""Files holding secrets are created 0600; a full disk is an error naming the file and cause.

The full disk is real: a 256 KiB tmpfs mounted for the test, which needs root (the suite
runs as root here); without it the disk-full tests fail and say why.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from vde.errors import StorageError
from vde.flukso.cache import BlockCache, BlockRef
from vde.storage import open_store


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_and_block_cache_are_created_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a usual umask: files would be 0644 without care
    try:
        with open_store(f"sqlite:///{tmp_path / 'vde.db'}") as store:
            store.create_schema()
            store.set_meta("k", "v")  # WAL and shared-memory files exist now
            modes = {p.name: _mode(p) for p in tmp_path.iterdir()}
        cache = BlockCache(tmp_path / "blocks" / "vde-blocks.sqlite")
        cache.store("a" * 32, BlockRef(1, 8, 256), b"x")
        modes.update({p.name: _mode(p) for p in (tmp_path / "blocks").iterdir()})
        cache.close()
    finally:
        os.umask(old)
    assert {"vde.db", "vde.db-wal", "vde.db-shm", "vde-blocks.sqlite"} <= set(modes)
    assert all(mode == 0o600 for mode in modes.values()), {k: oct(v) for k, v in modes.items()}


def test_an_existing_database_keeps_its_mode(tmp_path: Path) -> None:
    db = tmp_path / "vde.db"
    with open_store(f"sqlite:///{db}") as store:
        store.create_schema()
    db.chmod(0o640)  # an operator's choice (e.g. a group that backs it up) is kept
    with open_store(f"sqlite:///{db}") as store:
        assert store.schema_version() is not None
    assert _mode(db) == 0o640


def test_cli_creates_files_owner_only(tmp_path: Path) -> None:
    env = {**os.environ, "VDE_DATABASE": f"sqlite:///{tmp_path / 'vde.db'}"}
    vde = str(Path(sys.executable).with_name("vde"))
    out = subprocess.run(
        ["sh", "-c", f"umask 022 && {vde} db create && {vde} config template c.xlsx"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert _mode(tmp_path / "vde.db") == 0o600 and _mode(tmp_path / "c.xlsx") == 0o600


def test_systemd_units_set_umask() -> None:
    units = sorted(Path(__file__).parents[2].joinpath("deploy").glob("*.service"))
    assert units
    for unit in units:
        assert "\nUMask=0077\n" in unit.read_text(), unit.name


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB filesystem of its own (tmpfs)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.fail("this test mounts a tmpfs: run the suite as root")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def test_full_disk_names_the_database_and_the_cause(tiny_disk: Path) -> None:
    db = tiny_disk / "vde.db"
    with open_store(f"sqlite:///{db}") as store:
        store.create_schema()
        with pytest.raises(StorageError) as exc:
            for i in range(100):
                store.set_meta(f"k{i}", os.urandom(20_000).hex())
    message = str(exc.value)
    assert str(db) in message and "database or disk is full" in message
    assert "cannot rollback" not in message


def test_full_disk_names_the_block_cache_and_the_cause(tiny_disk: Path) -> None:
    path = tiny_disk / "vde-blocks.sqlite"
    cache = BlockCache(path)
    with pytest.raises(StorageError) as exc:
        for i in range(100):
            cache.store("a" * 32, BlockRef(1, 8, 256 * (i + 1)), os.urandom(30_000))
    cache.close()
    message = str(exc.value)
    assert f"block cache {path}" in message and "database or disk is full" in message
    assert "cannot rollback" not in message
