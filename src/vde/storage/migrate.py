"""Copy a whole vde database to another backend (``vde db migrate --to URL``).

Everything goes through the Store interface, so any backend can be the source or the
target. Time series are copied in chunks of ``chunk_s`` seconds; after each chunk the
target's meta table records how far that series got (``migrate:<series>`` ->
``{"source": url, "until": ts}``), so an interrupted migration resumes where it
stopped. Writes are idempotent upserts: a chunk copied twice changes nothing.
Locks are not copied (they belong to running processes).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from vde.logs import get_logger
from vde.models import RollupBatch
from vde.storage.base import Store

log = get_logger(__name__)

CHECKPOINT_PREFIX = "migrate:"
DEFAULT_CHUNK_S = 7 * 86400

#: progress(stage, done, total, rows) after each step
Progress = Callable[[str, int, int, int], None]


@dataclass
class MigrateReport:
    rows: dict[str, int] = field(default_factory=dict)  # rows copied by this run, per table
    skipped_chunks: int = 0  # chunks already copied by an earlier run


def _chunks(lo: int, hi: int, chunk_s: int) -> list[tuple[int, int]]:
    """[start, end) windows covering [lo, hi] aligned on chunk_s."""
    first = lo - lo % chunk_s
    return [(s, s + chunk_s) for s in range(first, hi + 1, chunk_s)]


class _Checkpoints:
    def __init__(self, target: Store, source_url: str) -> None:
        self.target = target
        self.source_url = source_url

    def until(self, series: str) -> int | None:
        raw = self.target.get_meta(CHECKPOINT_PREFIX + series)
        if raw is None:
            return None
        data = json.loads(raw)
        return int(data["until"]) if data.get("source") == self.source_url else None

    def mark(self, series: str, until: int) -> None:
        self.target.set_meta(
            CHECKPOINT_PREFIX + series, json.dumps({"source": self.source_url, "until": int(until)})
        )

    def clear(self) -> None:
        for key in list(self.target.meta_items()):
            if key.startswith(CHECKPOINT_PREFIX):
                self.target.set_meta(key, None)


def plan(source: Store, chunk_s: int = DEFAULT_CHUNK_S) -> list[tuple[str, str, tuple]]:
    """Every step of a migration: (series name, kind, args), in order."""
    steps: list[tuple[str, str, tuple]] = [("small-tables", "small", ())]
    for sensor in source.raw_sensors():
        b = source.raw_bounds(sensor)
        if b:
            steps += [(f"raw:{sensor}", "raw", (sensor, s, e)) for s, e in _chunks(*b, chunk_s)]
    for inst in source.power_installations():
        b = source.power_bounds(inst)
        if b:
            steps += [(f"power:{inst}", "power", (inst, s, e)) for s, e in _chunks(*b, chunk_s)]
    for inst, res in source.rollup_keys():
        b = source.rollup_bounds(inst, res)
        if b:
            # rollups are ~ chunk_s / res rows per chunk: use longer windows for coarse ones
            span = chunk_s * max(1, res // 60)
            steps += [
                (f"rollup:{inst}:{res}", "rollup", (inst, res, s, e)) for s, e in _chunks(*b, span)
            ]
    return steps


def _copy_small(source: Store, target: Store) -> dict[str, int]:
    n: dict[str, int] = {}
    versions = source.config_versions()
    for vid, _ in versions:
        cfg = source.load_config(vid)
        if cfg is not None:
            target.save_config_version(cfg)
    n["config_versions"] = len(versions)
    pairs = source.access()
    target.replace_access(pairs)
    n["access"] = len(pairs)
    caps = source.captions()
    target.replace_captions(caps)
    n["group"] = len(caps)
    by_sensor = defaultdict(list)
    for m in source.missing():
        by_sensor[m.sensor_id].append(m)
    for sensor, intervals in by_sensor.items():
        target.replace_missing(sensor, intervals)
    n["raw_missing"] = sum(len(v) for v in by_sensor.values())
    estimated = defaultdict(list)
    for m in source.estimated_intervals():
        estimated[m.sensor_id].append(m)
    for sensor, intervals in estimated.items():
        target.replace_estimated(sensor, intervals)
    n["raw_estimated"] = sum(len(v) for v in estimated.values())
    states = source.sync_states()
    for s in states.values():
        target.put_sync_state(s)
    n["sync_state"] = len(states)
    alerts = source.alerts()
    for a in alerts:
        target.put_alert(a)
    n["alerts"] = len(alerts)
    tokens = source.api_tokens()
    for t in tokens:
        target.put_api_token(t)
    n["api_tokens"] = len(tokens)
    targets = source.export_targets()
    for name in targets:
        target.set_export_marks(name, source.export_marks(name))
    n["export_state"] = len(targets)
    users = source.users()
    for u in users:
        target.put_user(u)
    n["users"] = len(users)
    meta = {k: v for k, v in source.meta_items().items() if not k.startswith(CHECKPOINT_PREFIX)}
    for k, v in meta.items():
        target.set_meta(k, v)
    n["meta"] = len(meta)
    # energy sharing keys; balances and results are derived (vde sharing run recomputes)
    keys = source.sharing_keys()
    for community, versions in keys.items():
        target.replace_sharing_keys(community, versions)
    n["sharing_keys"] = sum(len(v) for v in keys.values())
    return n


def _copy_step(source: Store, target: Store, kind: str, args: tuple) -> int:
    if kind == "raw":
        sensor, s, e = args
        series, versions = source.read_raw_with_version(sensor, s, e)
        for v in np.unique(versions):
            sel = versions == v
            target.write_raw(
                sensor, series.ts[sel], series.power_w[sel], int(v), series.estimated[sel]
            )
        return len(series)
    if kind == "power":
        inst, s, e = args
        series, versions = source.read_power_with_version(inst, s, e)
        for v in np.unique(versions):
            sel = versions == v
            sub = type(series)(
                ts=series.ts[sel],
                p_cons=series.p_cons[sel],
                p_prod=series.p_prod[sel],
                p_tot=series.p_tot[sel],
                estimated=series.estimated[sel],
            )
            target.write_power(inst, sub, int(v))
        return len(series)
    inst, res, s, e = args
    batch: RollupBatch = source.read_rollups(inst, res, s, e)
    if len(batch):
        target.write_rollups(inst, batch)
    return len(batch)


def migrate(
    source: Store,
    target: Store,
    *,
    chunk_s: int = DEFAULT_CHUNK_S,
    progress: Progress | None = None,
) -> MigrateReport:
    """Copy every table of ``source`` into ``target`` (schema created), resumably."""
    target.create_schema()
    steps = plan(source, chunk_s)
    cp = _Checkpoints(target, source.url)
    report = MigrateReport()
    log.info("migrate_start", source=source.url, target=target.url, steps=len(steps))
    for i, (series, kind, args) in enumerate(steps, 1):
        if kind == "small":
            # small tables are copied again on every run: cheap, and they may have changed
            for table, count in _copy_small(source, target).items():
                report.rows[table] = report.rows.get(table, 0) + count
            rows = sum(report.rows.values())
        else:
            end = args[-1]
            done = cp.until(series)
            if done is not None and done >= end:
                report.skipped_chunks += 1
                rows = 0
            else:
                rows = _copy_step(source, target, kind, args)
                table = {"raw": "raw", "power": "power", "rollup": "power_rollup"}[kind]
                report.rows[table] = report.rows.get(table, 0) + rows
                cp.mark(series, end)
        if progress is not None:
            progress(series, i, len(steps), rows)
    cp.clear()
    target.set_meta("migrated_from", source.url)
    log.info(
        "migrate_done",
        source=source.url,
        target=target.url,
        rows=report.rows,
        skipped=report.skipped_chunks,
    )
    return report
