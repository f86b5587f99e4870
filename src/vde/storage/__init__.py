"""Storage: the Store interface and its two backends, chosen by URL.

    >>> from vde.storage import open_store
    >>> with open_store("sqlite:///vde.db") as store:
    ...     store.create_schema()

Backends are imported only when used, so SQLite users never load the Cassandra driver.
"""

from __future__ import annotations

from vde.storage.base import SCHEMA_VERSION, TABLES, Store
from vde.storage.url import DbUrl, parse_url

__all__ = ["SCHEMA_VERSION", "TABLES", "DbUrl", "Store", "open_store", "parse_url", "redact_url"]


def open_store(url: str, *, connect_timeout: float = 10.0) -> Store:
    """Open the database named by ``url``.

    ``sqlite:///vde.db`` (relative to the working folder), ``sqlite:////abs/path.db`` or
    ``cassandra://[user:password@]host1,host2[:port]/keyspace[?options]`` — options:
    ``replication_factor``, ``replication=NetworkTopologyStrategy&dc1=3``, ``consistency``,
    ``local_dc``, ``ssl=true&ca=/path``, ``timeout`` [s].

    The schema is not created here (``store.create_schema()`` or ``vde db create``).
    Raises StorageError, naming the URL without its password, when the URL is malformed or
    the database cannot be reached.
    """
    parsed = parse_url(url)
    if parsed.scheme == "sqlite":
        from vde.storage.sqlite import SQLiteStore

        return SQLiteStore(parsed)
    from vde.storage.cassandra import CassandraStore

    return CassandraStore(parsed, connect_timeout=connect_timeout)


def redact_url(url: str) -> str:
    """``url`` as it may be shown (password removed), even when it does not parse."""
    from vde.errors import StorageError
    from vde.storage.url import _strip_password

    try:
        return parse_url(url).redacted
    except StorageError:
        return _strip_password(url)
