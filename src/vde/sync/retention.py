"""Retention: delete old 8-s rows once their 1-min rollup exists; rollups are kept forever.

``raw_retention`` applies to raw power per sensor, ``power_retention`` to installation
power (both [s]; 0 keeps the rows forever). A row older than ``now - retention`` is only
deleted when the 1-min rollups of every installation it feeds reach past it, so a sync
that has not yet rolled a range up never loses that range. Deletes go one UTC day at a
time (SQLite: one short transaction per day, the writer is never blocked for long;
Cassandra: one range delete per day partition).

Runs from ``vde db prune`` and at the end of each sync. After it, charts over long ranges
and daily alerts read the rollups; a recompute (configuration import) never reaches before
the pruned instant (``pruned_before``), which would otherwise rewrite those rollups from
the raw rows that are gone.

On Cassandra the sync also writes raw and power rows with a TTL (``Store.set_retention``,
tables on TimeWindowCompactionStrategy: ``vde.storage.cassandra_schema``), so they expire
by themselves at ``ts + retention`` without delete tombstones. The rule that keeps rollups
whole: a row's TTL is never under a day (``TTL_FLOOR_S``), even for a row already older
than its retention when written (a backfill); the sync writes the 1-min rollups of what it
wrote in the same round (sharded: as soon as the installation's sensors are done), and a
failed recompute is retried by the next rounds, well within that day. Prune still runs:
it deletes rows the TTL does not cover (written before the retention was set, or expiring
after Cassandra's limit) once their rollups exist, and it moves ``pruned_before`` up to
``now - retention`` since rows before that may have expired.

Limit (both backends): data that arrives later than the retention for one sensor of a
group recomputes that group's power over a range whose other sensors' raw rows are gone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vde.logs import get_logger
from vde.models import ConfigVersion
from vde.processing.rollups import local_day_starts
from vde.storage.base import Store

log = get_logger(__name__)

DAY_S = 86400
#: the rollup resolution whose existence allows deleting 8-s rows [s]
PROOF_RESOLUTION_S = 60
#: meta key: instant [UTC epoch s] before which raw rows may have been pruned
RAW_PRUNED_META = "retention:raw_pruned_before"
POWER_PRUNED_META = "retention:power_pruned_before"


@dataclass
class PruneReport:
    """What one prune did: per series, the instant rows were deleted before [UTC s]."""

    now_ts: int
    raw: dict[str, int] = field(default_factory=dict)
    power: dict[str, int] = field(default_factory=dict)
    #: series kept whole because no 1-min rollup proves them yet
    kept: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "now_ts": self.now_ts,
            "raw_sensors_pruned": len(self.raw),
            "power_installations_pruned": len(self.power),
            "raw": self.raw,
            "power": self.power,
            "kept_unproven": self.kept,
        }


def pruned_before(store: Store) -> int | None:
    """The latest instant before which any 8-s rows (raw or power) were pruned, or None."""
    vals = [store.get_meta(k) for k in (RAW_PRUNED_META, POWER_PRUNED_META)]
    vals = [int(v) for v in vals if v]
    return max(vals) if vals else None


def _rolled_up_to(store: Store, installation_id: str) -> int | None:
    """Start of the last 1-min rollup bucket: every 8-s row before it is rolled up."""
    b = store.rollup_bounds(installation_id, PROOF_RESOLUTION_S)
    return None if b is None else int(b[1])


def _day_floor(ts: int) -> int:
    # whole UTC days go: partitions (Cassandra) and day reads never see half a day
    return (int(ts) // DAY_S) * DAY_S


def recompute_floor(store: Store) -> int | None:
    """First local midnight at or after ``pruned_before``: recomputes never start earlier."""
    floor = pruned_before(store)
    if floor is None:
        return None
    starts = local_day_starts(floor, floor + 2 * DAY_S)
    return int(next(s for s in starts.tolist() if s >= floor))


def _delete_days(delete, series_id: str, first: int, bound: int) -> None:
    day = (first // DAY_S) * DAY_S
    while day < bound:
        delete(series_id, max(day, first), min(day + DAY_S, bound))
        day += DAY_S


def prune(
    store: Store,
    config: ConfigVersion | None,
    *,
    raw_retention: int,
    power_retention: int,
    now_ts: int,
) -> PruneReport:
    """Delete 8-s raw and power rows older than their retention once rolled up.

    Parameters
    ----------
    store : Store
    config : ConfigVersion or None
        Which installations each sensor feeds (raw rows of a sensor no installation of it
        uses are kept: nothing proves them rolled up).
    raw_retention, power_retention : int
        Ages [s] past which rows go; 0 keeps that table whole.
    now_ts : int
        Now [UTC epoch s].

    Returns
    -------
    PruneReport
    """
    rep = PruneReport(now_ts=int(now_ts))
    rolled: dict[str, int | None] = {}

    def rolled_of(inst: str) -> int | None:
        if inst not in rolled:
            rolled[inst] = _rolled_up_to(store, inst)
        return rolled[inst]

    if raw_retention > 0 and config is not None:
        cutoff = int(now_ts) - int(raw_retention)
        feeds: dict[str, set[str]] = {}
        for row in config.rows:
            feeds.setdefault(row.sensor_id, set()).add(row.installation_id)
        for sid in store.raw_sensors():
            insts = feeds.get(sid)
            proofs = [rolled_of(i) for i in sorted(insts or ())]
            if not proofs or any(p is None for p in proofs):
                rep.kept.append(f"raw:{sid}")
                continue
            bound = _day_floor(min(cutoff, *proofs))
            b = store.raw_bounds(sid)
            if b is None or b[0] >= bound:
                continue
            _delete_days(store.delete_raw, sid, int(b[0]), bound)
            rep.raw[sid] = bound
        _raise_meta(store, RAW_PRUNED_META, max(rep.raw.values(), default=None))
        if store.expires_rows and store.raw_ttl_s > 0:
            # rows written with a TTL may be gone before now - retention, pruned or not
            _raise_meta(store, RAW_PRUNED_META, int(now_ts) - store.raw_ttl_s)
    if power_retention > 0:
        cutoff = int(now_ts) - int(power_retention)
        for inst in store.power_installations():
            proof = rolled_of(inst)
            if proof is None:
                rep.kept.append(f"power:{inst}")
                continue
            bound = _day_floor(min(cutoff, proof))
            b = store.power_bounds(inst)
            if b is None or b[0] >= bound:
                continue
            _delete_days(store.delete_power, inst, int(b[0]), bound)
            rep.power[inst] = bound
        _raise_meta(store, POWER_PRUNED_META, max(rep.power.values(), default=None))
        if store.expires_rows and store.power_ttl_s > 0:
            _raise_meta(store, POWER_PRUNED_META, int(now_ts) - store.power_ttl_s)
    if rep.raw or rep.power:
        log.info(
            "retention_pruned",
            raw_sensors=len(rep.raw),
            power_installations=len(rep.power),
            kept=len(rep.kept),
        )
    return rep


def _raise_meta(store: Store, key: str, value: int | None) -> None:
    if value is None:
        return
    old = store.get_meta(key)
    if old is None or int(old) < value:
        store.set_meta(key, str(int(value)))
