"""Accounts: argon2 password hashes, roles and one-time invites, kept in the store.

Domain logic shared by the CLI (`vde users`), the demo and the web app; nothing here knows
about HTTP. A hash or an invite token never leaves this module's callers' server side.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import replace

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from vde.models import User
from vde.storage.base import Store
from vde.timeutil import now_ts

INVITE_TTL_S = 7 * 86400

_hasher = PasswordHasher()


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


def known_login(store: Store, login: str) -> bool:
    """A login exists when it has a user row or an access row."""
    return store.get_user(login) is not None or bool(store.installations_for(login))


def authenticate(store: Store, login: str, password: str) -> User | None:
    """The user when the password is right; None otherwise (also for unknown logins)."""
    user = store.get_user(login)
    if user is None or not user.password_hash:
        # Spend the same time as a real check so timing does not tell logins apart.
        verify_password(_DUMMY_HASH, password)
        return None
    return user if verify_password(user.password_hash, password) else None


_DUMMY_HASH = _hasher.hash(secrets.token_hex(8))


def set_password(store: Store, login: str, password: str) -> User:
    """Set a login's password (creating its user row), clearing any pending invite."""
    if len(password) < 8:
        raise ValueError("a password needs at least 8 characters")
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
