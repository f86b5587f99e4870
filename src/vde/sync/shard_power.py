"""Installation power of a sharded sync round (``vde.sync.shards``).

A shard's worker records per installation the ranges its sensors changed in the round
(meta ``power-pending:<installation>:<round>:<K>``). An installation is recomputed once
every shard holding one of its sensors is done (``RoundPower``), under its own lease
``power:<installation>``, from the marks read again under that lease; the marks are
deleted after the recompute, so it is never done twice at once and never missed.
"""

from __future__ import annotations

import hashlib
import json

from vde.errors import NotFoundError
from vde.logs import get_logger
from vde.models import ConfigVersion
from vde.storage.base import Store
from vde.sync.recompute import config_homes, day_chunks, recompute_range
from vde.sync.report import SyncReport
from vde.sync.windows import merge_ranges
from vde.timeutil import iso_utc

log = get_logger(__name__)

PENDING = "power-pending:"
POWER_LOCK_TTL_S = 600


def shard_of(sensor_id: str, shards: int) -> int:
    """Shard [0, shards) of a sensor: the same in every process and on every machine."""
    digest = hashlib.sha1(sensor_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % int(shards)


def pending_installations(store: Store) -> dict[str, dict[str, list[tuple[int, int]]]]:
    """installation -> {meta key: ranges} of power recomputes still to do."""
    out: dict[str, dict[str, list[tuple[int, int]]]] = {}
    for key, value in store.meta_items().items():
        if key.startswith(PENDING):
            inst = key[len(PENDING) :].rsplit(":", 2)[0]
            out.setdefault(inst, {})[key] = [(int(a), int(b)) for a, b in json.loads(value)]
    return out


def needed_shards(config: ConfigVersion, count: int) -> dict[str, frozenset[int]]:
    """installation -> the shards holding its sensors: its power waits for all of them."""
    out: dict[str, set[int]] = {}
    for row in config.rows:
        out.setdefault(row.installation_id, set()).add(shard_of(row.sensor_id, count))
    return {inst: frozenset(ks) for inst, ks in out.items()}


def recompute_installation(
    store: Store,
    config: ConfigVersion,
    installation_id: str,
    keys: list[str],
    report: SyncReport | None = None,
    homes: dict | None = None,
    **note: object,
) -> str:
    """Recompute one installation over the ranges of its pending marks ``keys``.

    Under the installation's lease; the marks are read again under it and deleted after
    the recompute. Returns "done", "none" (no mark left: nothing to do, or another worker
    did it) or "busy" (another live process holds the lease). ``note`` goes into the
    installation's report item (e.g. how many shards of the round were done).
    ``homes``: ``config_homes(config)``, computed once by a caller recomputing many.
    """
    name = f"power:{installation_id}"
    if not store.try_lock(name, POWER_LOCK_TTL_S):
        return "busy"
    try:
        marks = {k: store.get_meta(k) for k in keys}
        marks = {k: v for k, v in marks.items() if v is not None}
        if not marks:
            return "none"
        ranges = merge_ranges([(int(a), int(b)) for v in marks.values() for a, b in json.loads(v)])
        item = {"rows": 0, "missing_slots": 0, "ranges": [], **note}
        rows = config.rows_of(installation_id)
        if homes is None:
            homes = config_homes(config)  # a group counts its complete homes per slot
        for lo, hi in ranges:
            for a, b in day_chunks(lo, hi):
                res = recompute_range(
                    store, installation_id, rows, config.version_id, a, b, homes=homes
                )
                item["rows"] += res.rows
                item["missing_slots"] += res.missing_slots
                store.refresh_lock(name, POWER_LOCK_TTL_S)
            item["ranges"].append([iso_utc(lo), iso_utc(hi)])
        for key in marks:
            store.set_meta(key, None)
        if report is not None:
            old = report.installations.get(installation_id)
            if old is not None:  # leftovers of an earlier round, then this round's
                item["rows"] += old["rows"]
                item["missing_slots"] += old["missing_slots"]
                item["ranges"] = old["ranges"] + item["ranges"]
            report.installations[installation_id] = item
        log.info(
            "power_recomputed",
            installation_id=installation_id,
            rows=item["rows"],
            marks=len(marks),
            **note,
        )
        return "done"
    finally:
        store.release_lock(name)


def recompute_pending(store: Store, report: SyncReport | None = None) -> int:
    """Recompute every installation with pending marks (any round) whose lease it gets.

    Returns how many installations this call recomputed. Installations leased by another
    live process are left to it; marks written after the scan stay for the next call.
    """
    config = store.load_config()
    if config is None:
        raise NotFoundError("no configuration imported yet (run: vde config import PATH)")
    done = 0
    homes = config_homes(config)
    pending = pending_installations(store)
    for inst in sorted(pending):
        state = recompute_installation(
            store, config, inst, sorted(pending[inst]), report, homes=homes
        )
        done += state == "done"
    return done


class RoundPower:
    """This worker's view of one round's installation power.

    ``step(done)`` recomputes every installation all of whose shards are in ``done`` and
    that has marks of this round; an installation leaves the view once recomputed (by
    this worker or another) or found without marks, and stays while another worker holds
    its lease (the next step looks again).
    """

    def __init__(self, store: Store, config: ConfigVersion, count: int, round_ts: int) -> None:
        self.store, self.config, self.count, self.round_ts = store, config, count, round_ts
        self.needed = needed_shards(config, count)
        self.left = set(self.needed)
        self.homes = config_homes(config)

    def keys(self, installation_id: str) -> list[str]:
        return [
            f"{PENDING}{installation_id}:{self.round_ts}:{k}"
            for k in sorted(self.needed[installation_id])
        ]

    def step(self, done: set[int], report: SyncReport) -> int:
        recomputed = 0
        for inst in sorted(self.left):
            if not self.needed[inst] <= done:
                continue
            keys = self.keys(inst)
            # once its shards are done no mark of this round can appear: none, nothing to do
            if all(self.store.get_meta(k) is None for k in keys):
                self.left.discard(inst)
                continue
            state = recompute_installation(
                self.store,
                self.config,
                inst,
                keys,
                report,
                homes=self.homes,
                shards_done=f"{len(done)}/{self.count}",
            )
            if state != "busy":
                self.left.discard(inst)
                recomputed += state == "done"
        return recomputed
