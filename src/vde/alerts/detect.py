"""Detection for one installation and one day: read from the store, run the pure checks,
describe each problem as an ``Alert`` (id, fingerprint and status are set by ``run``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import orjson

from vde.alerts.checks import (
    day_slots,
    find_sign_flip,
    missing_periods,
    periods_of,
    present_mask,
    sign_check,
)
from vde.alerts.sun import night_mask
from vde.models import Alert, PowerSeries, RawSeries, SensorRow
from vde.processing.installation import installation_power_detail
from vde.settings import Settings
from vde.storage.base import Store
from vde.timeutil import GRID_S, ceil_grid

#: Signs are checked on means over periods of this length [s]: meters write their points at
#: different instants, so single 8-s slots show brief negative consumption when clouds
#: pass (a few slots a day on the simulator's healthy homes); a wrong sign shows in every
#: mean. 300 s divides every hour, so periods start on local quarter hours.
PERIOD_S = 300
#: Night production is tolerated on fewer periods than this (15 min): right after sunset a
#: large array still gets some diffuse light, while a miswired sensor produces all night.
NIGHT_MIN_PERIODS = 3
#: Missing periods listed in one alert; the rest are counted.
MAX_PERIODS = 30


def _raw(store: Store, cache: dict, sensor_id: str, start: int, end: int) -> RawSeries:
    key = ("raw", sensor_id, start, end)
    if key not in cache:
        cache[key] = store.read_raw(sensor_id, start, end)
    return cache[key]


def _power(store: Store, cache: dict, inst: str, start: int, end: int) -> PowerSeries:
    key = ("power", inst, start, end)  # both checks read it: read it once
    if key not in cache:
        cache[key] = store.read_power(inst, start, end)
    return cache[key]


def _raws(store: Store, cache: dict, rows: Sequence[SensorRow], start: int, end: int) -> dict:
    return {r.sensor_id: _raw(store, cache, r.sensor_id, start, end) for r in rows}


def sensor_label(rows: Sequence[SensorRow], sensor_id: str) -> str:
    """'PV (sensor 0123…cdef)' with the full id: how people find a sensor in the workbook."""
    fn = next((r.function for r in rows if r.sensor_id == sensor_id), "")
    return f"{fn} (sensor {sensor_id})" if fn else f"sensor {sensor_id}"


def _duration(seconds: int) -> str:
    h, rest = divmod(int(seconds), 3600)
    m, s = divmod(rest, 60)
    parts = [f"{h} h"] * bool(h) + [f"{m} min"] * bool(m) + [f"{s} s"] * bool(s)
    return " ".join(parts) or "0 s"


def _span(periods: int) -> str:
    return _duration(periods * PERIOD_S)


def _clock(ts: int, tz: ZoneInfo, day_end: int, dst_day: bool) -> str:
    if ts >= day_end:
        return "24:00:00"
    t = datetime.fromtimestamp(ts, tz)
    # on a 23-h or 25-h day, 02:30 is ambiguous or absent: show the offset too
    return t.strftime("%H:%M:%S%z") if dst_day else t.strftime("%H:%M:%S")


def detect_missing(
    store: Store,
    settings: Settings,
    inst: str,
    rows: Sequence[SensorRow],
    start: int,
    end: int,
    cache: dict,
    tz: ZoneInfo,
    day_end: int | None = None,
) -> list[Alert]:
    """A ``missing`` alert when too large a share of the day's slots has no power row."""
    contrib = [r for r in rows if (r.net or r.prod) and r.start_ts < end]
    if not contrib:
        return []  # no sensor counts in this installation's power: nothing is expected
    first = max(start, int(ceil_grid(min(r.start_ts for r in contrib))))
    slots = day_slots(first, end)
    if slots.size == 0:
        return []
    power = _power(store, cache, inst, start, end)
    present = present_mask(slots, power.ts)
    n_missing = int(slots.size - np.count_nonzero(present))
    share = n_missing / slots.size
    if share <= settings.alert_missing_share:
        return []
    raw = _raws(store, cache, contrib, start, end)
    gaps = installation_power_detail(contrib, raw, first, end).missing_by_sensor
    periods = missing_periods(slots, present, gaps)
    day_end = end if day_end is None else day_end
    dst_day = (day_end - start) != 86400
    listed = []
    for p in periods[:MAX_PERIODS]:
        listed.append(
            {
                "start": _clock(p.start_ts, tz, day_end, dst_day),
                "end": _clock(p.end_ts, tz, day_end, dst_day),
                "start_ts": p.start_ts,
                "end_ts": p.end_ts,
                "duration": _duration(p.end_ts - p.start_ts),
                "sensor_ids": list(p.sensors),
                "sensors": [sensor_label(rows, s) for s in p.sensors],
            }
        )
    culprits = sorted({s for p in periods for s in p.sensors})
    if culprits:
        action = "no raw data from " + ", ".join(sensor_label(rows, s) for s in culprits)
        pending = [s for s in culprits if store.missing(s)]
        if pending:
            action += f" ({len(pending)} with a re-fetch pending)"
    else:
        action = "every sensor has raw data there: recompute the power (vde recompute)"
    n = len(periods)
    summary = (
        f"{share * 100:.1f} % of the day without power data "
        f"({n_missing} of {slots.size} 8-s slots, {n} period{'s' * (n != 1)})"
    )
    details = {
        "share": round(share, 5),
        "missing_slots": n_missing,
        "slots": int(slots.size),
        "periods": listed,
        "more_periods": max(0, n - MAX_PERIODS),
        "sensor_ids": culprits,
        "action": action,
    }
    # changed = other periods or other sensors to blame, not a different count of slots
    signature = [[p.start_ts, p.end_ts, list(p.sensors)] for p in periods]
    return [_alert("missing", inst, summary, details, signature)]


