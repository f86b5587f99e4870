"""Cassandra backend: export marks and API tokens (layout in ``vde.storage.exchange_common``).

``export_state`` is one small partition per target (one row per installation);
``api_tokens`` one row per token, read by its public id; both are tiny.

Mixed into ``CassandraStore`` (``_exec``, ``_dirty``).
"""

from __future__ import annotations

from vde.models import ApiToken
from vde.storage import common as c
from vde.storage import exchange_common as xc
from vde.storage.base import Store


def exchange_ddl(ks: str) -> dict[str, str]:
    return {
        "export_state": f"CREATE TABLE IF NOT EXISTS {ks}.export_state (target text,"
        " installation_id text, until_ts bigint, updated_ts bigint,"
        " PRIMARY KEY ((target), installation_id))",
        "api_tokens": f"CREATE TABLE IF NOT EXISTS {ks}.api_tokens (token_id text PRIMARY KEY,"
        " token_hash text, owner text, installations text, created_ts bigint,"
        " expires_ts bigint, revoked_ts bigint)",
    }


class CassandraExchangeMixin(Store):
    _dirty: set[str]

    # --- export marks ------------------------------------------------------------------------
    def export_marks(self, target: str) -> dict[str, int]:
        rows = self._exec(
            "SELECT installation_id, until_ts FROM {ks}.export_state WHERE target = ?", (target,)
        )
        return {i: int(u) for i, u in rows}

    def set_export_marks(self, target: str, marks: dict[str, int]) -> None:
        self._dirty.add("export_state")
        now = c.now_s()
        for inst, until in marks.items():
            self._exec(
                "INSERT INTO {ks}.export_state (target, installation_id, until_ts, updated_ts)"
                " VALUES (?, ?, ?, ?)",
                (target, inst, int(until), now),
            )

    def export_targets(self) -> list[str]:
        rows = self._exec("SELECT DISTINCT target FROM {ks}.export_state")
        return sorted(r[0] for r in rows)

    # --- API tokens ----------------------------------------------------------------------------
    def put_api_token(self, token: ApiToken) -> None:
        self._dirty.add("api_tokens")
        self._exec(
            f"INSERT INTO {{ks}}.api_tokens ({', '.join(xc.TOKEN_COLUMNS)})"
            f" VALUES ({', '.join('?' * len(xc.TOKEN_COLUMNS))})",
            xc.token_row(token),
        )

    def get_api_token(self, token_id: str) -> ApiToken | None:
        rows = self._exec(
            f"SELECT {', '.join(xc.TOKEN_COLUMNS)} FROM {{ks}}.api_tokens WHERE token_id = ?",
            (token_id,),
        )
        return xc.token_from(rows[0]) if rows else None

    def api_tokens(self) -> list[ApiToken]:
        rows = self._exec(f"SELECT {', '.join(xc.TOKEN_COLUMNS)} FROM {{ks}}.api_tokens")
        return sorted((xc.token_from(r) for r in rows), key=lambda t: (t.created_ts, t.token_id))
