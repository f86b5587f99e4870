"""Installation power and rollups recomputed from stored raw power.

Used by the sync pipeline (for the range a sync touched) and after a configuration import
(for whole installations). Work goes day by day (local days), so memory stays bounded
and a per-installation checkpoint in the store's meta table lets an interrupted recompute
resume where it stopped. Every step deletes before it writes, so running it twice, or
again after a crash, leaves exactly the rows of one clean run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from vde.logs import get_logger
from vde.models import ROLLUP_RESOLUTIONS, ConfigVersion, PowerSeries, RawSeries, SensorRow
from vde.processing.configlint import home_of
from vde.processing.installation import installation_power_detail
from vde.processing.rollups import (
    DAY_S,
    bucket_bounds,
    combine_rollups,
    compute_rollups,
    local_day_starts,
)
from vde.progress import progress as progress_bar
from vde.storage.base import Store
from vde.sync.retention import recompute_floor
from vde.timeutil import GRID_S, iso_utc

log = get_logger(__name__)

_SUB_DAY = tuple(r for r in ROLLUP_RESOLUTIONS if r < DAY_S)
_CHECKPOINT = "recompute:{}"


@dataclass
class RangeResult:
    """What recomputing one installation over a range did."""

    rows: int = 0
    missing_slots: int = 0
    expected_slots: int = 0


def day_chunks(start: int, end: int) -> Iterator[tuple[int, int]]:
    """[start, end) cut at local (Brussels) midnights."""
    if end <= start:
        return
    days = local_day_starts(start, end - 1)
    for lo, hi in zip(days[:-1].tolist(), days[1:].tolist(), strict=True):
        a, b = max(lo, start), min(hi, end)
        if a < b:
            yield a, b


def rollup_range(
    store: Store,
    installation_id: str,
    start: int,
    end: int,
    *,
    power: PowerSeries | None = None,
) -> int:
    """Recompute every rollup resolution for the buckets that [start, end) touches.

    Sub-day buckets are computed from the stored 8-s power of whole hours; day buckets are
    combined from the hour buckets of whole local days (exactly equal to computing them
    from 8-s rows, far less to read). Buckets that lost all their data disappear.
    ``power``: the installation's power over exactly [start, end), just computed; only the
    rest of the touched hours is then read. Returns the number of buckets written.
    """
    if end <= start:
        return 0
    h0, h1 = bucket_bounds(start, end, 3600)
    if power is None:
        power = store.read_power(installation_id, h0, h1)
    elif (h0, h1) != (start, end):
        parts = [store.read_power(installation_id, h0, start), power]
        parts.append(store.read_power(installation_id, end, h1))
        power = _concat_power(parts)
    written = 0
    for res in _SUB_DAY:
        batch = compute_rollups(power, res)
        store.delete_rollups(installation_id, res, h0, h1)
        written += store.write_rollups(installation_id, batch)
    d0, d1 = bucket_bounds(start, end, DAY_S)
    hours = store.read_rollups(installation_id, 3600, d0, d1)
    days = combine_rollups(hours, DAY_S)
    store.delete_rollups(installation_id, DAY_S, d0, d1)
    written += store.write_rollups(installation_id, days)
    return written


def _concat_power(parts: list[PowerSeries]) -> PowerSeries:
    out = PowerSeries(
        ts=np.concatenate([p.ts for p in parts]).astype(np.int64),
        p_cons=np.concatenate([p.p_cons for p in parts]),
        p_prod=np.concatenate([p.p_prod for p in parts]),
        p_tot=np.concatenate([p.p_tot for p in parts]),
        estimated=np.concatenate([p.estimated for p in parts]).astype(bool),
    )
    if any(p.homes is not None for p in parts):
        # a group: rows stored before homes were counted know 0 homes, import from p_tot
        out.homes = np.concatenate(
            [np.zeros(len(p), np.int64) if p.homes is None else p.homes for p in parts]
        ).astype(np.int64)
        out.p_import = np.concatenate(
            [np.maximum(p.p_tot, 0.0) if p.p_import is None else p.p_import for p in parts]
        ).astype(np.float64)
    return out


RawReader = Callable[[str, int, int], RawSeries]


def recompute_range(
    store: Store,
    installation_id: str,
    rows: Sequence[SensorRow],
    config_version: int,
    start: int,
    end: int,
    *,
    read_raw: RawReader | None = None,
    homes: Mapping[str, str] | None = None,
) -> RangeResult:
    """Installation power and rollups over [start, end) (grid-aligned outwards).

    Old power rows in the range are deleted first, so a sensor removed from the
    configuration no longer counts. Goes local day by local day. ``read_raw(sensor_id,
    start, end)`` replaces ``store.read_raw`` (the sync shares one read among the
    installations that hold a sensor). ``homes``: each sensor's home
    (:func:`config_homes`); a group's power is then the sum of its complete homes per slot,
    with the homes it counts (without it, a group slot needs every sensor).
    """
    start = start - start % GRID_S
    end = -((-end) // GRID_S) * GRID_S
    read = read_raw or store.read_raw
    out = RangeResult()
    sensors = sorted({r.sensor_id for r in rows if r.net or r.prod})
    for a, b in day_chunks(start, end):
        raw = {sid: read(sid, a, b) for sid in sensors}
        detail = installation_power_detail(rows, raw, a, b, homes)
        store.delete_power(installation_id, a, b)
        out.rows += store.write_power(installation_id, detail.series, config_version)
        rollup_range(store, installation_id, a, b, power=detail.series)
        out.missing_slots += detail.missing_slots
        out.expected_slots += detail.expected_slots
    return out


def config_homes(config: ConfigVersion) -> dict[str, str]:
    """sensor id -> its home in ``config`` (``configlint.home_of``), for ``recompute_range``."""
    return home_of(config.rows)


def _data_range(
    store: Store, installation_id: str, rows: Sequence[SensorRow]
) -> tuple[int, int] | None:
    """From the first to past the last stored row of its sensors' raw or its own power."""
    bounds = [store.raw_bounds(sid) for sid in {r.sensor_id for r in rows if r.net or r.prod}]
    bounds.append(store.power_bounds(installation_id))
    bounds = [b for b in bounds if b is not None]
    if not bounds:
        return None
    return min(b[0] for b in bounds), max(b[1] for b in bounds) + GRID_S


