"""Fixtures every test area uses.

- ``store``: a fresh, empty, schema-created Store per test, parametrized over
  ``sqlite`` (a file in tmp_path) and ``cassandra`` (the session's real node), or only
  the backends a ``@pytest.mark.backends(...)`` marker names (see
  ``pytest_generate_tests``: a scenario the storage contract suite already covers on both
  backends runs once, on SQLite);
- ``store_url``: the URL string of such a fresh store (for CLI / subprocess tests);
- ``sqlite_store`` / ``cassandra_store``: one backend only;
- ``cassandra_node``: (host, port) of the node started once per session — once per run
  under pytest-xdist, shared by the workers — or the running node named by env
  ``VDE_TEST_CASSANDRA=host:port``.

Cassandra isolation: one keyspace per test process (each xdist worker has its own; created
once, dropped at the end) and TRUNCATE of the tables a test wrote between tests, which is
far faster than a keyspace per test (~0.1-0.4 s per test against ~10 s for a keyspace). ``store`` only knows what was
written through it: a test that opens other connections to the same database (another
process, ``open_store(store.url)``) should use ``store_url``, which empties every table.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from vde.storage import TABLES, Store, open_store

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ["sqlite", "cassandra"]
NODE_INFO = "cassandra-node.json"  # where the xdist run's shared node listens


def _import_node_script():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import cassandra_node
    finally:
        sys.path.pop(0)
    return cassandra_node


@pytest.fixture(scope="session")
def cassandra_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """(host, port) of a real Cassandra node, started once for the session.

    Never skipped: if the node cannot start, every test that needs it fails with the
    reason and the tail of the node's log.
    """
    given = os.environ.get("VDE_TEST_CASSANDRA")
    if given:
        host, _, port = given.rpartition(":")
        yield (host or "127.0.0.1", int(port))
        return
    node_mod = _import_node_script()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        yield _shared_node(node_mod, tmp_path_factory.getbasetemp().parent)
        return
    run_dir = tmp_path_factory.mktemp("cassandra")
    try:
        node = node_mod.start(run_dir=run_dir)
    except node_mod.NodeError as exc:
        pytest.fail(f"the Cassandra node could not start: {exc}", pytrace=False)
    try:
        yield (node.host, node.port)
    finally:
        node.stop()


def _shared_node(node_mod, shared: Path) -> tuple[str, int]:
    """pytest-xdist: one node for every worker (each still has its own keyspace).

    The first worker that needs it starts it, under a file lock, in the run's shared temp
    folder and writes where it listens; the others wait for the lock and read that. The
    controller stops it when the run ends (``pytest_sessionfinish`` below).
    """
    info = shared / NODE_INFO
    with open(shared / "cassandra-node.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not info.exists():
            run_dir = shared / "cassandra"
            run_dir.mkdir(exist_ok=True)
            try:
                node = node_mod.start(run_dir=run_dir, detach=True)
            except node_mod.NodeError as exc:
                info.write_text(json.dumps({"error": str(exc)}))
            else:
                where = {"host": node.host, "port": node.port, "run_dir": str(run_dir)}
                info.write_text(json.dumps(where))
    where = json.loads(info.read_text())
    if "error" in where:
        pytest.fail(f"the Cassandra node could not start: {where['error']}", pytrace=False)
    return (where["host"], int(where["port"]))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In the xdist controller: stop the node a worker started for the whole run."""
    if hasattr(session.config, "workerinput") or os.environ.get("VDE_TEST_CASSANDRA"):
        return
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    info = factory.getbasetemp() / NODE_INFO
    if info.exists():
        where = json.loads(info.read_text())
        if "run_dir" in where:
            _import_node_script().stop_dir(where["run_dir"])


