"""Database URLs: ``sqlite:///path/vde.db`` and ``cassandra://user:pw@h1,h2:9042/ks?opts``.

Parsing is strict: an unknown scheme, option or malformed value raises StorageError naming
the URL (always without its password) and what to write instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote

from vde.errors import StorageError

DEFAULT_PORT = 9042
DEFAULT_KEYSPACE = "flukso"

CONSISTENCY_LEVELS = (
    "ONE",
    "TWO",
    "THREE",
    "QUORUM",
    "ALL",
    "LOCAL_QUORUM",
    "EACH_QUORUM",
    "LOCAL_ONE",
)

# Cassandra query options understood besides per-DC replication counts (dc_name=N).
_CASSANDRA_OPTS = {
    "replication",
    "replication_factor",
    "consistency",
    "serial_consistency",
    "local_dc",
    "ssl",
    "ca",
    "certfile",
    "keyfile",
    "timeout",
    "username",
    "password",
}
_EXAMPLES = (
    "use sqlite:///vde.db (relative), sqlite:////abs/path/vde.db, or "
    "cassandra://host1,host2:9042/flukso?replication_factor=1"
)


@dataclass(frozen=True)
class DbUrl:
    """A parsed database URL. ``password`` never appears in ``redacted``/``repr``."""

    scheme: str
    path: Path | None = None  # sqlite
    hosts: tuple[str, ...] = ()  # cassandra
    port: int = DEFAULT_PORT
    keyspace: str = DEFAULT_KEYSPACE
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    options: dict[str, str] = field(default_factory=dict)

    @property
    def redacted(self) -> str:
        """The URL as it may be shown: password replaced by ``***``."""
        if self.scheme == "sqlite":
            return f"sqlite:///{self.path}"
        auth = ""
        if self.username:
            auth = self.username + (":***" if self.password else "") + "@"
        query = "&".join(f"{k}={v}" for k, v in self.options.items() if k != "password")
        return f"cassandra://{auth}{','.join(self.hosts)}:{self.port}/{self.keyspace}" + (
            f"?{query}" if query else ""
        )

    # --- cassandra helpers --------------------------------------------------------------------
    def replication(self) -> dict[str, str | int]:
        """Replication map for CREATE KEYSPACE (SimpleStrategy rf=1 by default)."""
        opts = self.options
        strategy = opts.get("replication", "SimpleStrategy")
        if strategy not in ("SimpleStrategy", "NetworkTopologyStrategy"):
            raise StorageError(
                f"bad replication '{strategy}' in {self.redacted}: "
                "use SimpleStrategy or NetworkTopologyStrategy"
            )
        if strategy == "SimpleStrategy":
            return {"class": strategy, "replication_factor": _int(self, "replication_factor", 1)}
        dcs = {k: v for k, v in opts.items() if k not in _CASSANDRA_OPTS}
        if not dcs:
            raise StorageError(
                f"NetworkTopologyStrategy needs data centre counts in {self.redacted}, "
                "e.g. ?replication=NetworkTopologyStrategy&dc1=3"
            )
        return {"class": strategy, **{dc: _int(self, dc, 1) for dc in dcs}}

    def consistency(self, key: str = "consistency", default: str = "LOCAL_ONE") -> str:
        level = self.options.get(key, default).upper()
        allowed = CONSISTENCY_LEVELS if key == "consistency" else ("SERIAL", "LOCAL_SERIAL")
        if level not in allowed:
            raise StorageError(
                f"bad {key} '{level}' in {self.redacted}: use one of {', '.join(allowed)}"
            )
        return level

    def flag(self, key: str) -> bool:
        return self.options.get(key, "false").lower() in ("1", "true", "yes", "on")


def _int(url: DbUrl, key: str, default: int) -> int:
    raw = url.options.get(key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise StorageError(f"option {key}={raw!r} in {url.redacted} must be an integer") from None
    if value < 1:
        raise StorageError(f"option {key}={raw!r} in {url.redacted} must be >= 1")
    return value


# user:password@ before the first / ? or # (the password may itself hold '@' or ':')
_AUTH = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*:/*)?(?P<user>[^:/?#@]*):(?P<pw>[^/?#]*)@")
_QUERY_PW = re.compile(r"(?i)([?&;]password=)[^&;#]*")


def _strip_password(url: str) -> str:
    """Redaction of a URL, parsed or not (for error messages): every password is ``***``.

    Covers ``user:password@host`` (also with a malformed scheme such as ``cassandra:/``)
    and a ``password=`` query option.
    """
    text = _QUERY_PW.sub(r"\1***", str(url))
    return _AUTH.sub(lambda m: f"{m['head'] or ''}{m['user']}:***@", text, count=1)


def _check_numbers(options: dict[str, str], shown: str) -> None:
    """Options the driver would choke on later with a bare traceback."""
    if "timeout" in options:
        try:
            ok = float(options["timeout"]) > 0
        except ValueError:
            ok = False
        if not ok:
            raise StorageError(
                f"option timeout={options['timeout']!r} in '{shown}' must be a number of seconds > 0"
            )


def parse_url(url: str) -> DbUrl:
    """Parse a database URL; raises StorageError on anything malformed."""
    if not isinstance(url, str) or "://" not in url:
        raise StorageError(f"bad database URL '{_strip_password(str(url))}': {_EXAMPLES}")
    scheme, rest = url.split("://", 1)
    scheme = scheme.lower()
    if scheme == "sqlite":
        return _parse_sqlite(_strip_password(url), rest)
    if scheme == "cassandra":
        return _parse_cassandra(url, rest)
    raise StorageError(
        f"unknown database scheme '{scheme}' in '{_strip_password(url)}': {_EXAMPLES}"
    )


def _parse_sqlite(url: str, rest: str) -> DbUrl:
    # sqlite:///rel/path -> rest "/rel/path"; sqlite:////abs -> rest "//abs"
    if not rest.startswith("/") or "?" in rest:
        raise StorageError(f"bad SQLite URL '{url}': {_EXAMPLES}")
    path = rest[1:]
    if not path or path.endswith("/"):
        raise StorageError(f"SQLite URL '{url}' names no file: {_EXAMPLES}")
    return DbUrl(scheme="sqlite", path=Path(unquote(path)))


def _parse_cassandra(url: str, rest: str) -> DbUrl:
    shown = _strip_password(url)
    query = ""
    if "?" in rest:
        rest, query = rest.split("?", 1)
    netloc, _, keyspace = rest.partition("/")
    keyspace = keyspace.strip("/") or DEFAULT_KEYSPACE
    if not keyspace.replace("_", "").isalnum() or not keyspace[0].isalpha() or len(keyspace) > 48:
        raise StorageError(
            f"bad keyspace '{keyspace}' in '{shown}': letters, digits and _ only, starting with a letter"
        )
    username = password = None
    if "@" in netloc:
        auth, netloc = netloc.rsplit("@", 1)
        user, _, pw = auth.partition(":")
        username, password = unquote(user) or None, unquote(pw) or None
    if not netloc:
        raise StorageError(f"Cassandra URL '{shown}' names no host: {_EXAMPLES}")
    hosts: list[str] = []
    port = DEFAULT_PORT
    for part in netloc.split(","):
        host, sep, p = part.rpartition(":") if ":" in part else (part, "", "")
        if sep:
            try:
                port = int(p)
            except ValueError:
                raise StorageError(f"bad port '{p}' in '{shown}'") from None
            if not 0 < port < 65536:
                raise StorageError(f"bad port '{p}' in '{shown}'")
        if not host:
            raise StorageError(f"empty host in '{shown}': {_EXAMPLES}")
        hosts.append(host)
    options: dict[str, str] = {}
    for k, v in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        options[k] = v
    if "username" in options:
        username = options["username"]
    if "password" in options:
        password = options.pop("password")
    _check_numbers(options, shown)
    known_dc = options.get("replication") == "NetworkTopologyStrategy"
    unknown = [k for k in options if k not in _CASSANDRA_OPTS and not known_dc]
    if unknown:
        raise StorageError(
            f"unknown option(s) {', '.join(unknown)} in '{shown}': known are "
            + ", ".join(sorted(_CASSANDRA_OPTS - {"password"}))
            + " (and dc_name=N with replication=NetworkTopologyStrategy)"
        )
    parsed = DbUrl(
        scheme="cassandra",
        hosts=tuple(hosts),
        port=port,
        keyspace=keyspace,
        username=username,
        password=password,
        options=options,
    )
    parsed.replication()  # validate early
    parsed.consistency()
    parsed.consistency("serial_consistency", "SERIAL")
    return parsed
