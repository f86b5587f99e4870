"""Structured logging (structlog): key=value lines, or JSON with VDE_LOG_FORMAT=json.

Secrets never go in a log event: pass sensor ids, never tokens; use ``mask`` for anything
that might be one.
"""

from __future__ import annotations

import logging
import os
import sys

import structlog

_configured = False


def configure(level: str | None = None, fmt: str | None = None) -> None:
    """Configure logging once for a process (called by the CLI entry point)."""
    global _configured
    level = (level or os.environ.get("VDE_LOG_LEVEL") or "INFO").upper()
    fmt = fmt or os.environ.get("VDE_LOG_FORMAT") or "text"
    renderer = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
        if sys.stderr.isatty()
        else structlog.processors.LogfmtRenderer(key_order=["event", "level", "timestamp"])
    )
    logging.basicConfig(level=level, stream=sys.stderr, format="%(message)s", force=True)
    # Libraries log every request at INFO (URLs carry sensor ids): keep them for debugging.
    for noisy in ("httpx", "httpcore", "uvicorn.access", "cassandra"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, getattr(logging, level, 20)))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level, 20)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    _configured = True


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)


def mask(secret: str | None) -> str:
    """A secret as it may be shown: its last 4 characters only ('…a1b2')."""
    if not secret:
        return ""
    return "…" + secret[-4:] if len(secret) > 8 else "…"