#: a ``slow`` test weighs this many ordinary ones when files are ordered for xdist
SLOW_WEIGHT = 30


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the test files heaviest first (tests in a file keep their order).

    ``make test`` hands whole files to the xdist workers in collection order
    (``--dist loadfile --no-loadscope-reorder``): the files of a few ``slow`` tests go out
    first, so the run does not end with one worker on a long file while the other idles.
    Weight of a file: its tests, a ``slow`` one counting ``SLOW_WEIGHT``.
    """
    weight: dict[str, int] = {}
    for item in items:
        w = SLOW_WEIGHT if item.get_closest_marker("slow") else 1
        weight[item.nodeid.split("::")[0]] = weight.get(item.nodeid.split("::")[0], 0) + w
    items.sort(key=lambda item: -weight[item.nodeid.split("::")[0]])  # stable


@pytest.fixture(scope="session")
def _cassandra_session_store(cassandra_node: tuple[str, int]) -> Iterator[Store]:
    host, port = cassandra_node
    keyspace = f"vde_test_{os.getpid()}"
    url = f"cassandra://{host}:{port}/{keyspace}"
    # make test-cluster: RF 3 and LOCAL_QUORUM (e.g. "?replication=...&consistency=...")
    url += os.environ.get("VDE_TEST_CASSANDRA_OPTIONS", "")
    store = open_store(url)
    store.create_schema()
    # tests share this one connection: a test's `with store:` or store.close() must not
    # shut it down for the tests after it, so close is a no-op until the session ends
    real_close = store.close
    store.close = lambda: None  # type: ignore[method-assign]
    try:
        yield store
    finally:
        store.drop_keyspace()
        real_close()


def _fresh_cassandra(shared: Store) -> Store:
    """Empty every table of the session keyspace the previous test touched."""
    shared.truncate_dirty()
    return shared


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite database with the schema, made once: tests get a copy of the file.

    Copying is ~15x faster than ``create_schema`` (17 tables) and gives the same database.
    """
    path = tmp_path_factory.mktemp("sqlite-template") / "vde.db"
    with open_store(f"sqlite:///{path}") as s:
        s.create_schema()
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")  # one self-contained file to copy
    return path


def _fresh_sqlite_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of a new, empty, schema-created SQLite file in tmp_path (a copy of the template)."""
    target = tmp_path / "vde.db"
    shutil.copyfile(request.getfixturevalue("_sqlite_template"), target)
    return f"sqlite:///{target}"


@pytest.fixture
def sqlite_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh SQLite store (file in tmp_path) with the schema created."""
    with open_store(_fresh_sqlite_url(request, tmp_path)) as store:
        yield store


@pytest.fixture
def cassandra_store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """A fresh, empty, schema-created Cassandra store only (marks the test ``cassandra``)."""
    request.applymarker(pytest.mark.cassandra)
    shared = request.getfixturevalue("_cassandra_session_store")
    shared.truncate_all()
    yield shared
    shared.truncate_dirty()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``backend`` (so ``store`` / ``store_url``): both backends by default, or
    those the closest ``@pytest.mark.backends(...)`` names (test, class or module).

    A scenario whose backend part the storage contract suite (tests/storage, the ``store``
    fixture on both) already proves runs once, on SQLite: ``backends("sqlite")``.
    """
    if "backend" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("backends")
    names = list(marker.args) if marker else BACKENDS
    unknown = sorted(set(names) - set(BACKENDS))
    if not names or unknown:
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: backends{tuple(names)}: choose among {BACKENDS}"
        )
    metafunc.parametrize("backend", names, ids=names, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The backend name of the parametrized store / store_url fixtures."""
    if request.param == "cassandra":
        request.applymarker(pytest.mark.cassandra)
    return request.param


@pytest.fixture
def store(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh, empty, schema-created Store, once per backend."""
    if backend == "sqlite":
        with open_store(_fresh_sqlite_url(request, tmp_path)) as s:
            yield s
        return
    shared = request.getfixturevalue("_cassandra_session_store")
    s = _fresh_cassandra(shared)
    yield s
    # truncate after as well, so rows never leak into a non-fixture reader of the keyspace
    s.truncate_dirty()


@pytest.fixture
def store_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh, empty, schema-created database, once per backend.

    Other processes (CLI, subprocesses) open it themselves; the Cassandra keyspace is
    emptied after the test since the fixture cannot see what they wrote.
    """
    if backend == "sqlite":
        yield _fresh_sqlite_url(request, tmp_path)
        return
    shared = request.getfixturevalue("_cassandra_session_store")
    shared.truncate_all()
    yield shared.url
    shared.truncate_all()


__all__ = ["TABLES"]