def detect_sign(
    store: Store,
    settings: Settings,
    inst: str,
    rows: Sequence[SensorRow],
    start: int,
    end: int,
    cache: dict,
) -> list[Alert]:
    """``sign`` and ``night`` alerts, each naming the sensor whose sign flip fixes the day."""
    power = _power(store, cache, inst, start, end)
    if len(power) == 0:
        return []
    lat, lon = settings.locations.get(inst) or (settings.latitude, settings.longitude)
    key = ("night", float(lat), float(lon), start, end)
    if key not in cache:
        cache[key] = night_mask(day_slots(start, end), lat, lon)
    night_of = cache[key]
    per = periods_of(power.ts, start, PERIOD_S)
    night = per.all_of(night_of[(power.ts - ceil_grid(start)) // GRID_S])
    kw = {
        "sign_threshold_w": settings.alert_sign_threshold_w,
        "night_threshold_w": settings.alert_night_threshold_w,
    }
    chk = sign_check(per.mean(power.p_cons), per.mean(power.p_prod), night, **kw)
    sign_bad = not chk.sign_ok
    night_bad = chk.night_production >= NIGHT_MIN_PERIODS
    if not (sign_bad or night_bad):
        return []
    contrib = [r for r in rows if r.net or r.prod]
    raw = _raws(store, cache, contrib, start, end)
    flip = find_sign_flip(
        rows, raw, start, end, night_of, period_s=PERIOD_S, night_min=NIGHT_MIN_PERIODS, **kw
    )
    if flip.sensor_id:
        action = f"flip the sign of {sensor_label(rows, flip.sensor_id)}: the day is then coherent"
    elif flip.candidates:
        action = "flipping any one of these makes the day coherent: " + ", ".join(
            sensor_label(rows, s) for s in flip.candidates
        )
    elif night_bad:
        prod = sorted({r.sensor_id for r in rows if r.prod})
        action = "no single sign flip explains it: check the wiring of " + (
            ", ".join(sensor_label(rows, s) for s in prod) or "the production sensors"
        )
    else:
        action = "no single sign flip explains it: check the wiring and the workbook signs"
    common = {
        "flip_sensor": flip.sensor_id,
        "flip_candidates": list(flip.candidates),
        "action": action,
        "checked_periods": chk.n,
        "period_s": PERIOD_S,
    }
    thr = settings.alert_sign_threshold_w
    out = []
    if sign_bad:
        parts = []
        if chk.prod_positive:
            parts.append(
                f"production above +{thr:g} W during {_span(chk.prod_positive)} "
                f"(5-min means up to {chk.max_prod_w:+.0f} W)"
            )
        if chk.cons_negative:
            parts.append(
                f"consumption below -{thr:g} W during {_span(chk.cons_negative)} "
                f"(5-min means down to {chk.min_cons_w:+.0f} W)"
            )
        details = {
            **common,
            "prod_positive": chk.prod_positive,
            "cons_negative": chk.cons_negative,
            "max_prod_w": None if chk.max_prod_w is None else round(chk.max_prod_w),
            "min_cons_w": None if chk.min_cons_w is None else round(chk.min_cons_w),
        }
        # changed = another kind of violation or another sensor to flip, not other counts
        signature = [chk.prod_positive > 0, chk.cons_negative > 0, list(flip.candidates)]
        out.append(_alert("sign", inst, "; ".join(parts), details, signature))
    if night_bad:
        assert chk.max_night_prod_w is not None
        summary = (
            f"production while the sun is below the horizon during "
            f"{_span(chk.night_production)} (5-min means up to {chk.max_night_prod_w:.0f} W)"
        )
        details = {
            **common,
            "night_production": chk.night_production,
            "max_night_prod_w": round(chk.max_night_prod_w),
            "location": [lat, lon],
        }
        out.append(_alert("night", inst, summary, details, [list(flip.candidates), lat, lon]))
    return out


def fingerprint(kind: str, installation_id: str, signature: object) -> str:
    """Hash of what makes an alert the same problem: equal means "already told".

    ``signature`` holds what matters to the reader (the missing periods and their sensors;
    the kind of sign violation and the sensor to flip), not counts that move with every
    re-fetched slot.
    """
    payload = orjson.dumps([kind, installation_id, signature], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(payload).hexdigest()[:32]


def _alert(kind: str, inst: str, summary: str, details: dict, signature: object) -> Alert:
    # id and day are filled in by run_alerts, which knows the day
    return Alert(
        alert_id="",
        kind=kind,
        installation_id=inst,
        day="",
        summary=summary,
        details=details,
        fingerprint=fingerprint(kind, inst, signature),
    )
