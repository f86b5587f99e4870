"""``Authorization: Bearer <token>`` on the JSON and CSV endpoints (read-only).

A researcher's token (``vde tokens create``) opens ``GET /api/...`` for the installations
it names, nothing else: no page, no admin route, no write (it is never a cookie, so CSRF
does not apply). A bad, expired or revoked token gets the same 401 as no session; the token
is never logged or echoed. ``vde.web.deps.session_or_none`` calls ``bearer_session`` when
the request has no session cookie.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from vde.export.tokens import verify
from vde.web.auth import Session

READ_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class TokenSession(Session):
    """A session opened by an API token: role "token", only ``scope`` visible."""

    scope: tuple[str, ...] = ()


def bearer_session(request: Request) -> TokenSession | None:
    header = request.headers.get("authorization")
    if not header or request.method not in READ_METHODS:
        return None
    if not request.url.path.startswith("/api/"):
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    record = verify(request.app.state.store, token)
    if record is None:
        return None
    return TokenSession(login=f"token:{record.token_id}", role="token", scope=record.installations)
