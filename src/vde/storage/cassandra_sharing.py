"""Cassandra backend: the energy-sharing tables (layout in ``vde.storage.sharing_common``).

Partitions stay bounded: ``sharing_quarters`` by (installation_id, UTC year) — at most
366 day rows of 1.7 kB — and ``sharing_results`` by (community_id, UTC month), clustered
by (day, installation_id): a 60-home month is 1,860 rows. A window is read with one query
per partition, all in flight together. ``sharing_keys`` is one small partition per
community, replaced whole in one single-partition batch.

Mixed into ``CassandraStore`` (``_exec``, ``_exec_many``, ``_query_many``, ``_ps``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

import numpy as np
from cassandra.query import BatchStatement, BatchType

from vde.models import QuarterBalances, SharingShares
from vde.storage import sharing_common as sc
from vde.storage.base import Store


def sharing_ddl(ks: str) -> dict[str, str]:
    return {
        "sharing_quarters": f"CREATE TABLE IF NOT EXISTS {ks}.sharing_quarters (installation_id text,"
        " year int, day int, v blob, PRIMARY KEY ((installation_id, year), day))",
        "sharing_results": f"CREATE TABLE IF NOT EXISTS {ks}.sharing_results (community_id text,"
        " month int, day int, installation_id text, v blob,"
        " PRIMARY KEY ((community_id, month), day, installation_id))",
        "sharing_keys": f"CREATE TABLE IF NOT EXISTS {ks}.sharing_keys (community_id text,"
        " valid_from bigint, spec text, PRIMARY KEY ((community_id), valid_from))",
    }


def _years(days: np.ndarray) -> np.ndarray:
    d = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    return d.astype("datetime64[Y]").astype(np.int64)


def _months(days: np.ndarray) -> np.ndarray:
    d = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    return d.astype("datetime64[M]").astype(np.int64)


class CassandraSharingMixin(Store):
    _dirty: set[str]

    # --- quarter-hour balances per home --------------------------------------------------------
    def write_quarters(self, installation_id: str, balances: QuarterBalances) -> int:
        ts = sc.check_quarters(balances.ts)
        if not len(ts):
            return 0
        days = sc.days_of(ts)
        old = dict(self._quarter_rows([installation_id], int(days[0]), int(days[-1]))[0][1])
        rows = sc.merge_days(
            ts, balances.offtake_wh, balances.injection_wh, balances.covered_s, old
        )
        self._dirty.add("sharing_quarters")
        ps = self._ps(
            "INSERT INTO {ks}.sharing_quarters (installation_id, year, day, v) VALUES (?, ?, ?, ?)"
        )
        years = _years(np.array([d for d, _ in rows]))
        self._exec_many(
            [(ps, (installation_id, int(y), d, v)) for (d, v), y in zip(rows, years, strict=True)]
        )
        return len(ts)

    def _quarter_rows(
        self, ids: list[str], lo: int, hi: int
    ) -> list[tuple[str, list[tuple[int, bytes]]]]:
        years = np.unique(_years(np.array([lo, hi]))).tolist()
        years = list(range(years[0], years[-1] + 1))
        keys = [(i, y) for i in ids for y in years]
        parts = self._query_many(
            "SELECT day, v FROM {ks}.sharing_quarters"
            " WHERE installation_id = ? AND year = ? AND day >= ? AND day <= ?",
            [(i, y, lo, hi) for i, y in keys],
        )
        per: dict[str, list[tuple[int, bytes]]] = {i: [] for i in ids}
        for (i, _), rows in zip(keys, parts, strict=True):
            per[i] += [(int(d), v) for d, v in rows]
        return list(per.items())

    def read_quarters(
        self, installation_ids: Sequence[str], start: int, end: int
    ) -> dict[str, QuarterBalances]:
        ids = list(dict.fromkeys(installation_ids))
        if not ids or end <= start:
            return {}
        lo, hi = sc.day_range(start, end)
        rows = [
            (i, d, v) for i, days in self._quarter_rows(ids, lo, hi) for d, v in days
        ]  # fmt: skip
        return sc.rows_to_balances(rows, start, end)

    # --- sharing results per community ---------------------------------------------------------
    def _result_rows(self, community_id: str, lo: int, hi: int) -> list[tuple[str, int, bytes]]:
        m0, m1 = _months(np.array([lo, hi])).tolist()
        parts = self._query_many(
            "SELECT installation_id, day, v FROM {ks}.sharing_results"
            " WHERE community_id = ? AND month = ? AND day >= ? AND day <= ?",
            [(community_id, m, lo, hi) for m in range(m0, m1 + 1)],
        )
        return [(i, int(d), v) for rows in parts for i, d, v in rows]

    def _put_results(self, community_id: str, rows: list[tuple[str, int, bytes]]) -> None:
        self._dirty.add("sharing_results")
        ps = self._ps(
            "INSERT INTO {ks}.sharing_results (community_id, month, day, installation_id, v)"
            " VALUES (?, ?, ?, ?, ?)"
        )
        months = _months(np.array([d for _, d, _ in rows], dtype=np.int64))
        self._exec_many(
            [
                (ps, (community_id, int(mo), d, m, v))
                for (m, d, v), mo in zip(rows, months, strict=True)
            ]
        )

    def write_sharing(self, community_id: str, shares: SharingShares) -> int:
        ts = sc.check_quarters(shares.ts)
        if not len(ts):
            return 0
        days = sc.days_of(ts)
        old: dict[str, dict[int, bytes]] = {}
        for m, d, v in self._result_rows(community_id, int(days[0]), int(days[-1])):
            old.setdefault(m, {})[d] = v
        done = np.ones(len(ts), np.int64)
        rows = []
        for j, m in enumerate(shares.members):
            merged = sc.merge_days(
                ts, shares.received_wh[:, j], shares.shared_out_wh[:, j], done, old.get(m, {})
            )
            rows += [(m, d, v) for d, v in merged]
        self._put_results(community_id, rows)
        return len(ts) * len(shares.members)

    def read_sharing(self, community_id: str, start: int, end: int) -> SharingShares:
        lo, hi = sc.day_range(start, end)
        return sc.rows_to_shares(self._result_rows(community_id, lo, hi), start, end)

    def delete_sharing(self, community_id: str, start: int, end: int) -> None:
        lo, hi = sc.day_range(start, end)
        keep, drop = sc.unmark_days(self._result_rows(community_id, lo, hi), start, end)
        self._dirty.add("sharing_results")
        ps = self._ps(
            "DELETE FROM {ks}.sharing_results"
            " WHERE community_id = ? AND month = ? AND day = ? AND installation_id = ?"
        )
        months = _months(np.array([d for _, d in drop], dtype=np.int64))
        self._exec_many(
            [(ps, (community_id, int(mo), d, m)) for (m, d), mo in zip(drop, months, strict=True)]
        )
        if keep:
            self._put_results(community_id, keep)

    # --- dated keys -------------------------------------------------------------------------------
    def replace_sharing_keys(self, community_id: str, versions: Iterable[tuple[int, str]]) -> None:
        self._dirty.add("sharing_keys")
        now_us = time.time_ns() // 1000
        batch = BatchStatement(batch_type=BatchType.UNLOGGED)
        batch.add(
            self._ps("DELETE FROM {ks}.sharing_keys USING TIMESTAMP ? WHERE community_id = ?"),
            (now_us - 1, community_id),
        )
        ins = self._ps(
            "INSERT INTO {ks}.sharing_keys (community_id, valid_from, spec) VALUES (?, ?, ?)"
            " USING TIMESTAMP ?"
        )
        for t, spec in versions:
            batch.add(ins, (community_id, int(t), spec, now_us))
        self._exec_many([(batch, None)])

    def sharing_keys(self) -> dict[str, list[tuple[int, str]]]:
        out: dict[str, list[tuple[int, str]]] = {}
        rows = self._exec("SELECT community_id, valid_from, spec FROM {ks}.sharing_keys")
        for c, t, spec in sorted(rows, key=lambda r: (r[0], r[1])):
            out.setdefault(c, []).append((int(t), spec))
        return out
