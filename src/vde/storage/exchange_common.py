"""Data-exchange tables, shared by both backends (``vde.export``, ``vde.web.tokens``).

- ``export_state``: per export target and installation, the instant up to which data was
  exported (exclusive) [UTC epoch s]: ``vde export --since last`` resumes there;
- ``api_tokens``: read-only API tokens of researchers: public id, sha256 of the token
  (the token itself is never stored), owner, installations in scope, created / expires /
  revoked instants.
"""

from __future__ import annotations

import json

from vde.models import ApiToken

EXCHANGE_TABLES: tuple[str, ...] = ("export_state", "api_tokens")

TOKEN_COLUMNS = (
    "token_id",
    "token_hash",
    "owner",
    "installations",
    "created_ts",
    "expires_ts",
    "revoked_ts",
)


def token_row(t: ApiToken) -> tuple:
    return (
        t.token_id,
        t.token_hash,
        t.owner,
        json.dumps(list(t.installations)),
        int(t.created_ts),
        t.expires_ts,
        t.revoked_ts,
    )


def token_from(row) -> ApiToken:
    d = dict(zip(TOKEN_COLUMNS, row, strict=True))
    d["installations"] = tuple(json.loads(d["installations"] or "[]"))
    d["created_ts"] = int(d["created_ts"] or 0)
    return ApiToken(**d)
