"""Stored power as Arrow tables, one installation and one file period at a time.

Columns (every format, every file of a kind):

- power at 8 s: ``installation_id, ts, utc_time, local_time, p_cons_w, p_prod_w, p_tot_w,
  coverage, estimated``: one row per 8-s slot with data (gaps are absent rows, never 0),
  so ``coverage`` is 1 on every row;
- power at 1 min .. 1 day (from the rollups): ``installation_id, ts, utc_time, local_time,
  duration_s, p_cons_w, p_prod_w, p_tot_w`` (mean power over the slots with data),
  ``e_cons_wh, e_prod_wh, e_tot_wh, e_import_wh, e_export_wh`` (energy), ``coverage``
  (share of the bucket's 8-s slots with data), ``estimated`` (some slot is estimated),
  ``estimated_share`` (share of the slots with data that are estimated);
- raw sensors (``--raw``, 8 s): ``installation_id, sensor_id, ts, utc_time, local_time,
  power_w, estimated``.

``ts`` is the start of the slot or bucket [UTC epoch s]; ``utc_time`` and ``local_time``
are the same instant (Parquet: timestamps in UTC and Europe/Brussels; CSV: ISO-8601 with
``Z`` and with the local offset). Estimated power is flat over a span whose energy two
meter counters prove (see README, how the numbers are computed).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from vde.models import ConfigVersion, RollupBatch
from vde.processing.rollups import local_day_starts
from vde.storage.base import Store
from vde.timeutil import BRUSSELS, GRID_S

UTC_TYPE = pa.timestamp("s", tz="UTC")
LOCAL_TYPE = pa.timestamp("s", tz=BRUSSELS.key)

POWER_8S = ("p_cons_w", "p_prod_w", "p_tot_w")
ROLLUP_POWER = {"p_cons_w": "p_cons_mean", "p_prod_w": "p_prod_mean", "p_tot_w": "p_tot_mean"}
ROLLUP_ENERGY = ("e_cons_wh", "e_prod_wh", "e_tot_wh", "e_import_wh", "e_export_wh")


def _times(installation_id: str, ts: np.ndarray) -> dict[str, pa.Array]:
    ts = np.asarray(ts, dtype=np.int64)
    instant = pa.array(ts.astype("datetime64[s]"))
    return {
        "installation_id": pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(len(ts), np.int32)), pa.array([installation_id])
        ),
        "ts": pa.array(ts, pa.int64()),
        "utc_time": instant.cast(UTC_TYPE),
        "local_time": instant.cast(LOCAL_TYPE),
    }


def _floats(a: np.ndarray) -> pa.Array:
    a = np.asarray(a, dtype=np.float64)
    return pa.array(a, pa.float64(), mask=np.isnan(a))


def power_table(store: Store, installation_id: str, start: int, end: int) -> tuple[pa.Table, set]:
    """8-s installation power in [start, end) and the configuration versions it came from."""
    p, versions = store.read_power_with_version(installation_id, start, end)
    cols = _times(installation_id, p.ts)
    for name, values in zip(POWER_8S, (p.p_cons, p.p_prod, p.p_tot), strict=True):
        cols[name] = _floats(values)
    cols["coverage"] = pa.array(np.ones(len(p)), pa.float64())
    cols["estimated"] = pa.array(_flags(p))
    return pa.table(cols), {int(v) for v in np.unique(versions)}


def _flags(series) -> np.ndarray:
    """The series' estimated flags (all False for a store without them)."""
    est = getattr(series, "estimated", None)
    return np.zeros(len(series), bool) if est is None else np.asarray(est, dtype=bool)


def bucket_lengths(batch: RollupBatch) -> np.ndarray:
    """Length of each bucket [s]: the resolution, or the local day's 23, 24 or 25 h."""
    if batch.resolution_s != 86400 or not len(batch):
        return np.full(len(batch), batch.resolution_s, dtype=np.int64)
    days = local_day_starts(int(batch.ts.min()), int(batch.ts.max()), BRUSSELS)
    i = np.searchsorted(days, batch.ts, side="left")
    return days[i + 1] - days[i]


def rollup_table(
    store: Store, installation_id: str, resolution_s: int, start: int, end: int
) -> pa.Table:
    """Rollup buckets starting in [start, end), with coverage and estimated share."""
    b = store.read_rollups(installation_id, resolution_s, start, end)
    n = np.asarray(b.columns["n"], dtype=np.float64)
    length = bucket_lengths(b)
    est = np.asarray(b.columns.get("estimated", np.zeros(len(b))), dtype=np.float64)
    cols = _times(installation_id, b.ts)
    cols["duration_s"] = pa.array(length, pa.int64())
    for name, field in ROLLUP_POWER.items():
        cols[name] = _floats(b.columns[field])
    for name in ROLLUP_ENERGY:
        cols[name] = _floats(b.columns[name])
    cols["coverage"] = pa.array(np.minimum(n * GRID_S / length, 1.0), pa.float64())
    cols["estimated"] = pa.array(est > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cols["estimated_share"] = _floats(np.where(n > 0, est / n, np.nan))
    return pa.table(cols)


def raw_table(
    store: Store, config: ConfigVersion | None, installation_id: str, start: int, end: int
) -> tuple[pa.Table, set]:
    """8-s power of each sensor of the installation (latest configuration), sensor by sensor."""
    sensors = sorted({r.sensor_id for r in config.rows_of(installation_id)}) if config else []
    parts, versions = [], set()
    for sid in sensors:
        raw, ver = store.read_raw_with_version(sid, start, end)
        cols = _times(installation_id, raw.ts)
        cols = {
            "installation_id": cols["installation_id"],
            "sensor_id": pa.DictionaryArray.from_arrays(
                pa.array(np.zeros(len(raw), np.int32)), pa.array([sid])
            ),
            "ts": cols["ts"],
            "utc_time": cols["utc_time"],
            "local_time": cols["local_time"],
            "power_w": _floats(raw.power_w),
            "estimated": pa.array(_flags(raw)),
        }
        parts.append(pa.table(cols))
        versions |= {int(v) for v in np.unique(ver)}
    if not parts:
        return empty_raw_table(installation_id), versions
    return pa.concat_tables(parts, promote_options="permissive").combine_chunks(), versions


def empty_raw_table(installation_id: str) -> pa.Table:
    cols = _times(installation_id, np.empty(0, np.int64))
    return pa.table(
        {
            "installation_id": cols["installation_id"],
            "sensor_id": pa.DictionaryArray.from_arrays(
                pa.array([], pa.int32()), pa.array([], pa.string())
            ),
            "ts": cols["ts"],
            "utc_time": cols["utc_time"],
            "local_time": cols["local_time"],
            "power_w": pa.array([], pa.float64()),
            "estimated": pa.array([], pa.bool_()),
        }
    )