def recompute(
    store: Store,
    config: ConfigVersion,
    installation_ids: list[str] | None,
    start: int | None = None,
    end: int | None = None,
    *,
    progress: bool = True,
) -> dict:
    """Recompute installation power and rollups from stored raw data under ``config``.

    Parameters
    ----------
    store : Store
    config : ConfigVersion
        Signs, sensors and start dates to apply; rows are tagged with its version id.
    installation_ids : list of str, optional
        Installations to recompute (default: every installation of ``config``). An id with
        no rows in ``config`` has its power and rollups deleted over the range.
    start, end : int, optional
        Range [UTC epoch s]; default: all stored raw of its sensors and its stored power.
    progress : bool
        Progress bar on a TTY (log lines otherwise).

    Returns
    -------
    dict
        {"config_version", "installations": {id: {"start", "end", "rows", "missing_slots",
        "resumed_from"}}, "rows", "missing_slots", "days"}.
    """
    ids = list(installation_ids) if installation_ids is not None else config.installations()
    plans = []
    for inst in ids:
        rows = config.rows_of(inst)
        rng = _data_range(store, inst, rows)
        lo = start if start is not None else (rng[0] if rng else None)
        hi = end if end is not None else (rng[1] if rng else None)
        # before the retention floor raw rows are gone: the rollups there are the data
        floor = recompute_floor(store)
        if lo is not None and floor is not None:
            lo = max(lo, floor)
        if lo is None or hi is None or hi <= lo:
            continue
        key = _CHECKPOINT.format(inst)
        resume_from = None
        saved = store.get_meta(key)
        if saved:
            cp = json.loads(saved)
            if (
                cp.get("version") == config.version_id
                and cp.get("start") == start
                and cp.get("end") == end
            ):
                resume_from = int(cp["done"])
        plans.append((inst, rows, lo, hi, resume_from))

    total_days = sum(
        sum(1 for _ in day_chunks(r if r is not None and r > lo else lo, hi))
        for _, _, lo, hi, r in plans
    )
    summary: dict = {
        "config_version": config.version_id,
        "installations": {},
        "rows": 0,
        "missing_slots": 0,
        "days": 0,
    }
    homes = config_homes(config)
    show = None if progress else False  # a bar only on a terminal; log lines otherwise
    with progress_bar("recompute", total_days, event="recompute_day", show=show) as advance:
        for inst, rows, lo, hi, resume_from in plans:
            key = _CHECKPOINT.format(inst)
            first = resume_from if resume_from is not None and lo < resume_from < hi else lo
            item = {"start": lo, "end": hi, "rows": 0, "missing_slots": 0, "resumed_from": None}
            if first != lo:
                item["resumed_from"] = first
                log.info("recompute_resume", installation_id=inst, since=iso_utc(first))
            for a, b in day_chunks(first, hi):
                res = recompute_range(store, inst, rows, config.version_id, a, b, homes=homes)
                item["rows"] += res.rows
                item["missing_slots"] += res.missing_slots
                summary["days"] += 1
                # checkpoint after the day is fully written: a crash redoes at most one day
                store.set_meta(
                    key,
                    json.dumps(
                        {"version": config.version_id, "start": start, "end": end, "done": b}
                    ),
                )
                step = f"{inst} {iso_utc(a)[:10]}"
                advance(1, step, step=step)
            store.set_meta(key, None)
            summary["installations"][inst] = item
            summary["rows"] += item["rows"]
            summary["missing_slots"] += item["missing_slots"]
            log.info(
                "recompute_installation",
                installation_id=inst,
                rows=item["rows"],
                missing_slots=item["missing_slots"],
            )
    return summary
