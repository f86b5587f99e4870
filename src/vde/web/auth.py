"""Accounts and request security: argon2 passwords, signed sessions, CSRF, login rate limit,
one-time invites.

Sessions are a signed cookie (itsdangerous) holding the login and a fingerprint of its
password hash, so changing a password ends every older session. CSRF is a double-submit
token: a random value in its own signed HttpOnly cookie, echoed by forms (``csrf_token``
field) and by the dashboard's JS (``X-CSRF-Token`` header, read from a <meta> tag).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass

from fastapi import HTTPException, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from vde.accounts import (  # noqa: F401 - re-exported for the web layer
    INVITE_TTL_S,
    authenticate,
    create_invite,
    hash_password,
    invite_user,
    known_login,
    set_password,
    set_role,
    verify_password,
)
from vde.models import User
from vde.settings import Settings
from vde.storage.base import Store

SESSION_COOKIE = "vde_session"
CSRF_COOKIE = "vde_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SESSION_MAX_AGE_S = 14 * 86400
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _fingerprint(password_hash: str | None) -> str:
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


def secret_key(store: Store, settings: Settings) -> str:
    """The session signing key: the setting, else one generated once and kept in meta."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    key = store.get_meta("secret_key")
    if not key:
        key = secrets.token_urlsafe(48)
        store.set_meta("secret_key", key)
    return key


@dataclass(frozen=True)
class Session:
    login: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class Sessions:
    """Signs and reads the session and CSRF cookies."""

    def __init__(self, key: str) -> None:
        self._session = URLSafeTimedSerializer(key, salt="vde-session")
        self._csrf = URLSafeTimedSerializer(key, salt="vde-csrf")

    def dump(self, user: User) -> str:
        return self._session.dumps({"l": user.login, "f": _fingerprint(user.password_hash)})

    def load(self, store: Store, cookie: str | None) -> Session | None:
        """The session of a cookie, or None when absent, forged, expired or outdated."""
        if not cookie:
            return None
        try:
            data = self._session.loads(cookie, max_age=SESSION_MAX_AGE_S)
        except BadSignature:
            return None
        user = store.get_user(str(data.get("l", "")))
        if user is None or not user.password_hash:
            return None
        if not hmac.compare_digest(str(data.get("f", "")), _fingerprint(user.password_hash)):
            return None
        return Session(user.login, user.role)

    def new_csrf(self) -> tuple[str, str]:
        """(token, signed cookie value)."""
        token = secrets.token_urlsafe(24)
        return token, self._csrf.dumps(token)

    def csrf_of(self, cookie: str | None) -> str | None:
        if not cookie:
            return None
        try:
            return str(self._csrf.loads(cookie))
        except BadSignature:
            return None


def is_https(request: Request) -> bool:
    """True when served over HTTPS. uvicorn rewrites the scheme from X-Forwarded-Proto
    only for proxies it trusts (``--forwarded-allow-ips``), so this is the trusted view."""
    return request.url.scheme == "https"


def cookie_args(request: Request) -> dict:
    return {"httponly": True, "samesite": "lax", "secure": is_https(request), "path": "/"}


def csrf_token(request: Request) -> str:
    """This request's CSRF token; a new one (set as cookie by the middleware) if none."""
    tok = getattr(request.state, "csrf_token", None)
    if tok is None:
        sessions: Sessions = request.app.state.sessions
        tok = sessions.csrf_of(request.cookies.get(CSRF_COOKIE))
        if tok is None:
            tok, request.state.new_csrf_cookie = sessions.new_csrf()
        request.state.csrf_token = tok
    return tok


async def check_csrf(request: Request) -> None:
    """Dependency of every state-changing route: header or form field must match the cookie."""
    if request.method in SAFE_METHODS:
        return
    expected = request.app.state.sessions.csrf_of(request.cookies.get(CSRF_COOKIE))
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = (await request.form()).get(CSRF_FIELD)
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(expected, sent):
        raise HTTPException(403, "CSRF token missing or wrong; reload the page and try again")


# --- login rate limit -------------------------------------------------------------------------


class RateLimiter:
    """Failed login attempts per key in a sliding window; thread-safe, in memory.

    Only failures count, so members sharing an address are not locked out by each other's
    successful logins.
    """

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: str) -> int:
        """Seconds to wait before trying again; 0 when allowed now."""
        now = time.monotonic()
        with self._lock:
            q = self._hits.get(key)
            if not q:
                return 0
            while q and q[0] <= now - self.window_s:
                q.popleft()
            if len(q) < self.limit:
                return 0
            return max(1, int(q[0] + self.window_s - now + 0.999))

    def fail(self, key: str) -> None:
        with self._lock:
            self._hits.setdefault(key, deque()).append(time.monotonic())

    def reset(self, key: str) -> None:
        with self._lock:
            self._hits.pop(key, None)


class LoginGuard:
    """Per-login and per-address limits on failed logins (429 with Retry-After)."""

    def __init__(self, per_login: int = 5, per_ip: int = 20, window_s: float = 300.0) -> None:
        self.by_login = RateLimiter(per_login, window_s)
        self.by_ip = RateLimiter(per_ip, window_s)

    def check(self, login: str, ip: str) -> None:
        wait = max(self.by_login.retry_after(login.lower()), self.by_ip.retry_after(ip))
        if wait:
            raise HTTPException(
                429, "too many failed logins; try again later", headers={"Retry-After": str(wait)}
            )

    def failed(self, login: str, ip: str) -> None:
        self.by_login.fail(login.lower())
        self.by_ip.fail(ip)

    def succeeded(self, login: str) -> None:
        self.by_login.reset(login.lower())
