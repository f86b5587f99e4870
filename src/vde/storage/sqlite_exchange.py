"""SQLite backend: export marks and API tokens (layout in ``vde.storage.exchange_common``).

Mixed into ``SQLiteStore``, which provides ``_tx`` (one write transaction) and ``_q``.
"""

from __future__ import annotations

import sqlite3

from vde.models import ApiToken
from vde.storage import common as c
from vde.storage import exchange_common as xc
from vde.storage.base import Store

EXCHANGE_DDL: dict[str, str] = {
    "export_state": "CREATE TABLE IF NOT EXISTS export_state (target TEXT NOT NULL,"
    " installation_id TEXT NOT NULL, until_ts INTEGER NOT NULL, updated_ts INTEGER,"
    " PRIMARY KEY (target, installation_id)) WITHOUT ROWID",
    "api_tokens": "CREATE TABLE IF NOT EXISTS api_tokens (token_id TEXT PRIMARY KEY,"
    " token_hash TEXT NOT NULL, owner TEXT, installations TEXT, created_ts INTEGER,"
    " expires_ts INTEGER, revoked_ts INTEGER) WITHOUT ROWID",
}
assert set(EXCHANGE_DDL) == set(xc.EXCHANGE_TABLES)


class SQLiteExchangeMixin(Store):
    # --- export marks ------------------------------------------------------------------------
    def export_marks(self, target: str) -> dict[str, int]:
        rows = self._q(
            "SELECT installation_id, until_ts FROM export_state WHERE target = ?", (target,)
        )
        return {i: int(u) for i, u in rows}

    def set_export_marks(self, target: str, marks: dict[str, int]) -> None:
        now = c.now_s()

        def run(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR REPLACE INTO export_state (target, installation_id, until_ts, updated_ts)"
                " VALUES (?, ?, ?, ?)",
                [(target, i, int(u), now) for i, u in marks.items()],
            )

        self._tx(run)

    def export_targets(self) -> list[str]:
        return [r[0] for r in self._q("SELECT DISTINCT target FROM export_state ORDER BY target")]

    # --- API tokens ----------------------------------------------------------------------------
    def put_api_token(self, token: ApiToken) -> None:
        self._tx(
            lambda conn: conn.execute(
                f"INSERT OR REPLACE INTO api_tokens ({', '.join(xc.TOKEN_COLUMNS)})"
                f" VALUES ({', '.join('?' * len(xc.TOKEN_COLUMNS))})",
                xc.token_row(token),
            )
        )

    def get_api_token(self, token_id: str) -> ApiToken | None:
        rows = self._q(
            f"SELECT {', '.join(xc.TOKEN_COLUMNS)} FROM api_tokens WHERE token_id = ?", (token_id,)
        )
        return xc.token_from(rows[0]) if rows else None

    def api_tokens(self) -> list[ApiToken]:
        rows = self._q(f"SELECT {', '.join(xc.TOKEN_COLUMNS)} FROM api_tokens")
        return sorted((xc.token_from(r) for r in rows), key=lambda t: (t.created_ts, t.token_id))
