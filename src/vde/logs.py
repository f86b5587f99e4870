"""Structured logging (structlog): key=value lines, or JSON with VDE_LOG_FORMAT=json.

Where lines go:

- with ``log_file``: every event at the log level goes to that file; the terminal (stderr)
  gets WARNING and above only, or everything with ``verbose``;
- without a file, on a terminal: WARNING and above (everything with ``verbose`` or an
  explicit level), so long-running commands show their progress bar or status line, not a
  log line per sensor;
- without a file and not on a terminal (a service, a pipe, a test): every event at the log
  level on stderr, as before, so a service's journal keeps everything.

``status(text)`` is for people: one line on the terminal even when INFO is hidden there
(e.g. "sync 14:05: 49/49 sensors ok"), and an ordinary ``status`` event in the log.

Secrets never go in a log event: pass sensor ids, never tokens; use ``mask`` for anything
that might be one.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import datetime
from pathlib import Path

import structlog

from vde.timeutil import BRUSSELS

STATUS_LOGGER = "vde.status"

_configured = False
_handlers: list[logging.Handler] = []
# the root command's --log-level/--log-format, kept when a sub-command reconfigures
_last: dict[str, str | None] = {"level": None, "fmt": None}


def _renderer(fmt: str, tty: bool):
    if fmt == "json":
        return structlog.processors.JSONRenderer()
    if tty:
        return structlog.dev.ConsoleRenderer(colors=False)
    return structlog.processors.LogfmtRenderer(key_order=["event", "level", "timestamp"])


def _formatter(fmt: str, tty: bool, shared: list) -> logging.Formatter:
    renderer = _renderer(fmt, tty)
    processors = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if not isinstance(renderer, structlog.dev.ConsoleRenderer):
        processors.append(structlog.processors.format_exc_info)  # the console renders its own
    processors.append(renderer)
    return structlog.stdlib.ProcessorFormatter(processors=processors, foreign_pre_chain=shared)


class _StatusFormatter(logging.Formatter):
    """A status event as a person reads it: local (Brussels) time and the text."""

    def format(self, record: logging.LogRecord) -> str:
        event = record.msg if isinstance(record.msg, dict) else {"text": record.getMessage()}
        when = datetime.fromtimestamp(record.created, BRUSSELS).strftime("%H:%M:%S")
        return f"{when}  {event.get('text', event.get('event', ''))}"


def _only(name: str, keep: bool) -> logging.Filter:
    f = logging.Filter()
    f.filter = lambda r: (r.name == name) is keep  # type: ignore[method-assign]
    return f


def configure(
    level: str | None = None,
    fmt: str | None = None,
    *,
    log_file: str | Path | None = None,
    verbose: bool = False,
    keep: bool = False,
) -> None:
    """Configure logging for a process (the CLI entry point, then commands with --log-file).

    ``level`` / ``fmt`` None mean env VDE_LOG_LEVEL / VDE_LOG_FORMAT, then INFO / text; with
    ``keep`` (a sub-command adding its log file) they keep what the entry point set. An
    explicit ``level`` also applies to the terminal.
    """
    global _configured
    explicit = level or (_last["level"] if keep else None)
    fmt = fmt or (_last["fmt"] if keep else None) or os.environ.get("VDE_LOG_FORMAT") or "text"
    _last.update(level=explicit, fmt=fmt)
    name = (explicit or os.environ.get("VDE_LOG_LEVEL") or "INFO").upper()
    lvl = logging.getLevelName(name)
    lvl = lvl if isinstance(lvl, int) else logging.INFO
    tty = sys.stderr.isatty()
    quiet = not verbose and not explicit and (log_file is not None or tty)
    stream_level = max(lvl, logging.WARNING) if quiet else lvl

    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    root = logging.getLogger()
    for h in _handlers:
        root.removeHandler(h)
        h.close()
    _handlers.clear()
    # handlers another configuration left (logging.basicConfig) would print every line twice
    for h in list(root.handlers):
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
            if getattr(h, "stream", None) in (sys.stderr, sys.__stderr__):
                root.removeHandler(h)

    stream = logging.StreamHandler(sys.stderr)
    stream.setLevel(stream_level)
    stream.setFormatter(_formatter(fmt, tty, shared))
    if quiet and stream_level > logging.INFO:
        # status lines reach the terminal through their own handler, in plain words
        stream.addFilter(_only(STATUS_LOGGER, keep=False))
        status_h = logging.StreamHandler(sys.stderr)
        status_h.setLevel(logging.INFO)
        status_h.addFilter(_only(STATUS_LOGGER, keep=True))
        status_h.setFormatter(_StatusFormatter())
        _handlers.append(status_h)
    _handlers.append(stream)
    if log_file is not None:
        path = Path(log_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        file_h = logging.FileHandler(path, encoding="utf-8")
        file_h.setLevel(lvl)
        file_h.setFormatter(_formatter(fmt, False, shared))
        _handlers.append(file_h)
    for h in _handlers:
        root.addHandler(h)
    root.setLevel(min(lvl, logging.INFO))
    # Libraries log every request at INFO (URLs carry sensor ids): keep them for debugging.
    for noisy in ("httpx", "httpcore", "uvicorn.access", "cassandra"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, lvl))
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(min(lvl, logging.INFO)),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    _configured = True


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)


def status(text: str, **fields: object) -> None:
    """One line for the person watching (shown on a terminal even when INFO is hidden)."""
    structlog.get_logger(STATUS_LOGGER).info("status", text=text, **fields)


def mask(secret: str | None) -> str:
    """A secret as it may be shown: its last 4 characters only ('…a1b2')."""
    if not secret:
        return ""
    return "…" + secret[-4:] if len(secret) > 8 else "…"
