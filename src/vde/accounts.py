"""Accounts: argon2 password hashes, roles and one-time invites, kept in the store.

Domain logic shared by the CLI (`vde users`), the demo and the web app; nothing here knows
about HTTP. A hash or an invite token never leaves this module's callers' server side.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import replace
from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from vde.models import User
from vde.storage.base import Store
from vde.timeutil import now_ts

INVITE_TTL_S = 7 * 86400

_hasher = PasswordHasher()


def hasher_memory_bytes() -> int:
    """Memory one argon2 hash or verification takes [bytes]."""
    return _hasher.memory_cost * 1024


def session_version(store: Store, login: str) -> int:
    """The login's session generation: sessions signed with an older one are revoked."""
    raw = store.get_meta(f"session_version:{login}")
    return int(raw) if raw and raw.isdigit() else 0


def revoke_sessions(store: Store, login: str) -> None:
    """End every session of ``login`` (logout; each device signs in again)."""
    store.set_meta(f"session_version:{login}", str(session_version(store, login) + 1))


def hash_password(password: str) -> str:
    """argon2id hash of a password (with its own salt)."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def normalise_login(login: str) -> str:
    """The login as typed, as authentication and the login throttle both read it: without
    surrounding whitespace (" CDB006" and "CDB006\\t" are CDB006)."""
    return login.strip()


# --- password policy ------------------------------------------------------------------------------

MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_BYTES = 1024  # argon2 hashes anything; the cap bounds the work per attempt


class WeakPasswordError(ValueError):
    """A password the policy refuses; ``code`` names the rule (short, blank, long, common)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@cache
def common_passwords() -> frozenset[str]:
    """The bundled list of common passwords and the words they are made of."""
    text = resources.files("vde").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def _squashed(text: str) -> str:
    return re.sub(r"[\s._-]+", "", text.casefold())


def check_password(password: str, login: str | None = None) -> None:
    """Raise WeakPasswordError unless ``password`` meets the policy: at least 12 characters,
    not only whitespace, at most 1,024 bytes of UTF-8, not a common password (nor one with
    digits or symbols added at the end), and not the login itself."""
    if len(password.encode("utf-8", "surrogatepass")) > MAX_PASSWORD_BYTES:
        raise WeakPasswordError("long", f"a password has at most {MAX_PASSWORD_BYTES} bytes")
    if not password.strip():
        raise WeakPasswordError("blank", "a password cannot be only spaces")
    if len(password) < MIN_PASSWORD_CHARS:
        raise WeakPasswordError(
            "short", f"a password needs at least {MIN_PASSWORD_CHARS} characters"
        )
    squashed = _squashed(password)
    base = re.sub(r"[\W\d_]+$", "", squashed)
    words = common_passwords()
    if (
        squashed in words
        or base in words
        or len(set(squashed)) <= 2
        or (login is not None and base == _squashed(login))
    ):
        raise WeakPasswordError(
            "common", "this password is too common or too easy to guess; choose another"
        )


def known_login(store: Store, login: str) -> bool:
    """A login exists when it has a user row or an access row."""
    return store.get_user(login) is not None or bool(store.installations_for(login))


def authenticate(store: Store, login: str, password: str) -> User | None:
    """The user when the password is right; None otherwise (also for unknown logins)."""
    if len(password.encode("utf-8", "surrogatepass")) > MAX_PASSWORD_BYTES:
        return None  # no stored password is that long: refuse without hashing
    user = store.get_user(normalise_login(login))
    if user is None or not user.password_hash:
        # Spend the same time as a real check so timing does not tell logins apart.
        verify_password(_DUMMY_HASH, password)
        return None
    return user if verify_password(user.password_hash, password) else None


_DUMMY_HASH = _hasher.hash(secrets.token_hex(8))


def set_password(store: Store, login: str, password: str) -> User:
    """Set a login's password (creating its user row), clearing any pending invite.

    Raises WeakPasswordError (a ValueError) when the policy refuses the password."""
    check_password(password, login)
    user = store.get_user(login) or User(login=login, created_ts=now_ts())
    user = replace(
        user, password_hash=hash_password(password), invite_hash=None, invite_expires_ts=None
    )
    store.put_user(user)
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_invite(store: Store, login: str, ttl_s: int = INVITE_TTL_S) -> tuple[str, int]:
    """A one-time invite token for ``login`` (stored only as its sha256) and its expiry."""
    user = store.get_user(login) or User(login=login, created_ts=now_ts())
    token = secrets.token_urlsafe(32)
    expires = now_ts() + ttl_s
    store.put_user(replace(user, invite_hash=_token_hash(token), invite_expires_ts=expires))
    return token, expires


def invite_user(store: Store, login: str, token: str) -> User | None:
    """The user whose valid, unexpired invite this token is; None otherwise."""
    user = store.get_user(login)
    if user is None or not user.invite_hash or not token:
        return None
    if (user.invite_expires_ts or 0) < now_ts():
        return None
    return user if hmac.compare_digest(user.invite_hash, _token_hash(token)) else None


def set_role(store: Store, login: str, role: str) -> User:
    """Make ``login`` an admin or a member (creating its user row)."""
    user = store.get_user(login) or User(login=login, created_ts=now_ts())
    user = replace(user, role=role)
    store.put_user(user)
    return user
