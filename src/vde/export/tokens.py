"""Researchers' read-only API tokens: created by an administrator, scoped to installations,
revocable, stored as a sha256 only.

A token reads ``vde_<id>_<secret>``: the id names it in lists, logs and revocations; the
secret (256 random bits) is shown once, at creation, and never stored. A high-entropy
secret needs no slow hash: sha256 makes a stolen database useless to call the API with.
The web layer (``vde.web.tokens``) checks ``Authorization: Bearer <token>`` with
``verify``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time

from vde.errors import NotFoundError, VdeError
from vde.models import ApiToken
from vde.storage.base import Store

PREFIX = "vde_"
_SHAPE = re.compile(r"^vde_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


class TokenError(VdeError):
    exit_code = 2


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    store: Store, owner: str, installations: list[str], *, expires_ts: int | None = None
) -> tuple[str, ApiToken]:
    """A new token for ``owner`` opening ``installations``: (the token, its stored record).

    The token is returned only here; the store keeps its sha256.
    """
    owner = owner.strip()
    if not owner or len(owner) > 200 or any(ord(c) < 32 for c in owner):
        raise TokenError("--owner must be a name or an address (1-200 printable characters)")
    wanted = list(dict.fromkeys(i.strip() for i in installations if i.strip()))
    if not wanted:
        raise TokenError("a token needs at least one installation: --installations CDB001,CDB002")
    cfg = store.load_config()
    known = set(cfg.installations()) if cfg else set()
    unknown = [i for i in wanted if i not in known]
    if unknown:
        raise TokenError(
            f"unknown installation(s) {', '.join(unknown)}: not in the current configuration "
            "(see `vde config show`)"
        )
    token_id = secrets.token_hex(6)
    token = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    record = ApiToken(
        token_id=token_id,
        token_hash=token_hash(token),
        owner=owner,
        installations=tuple(wanted),
        created_ts=int(time.time()),
        expires_ts=expires_ts,
    )
    store.put_api_token(record)
    return token, record


def revoke_token(store: Store, token_id: str) -> ApiToken:
    record = store.get_api_token(token_id.strip())
    if record is None:
        raise NotFoundError(f"no token with id {token_id!r}: see `vde tokens list`")
    if record.revoked_ts is None:
        record.revoked_ts = int(time.time())
        store.put_api_token(record)
    return record


def verify(store: Store, token: str, now: int | None = None) -> ApiToken | None:
    """The active token record of ``token``, None when malformed, unknown, wrong, expired
    or revoked (one answer for all: the caller cannot tell which)."""
    m = _SHAPE.match(token.strip())
    if not m:
        return None
    record = store.get_api_token(m.group(1))
    if record is None or not hmac.compare_digest(record.token_hash, token_hash(token.strip())):
        return None
    return record if record.active(int(time.time()) if now is None else now) else None
