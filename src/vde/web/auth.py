"""Accounts and request security: argon2 passwords, signed sessions revocable server-side,
CSRF with an Origin check, login throttling, one-time invites.

Sessions are a signed cookie (itsdangerous) holding the login, a fingerprint of its
password hash and the login's session version (kept in the store's meta). Changing a
password ends every older session; logging out bumps the version, so a copied cookie stops
working at once, on every device. CSRF is a double-submit token: a random value in its own
signed HttpOnly cookie, echoed by forms (``csrf_token`` field) and by the dashboard's JS
(``X-CSRF-Token`` header, read from a <meta> tag); it is renewed at each login. State-changing
requests that carry an Origin or Referer header must come from this site.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from vde.accounts import (  # noqa: F401 - re-exported for the web layer
    INVITE_TTL_S,
    WeakPasswordError,
    authenticate,
    check_password,
    create_invite,
    hash_password,
    invite_user,
    known_login,
    normalise_login,
    revoke_sessions,
    session_version,
    set_password,
    set_role,
    verify_password,
)
from vde.logs import get_logger
from vde.models import User
from vde.settings import Settings
from vde.storage.base import Store
from vde.web.throttle import LoginGuard, RateLimiter  # noqa: F401 - re-exported

log = get_logger(__name__)

SESSION_COOKIE = "vde_session"
CSRF_COOKIE = "vde_csrf"
DEVICE_COOKIE = "vde_device"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SESSION_MAX_AGE_S = 14 * 86400
DEVICE_MAX_AGE_S = 365 * 86400
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
    """Signs and reads the session, CSRF and known-device cookies."""

    def __init__(self, key: str) -> None:
        self._session = URLSafeTimedSerializer(key, salt="vde-session")
        self._csrf = URLSafeTimedSerializer(key, salt="vde-csrf")
        self._device = URLSafeTimedSerializer(key, salt="vde-device")

    def dump(self, user: User, version: int = 0) -> str:
        return self._session.dumps(
            {"l": user.login, "f": _fingerprint(user.password_hash), "v": version}
        )

    def load(self, store: Store, cookie: str | None) -> Session | None:
        """The session of a cookie, or None when absent, forged, expired, outdated by a
        password change, or revoked by a logout."""
        if not cookie:
            return None
        try:
            data = self._session.loads(cookie, max_age=SESSION_MAX_AGE_S)
        except BadSignature:
            return None
        if not isinstance(data, dict):
            return None
        user = store.get_user(str(data.get("l", "")))
        if user is None or not user.password_hash:
            return None
        if not hmac.compare_digest(str(data.get("f", "")), _fingerprint(user.password_hash)):
            return None
        if data.get("v", 0) != session_version(store, user.login):
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

    def device(self, key: str) -> str:
        """A cookie marking this browser as one where ``key`` (a throttle key) signed in."""
        return self._device.dumps(key)

    def is_known_device(self, cookie: str | None, key: str) -> bool:
        if not cookie:
            return False
        try:
            return self._device.loads(cookie, max_age=DEVICE_MAX_AGE_S) == key
        except BadSignature:
            return False


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


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _same_origin(request: Request, value: str) -> bool:
    """Whether an Origin or Referer names this site: as requested (scheme, Host header) or
    as the ``public_url`` setting says (a proxy may rewrite the Host header)."""
    seen = _origin(value)
    if seen == (request.url.scheme, request.url.netloc.lower()):
        return True
    public = request.app.state.settings.public_url
    return bool(public) and seen == _origin(public)


async def check_csrf(request: Request) -> None:
    """Dependency of every state-changing route: header or form field must match the cookie,
    and an Origin or Referer header, when sent, must be this site."""
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    referer = request.headers.get("referer")
    if origin is not None and not _same_origin(request, origin):
        raise HTTPException(403, "cross-site request refused (Origin is another site)")
    if origin is None and referer and not _same_origin(request, referer):
        raise HTTPException(403, "cross-site request refused (Referer is another site)")
    expected = request.app.state.sessions.csrf_of(request.cookies.get(CSRF_COOKIE))
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = (await request.form()).get(CSRF_FIELD)
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(expected, sent):
        raise HTTPException(403, "CSRF token missing or wrong; reload the page and try again")


# --- login and logout ---------------------------------------------------------------------------


def client_ip(request: Request) -> str:
    """The client address (uvicorn takes it from X-Forwarded-For only for trusted proxies)."""
    return request.client.host if request.client else "?"


def throttle_key(login: str) -> str:
    """The login throttle's key: the login as authentication reads it, case-folded."""
    return normalise_login(login).casefold()


def login_attempt(request: Request, login: str, password: str) -> User | None:
    """Check a login and password under the throttle: the user when right, None when
    wrong; raises 429 (Retry-After) when throttled or every verification slot is busy."""
    guard: LoginGuard = request.app.state.guard
    key = throttle_key(login)
    known = request.app.state.sessions.is_known_device(request.cookies.get(DEVICE_COOKIE), key)
    with guard.attempt(key, client_ip(request), known_device=known) as attempt:
        user = authenticate(request.app.state.store, login, password)
        if user is not None:
            attempt.succeeded()
    return user


def start_session(request: Request, response: Response, user: User) -> None:
    """Set the session cookie, a fresh CSRF token and the known-device mark on ``response``."""
    sessions: Sessions = request.app.state.sessions
    args = cookie_args(request)
    version = session_version(request.app.state.store, user.login)
    response.set_cookie(
        SESSION_COOKIE, sessions.dump(user, version), max_age=SESSION_MAX_AGE_S, **args
    )
    _, csrf_cookie = sessions.new_csrf()  # a token seen before login is not reused after
    response.set_cookie(CSRF_COOKIE, csrf_cookie, **args)
    response.set_cookie(
        DEVICE_COOKIE, sessions.device(throttle_key(user.login)), max_age=DEVICE_MAX_AGE_S, **args
    )


def end_session(request: Request, response: Response) -> None:
    """Revoke the request's session in the store (every copy of the cookie stops working,
    open live streams close) and clear the cookie."""
    store = request.app.state.store
    session = request.app.state.sessions.load(store, request.cookies.get(SESSION_COOKIE))
    if session is not None:
        revoke_sessions(store, session.login)
        log.info("logout", login=session.login)
    response.delete_cookie(SESSION_COOKIE, path="/")
