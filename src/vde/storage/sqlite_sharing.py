"""SQLite backend: the energy-sharing tables (layout in ``vde.storage.sharing_common``).

Mixed into ``SQLiteStore``, which provides ``_tx`` (one write transaction) and ``_q``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

import numpy as np

from vde.models import QuarterBalances, SharingShares
from vde.storage import sharing_common as sc
from vde.storage.base import Store

SHARING_DDL: dict[str, str] = {
    "sharing_quarters": "CREATE TABLE IF NOT EXISTS sharing_quarters (installation_id TEXT NOT NULL,"
    " day INTEGER NOT NULL, v BLOB, PRIMARY KEY (installation_id, day)) WITHOUT ROWID",
    "sharing_results": "CREATE TABLE IF NOT EXISTS sharing_results (community_id TEXT NOT NULL,"
    " day INTEGER NOT NULL, installation_id TEXT NOT NULL, v BLOB,"
    " PRIMARY KEY (community_id, day, installation_id)) WITHOUT ROWID",
    "sharing_keys": "CREATE TABLE IF NOT EXISTS sharing_keys (community_id TEXT NOT NULL,"
    " valid_from INTEGER NOT NULL, spec TEXT, PRIMARY KEY (community_id, valid_from)) WITHOUT ROWID",
}
assert set(SHARING_DDL) == set(sc.SHARING_TABLES)


class SQLiteSharingMixin(Store):
    # --- quarter-hour balances per home --------------------------------------------------------
    def write_quarters(self, installation_id: str, balances: QuarterBalances) -> int:
        ts = sc.check_quarters(balances.ts)
        if not len(ts):
            return 0
        lo, hi = int(ts.min()) // sc.DAY_S, int(ts.max()) // sc.DAY_S

        def run(conn: sqlite3.Connection) -> None:
            old = dict(
                conn.execute(
                    "SELECT day, v FROM sharing_quarters WHERE installation_id = ?"
                    " AND day >= ? AND day <= ?",
                    (installation_id, lo, hi),
                ).fetchall()
            )
            rows = sc.merge_days(
                ts, balances.offtake_wh, balances.injection_wh, balances.covered_s, old
            )
            conn.executemany(
                "INSERT OR REPLACE INTO sharing_quarters (installation_id, day, v) VALUES (?, ?, ?)",
                [(installation_id, d, v) for d, v in rows],
            )

        self._tx(run)
        return len(ts)

    def read_quarters(
        self, installation_ids: Sequence[str], start: int, end: int
    ) -> dict[str, QuarterBalances]:
        ids = list(dict.fromkeys(installation_ids))
        if not ids or end <= start:
            return {}
        lo, hi = sc.day_range(start, end)
        marks = ", ".join("?" * len(ids))
        rows = self._q(
            f"SELECT installation_id, day, v FROM sharing_quarters WHERE installation_id IN ({marks})"
            " AND day >= ? AND day <= ?",
            (*ids, lo, hi),
        )
        return sc.rows_to_balances(rows, start, end)

    # --- sharing results per community ---------------------------------------------------------
    def write_sharing(self, community_id: str, shares: SharingShares) -> int:
        ts = sc.check_quarters(shares.ts)
        if not len(ts):
            return 0
        lo, hi = int(ts.min()) // sc.DAY_S, int(ts.max()) // sc.DAY_S
        done = np.ones(len(ts), np.int64)

        def run(conn: sqlite3.Connection) -> None:
            old: dict[str, dict[int, bytes]] = {}
            for inst, d, v in conn.execute(
                "SELECT installation_id, day, v FROM sharing_results WHERE community_id = ?"
                " AND day >= ? AND day <= ?",
                (community_id, lo, hi),
            ):
                old.setdefault(inst, {})[d] = v
            out = []
            for j, m in enumerate(shares.members):
                rows = sc.merge_days(
                    ts, shares.received_wh[:, j], shares.shared_out_wh[:, j], done, old.get(m, {})
                )
                out += [(community_id, d, m, v) for d, v in rows]
            conn.executemany(
                "INSERT OR REPLACE INTO sharing_results (community_id, day, installation_id, v)"
                " VALUES (?, ?, ?, ?)",
                out,
            )

        self._tx(run)
        return len(ts) * len(shares.members)

    def read_sharing(self, community_id: str, start: int, end: int) -> SharingShares:
        lo, hi = sc.day_range(start, end)
        rows = self._q(
            "SELECT installation_id, day, v FROM sharing_results WHERE community_id = ?"
            " AND day >= ? AND day <= ?",
            (community_id, lo, hi),
        )
        return sc.rows_to_shares(rows, start, end)

    def delete_sharing(self, community_id: str, start: int, end: int) -> None:
        lo, hi = sc.day_range(start, end)

        def run(conn: sqlite3.Connection) -> None:
            rows = conn.execute(
                "SELECT installation_id, day, v FROM sharing_results WHERE community_id = ?"
                " AND day >= ? AND day <= ?",
                (community_id, lo, hi),
            ).fetchall()
            keep, drop = sc.unmark_days(rows, start, end)
            conn.executemany(
                "DELETE FROM sharing_results WHERE community_id = ? AND day = ? AND installation_id = ?",
                [(community_id, d, m) for m, d in drop],
            )
            conn.executemany(
                "INSERT OR REPLACE INTO sharing_results (community_id, day, installation_id, v)"
                " VALUES (?, ?, ?, ?)",
                [(community_id, d, m, v) for m, d, v in keep],
            )

        self._tx(run)

    # --- dated keys -------------------------------------------------------------------------------
    def replace_sharing_keys(self, community_id: str, versions: Iterable[tuple[int, str]]) -> None:
        rows = [(community_id, int(t), spec) for t, spec in versions]

        def run(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM sharing_keys WHERE community_id = ?", (community_id,))
            conn.executemany(
                "INSERT INTO sharing_keys (community_id, valid_from, spec) VALUES (?, ?, ?)", rows
            )

        self._tx(run)

    def sharing_keys(self) -> dict[str, list[tuple[int, str]]]:
        out: dict[str, list[tuple[int, str]]] = {}
        for c, t, spec in self._q(
            "SELECT community_id, valid_from, spec FROM sharing_keys ORDER BY community_id, valid_from"
        ):
            out.setdefault(c, []).append((int(t), spec))
        return out
