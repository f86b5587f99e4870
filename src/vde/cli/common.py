"""Options and helpers shared by the sub-commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from vde.settings import Settings, load_settings

db_option = click.option(
    "--db",
    "db_url",
    default=None,
    metavar="URL",
    help="Database URL (sqlite:///path/vde.db or cassandra://host:9042/keyspace). "
    "Default: env VDE_DATABASE, then vde.toml, then sqlite:///vde.db.",
)


def settings_from(**overrides: Any) -> Settings:
    """Settings with CLI overrides; ``db_url`` maps to ``database``."""
    if "db_url" in overrides:
        overrides["database"] = overrides.pop("db_url")
    return load_settings(**overrides)


def open_store_from(db_url: str | None):  # -> vde.storage.Store
    """Open the store named by --db / settings. The caller closes it."""
    from vde.storage import open_store

    settings = settings_from(db_url=db_url)
    return open_store(settings.database)


def with_store(fn: Callable) -> Callable:
    """Decorator: turns ``db_url`` into an opened ``store`` argument and closes it after."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, db_url: str | None = None, **kwargs: Any) -> Any:
        store = open_store_from(db_url)
        try:
            return fn(*args, store=store, **kwargs)
        finally:
            store.close()

    return wrapper


def log_options(fn: Callable) -> Callable:
    """Decorator: ``--log-file PATH`` and ``--verbose`` for long-running commands.

    With a log file, every log line goes there and the terminal shows warnings, status
    lines and progress only (everything with --verbose). The command receives neither
    option; a command with its own default file calls ``vde.logs.configure`` itself.
    """
    import functools

    @click.option(
        "--log-file",
        default=None,
        metavar="PATH",
        help="Write the log there; the terminal then gets warnings and status lines only.",
    )
    @click.option("-v", "--verbose", is_flag=True, help="Every log line on the terminal as well.")
    @functools.wraps(fn)
    def wrapper(*args: Any, log_file: str | None = None, verbose: bool = False, **kw: Any) -> Any:
        from vde import logs

        if log_file is not None or verbose:
            logs.configure(log_file=log_file, verbose=verbose, keep=True)
        return fn(*args, **kw)

    return wrapper
