"""Request dependencies: who is asking, and may they see what they ask for."""

from __future__ import annotations

import time
from dataclasses import replace

from fastapi import HTTPException, Request

from vde.web.auth import SESSION_COOKIE, Session
from vde.web.installations import Installation, describe
from vde.web.tokens import TokenSession, bearer_session


def session_or_none(request: Request) -> Session | None:
    """The request's session (cached on the request), None when not logged in."""
    if not hasattr(request.state, "session"):
        request.state.session = request.app.state.sessions.load(
            request.app.state.store, request.cookies.get(SESSION_COOKIE)
        ) or bearer_session(request)  # a researcher's read-only API token (vde.web.tokens)
    return request.state.session


def require_session(request: Request) -> Session:
    """401 without a valid session (the HTML error handler turns it into the login page)."""
    session = session_or_none(request)
    if session is None:
        raise HTTPException(401, "log in first")
    return session


def require_admin(request: Request) -> Session:
    session = require_session(request)
    if not session.is_admin:
        raise HTTPException(403, "administrators only")
    return session


CATALOG_TTL_S = 10.0


def catalog(request: Request) -> dict[str, Installation]:
    """Every installation, described; cached a few seconds (it reads the whole config)."""
    state = request.app.state
    cached = getattr(state, "catalog", None)
    now = time.monotonic()
    if cached is None or now - cached[0] > CATALOG_TTL_S:
        cached = (now, describe(state.store))
        state.catalog = cached
    return cached[1]


def visible(request: Request) -> dict[str, Installation]:
    """Installations the session may see, by id, in a stable order (homes first)."""
    session = require_session(request)
    if not hasattr(request.state, "visible"):
        known = catalog(request)
        if session.is_admin:
            allowed = set(known)
        elif isinstance(session, TokenSession):
            allowed = set(session.scope)
        else:
            allowed = set(request.app.state.store.installations_for(session.login))
        # a home lists only the groups this session may see (ids are not public)
        items = [
            replace(known[i], groups=tuple(g for g in known[i].groups if g in allowed))
            for i in allowed
            if i in known
        ]
        items.sort(key=lambda i: (i.kind != "home", i.installation_id))
        request.state.visible = {i.installation_id: i for i in items}
    return request.state.visible


def installation(request: Request, installation_id: str) -> Installation:
    """The installation asked for, or 404 — the same answer whether it does not exist or
    may not be seen, so editing a URL reveals nothing."""
    inst = visible(request).get(installation_id)
    if inst is None:
        raise HTTPException(404, "no such installation")
    return inst
