"""Detection for one installation and one day: read from the store, run the pure checks,
describe each problem as an ``Alert`` (id, fingerprint and status are set by ``run``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import orjson

from vde.alerts.checks import day_slots, missing_periods, periods_of, present_mask
from vde.alerts.diagnose import Diagnosis, Limits, check_power, diagnose, standby_allowance
from vde.alerts.sun import night_mask
from vde.models import Alert, PowerSeries, RawSeries, SensorRow
from vde.processing.configlint import home_of, lint_installation
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


def row_name(r: SensorRow, homes: Mapping[str, str]) -> str:
    """A row's Function; in a group, with its member home: 'CDB003 / PV'."""
    home = homes.get(r.sensor_id, r.installation_id)
    name = r.function or "sensor"
    return name if home == r.installation_id else f"{home} / {name}"


def sensor_label(
    rows: Sequence[SensorRow], sensor_id: str, homes: Mapping[str, str] | None = None
) -> str:
    """'PV (sensor 0123…cdef)' with the full id: how people find a sensor in the workbook.

    In a group the member home comes first: 'CDB003 / PV (sensor …)'.
    """
    row = next((r for r in rows if r.sensor_id == sensor_id), None)
    if row is None or not row.function:
        return f"sensor {sensor_id}"
    return f"{row_name(row, homes or {})} (sensor {sensor_id})"


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
    homes: Mapping[str, str] | None = None,
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
                "sensors": [sensor_label(rows, s, homes) for s in p.sensors],
            }
        )
    culprits = sorted({s for p in periods for s in p.sensors})
    if culprits:
        action = "no raw data from " + ", ".join(sensor_label(rows, s, homes) for s in culprits)
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


def _limits(settings: Settings) -> Limits:
    return Limits(
        sign_threshold_w=settings.alert_sign_threshold_w,
        night_threshold_w=settings.alert_night_threshold_w,
        standby_w=settings.alert_standby_w,
        night_min=NIGHT_MIN_PERIODS,
    )


def _kwh(k: dict) -> str:
    return (
        f"consumption {k['cons']:.2f} kWh, production {k['prod']:.2f} kWh, grid {k['tot']:.2f} kWh"
    )


def fix_words(diag: Diagnosis) -> str:
    """The diagnosis as a sentence for the email's "what to check"."""
    assert diag.edits
    edits = "; ".join(e.words() for e in diag.edits)
    assert diag.kwh_fixed is not None
    return f"in the workbook, {edits}. The day then gives {_kwh(diag.kwh_fixed)}"


def detect_sign(
    store: Store,
    settings: Settings,
    inst: str,
    rows: Sequence[SensorRow],
    start: int,
    end: int,
    cache: dict,
    homes: Mapping[str, str] | None = None,
) -> list[Alert]:
    """``sign`` and ``night`` alerts, each with the workbook edits that fix the day.

    ``homes`` (sensor id -> home, ``configlint.home_of`` of the whole configuration)
    names a group's sensors with their home and diagnoses a group home by home.
    """
    power = _power(store, cache, inst, start, end)
    if len(power) == 0:
        return []
    homes = home_of(rows) if homes is None else homes
    lat, lon = settings.locations.get(inst) or (settings.latitude, settings.longitude)
    key = ("night", float(lat), float(lon), start, end)
    if key not in cache:
        cache[key] = night_mask(day_slots(start, end), lat, lon)
    night_of = cache[key]
    per = periods_of(power.ts, start, PERIOD_S)
    night = per.all_of(night_of[(power.ts - ceil_grid(start)) // GRID_S])
    limits = _limits(settings)
    standby = standby_allowance(rows, homes, settings.alert_standby_w)
    chk = check_power(per.mean(power.p_cons), per.mean(power.p_prod), night, limits, standby)
    sign_bad = not chk.sign_ok
    night_bad = chk.night_production >= NIGHT_MIN_PERIODS
    if not (sign_bad or night_bad):
        return []
    contrib = [r for r in rows if r.net or r.prod]
    raw = _raws(store, cache, contrib, start, end)

    def label(r: SensorRow) -> str:
        return row_name(r, homes)

    diag = diagnose(rows, raw, start, end, night_of, homes, limits, label, period_s=PERIOD_S)
    if diag.found:
        action = fix_words(diag)
    elif diag.edits == ():
        # the stored power is older than the workbook's signs: recomputing fixes it
        action = (
            "the day recomputed from raw data with the current workbook is coherent: "
            f"recompute the power (vde recompute --installations {inst})"
        )
    elif night_bad and not sign_bad:
        prod = [r for r in rows if r.prod]
        action = "no fix found: no workbook edit makes the day coherent; check the wiring of " + (
            ", ".join(sensor_label(rows, r.sensor_id, homes) for r in prod)
            or "the production sensors"
        )
    else:
        action = "no fix found: no workbook edit makes the day coherent; check the wiring"
    lint_found = [str(f) for f in lint_installation(rows, homes)]
    fix = [e.to_json() for e in diag.edits or ()]
    flipped = {e.sensor_id for e in diag.edits or ()}
    common = {
        "fix": fix,
        "fix_found": diag.found,
        "fix_kwh": diag.kwh_fixed if diag.found else None,
        "kwh_now": diag.kwh_now,
        "fix_alternatives": diag.alternatives,
        # the one sensor to flip, when the fix is flipping that sensor's signs
        "flip_sensor": next(iter(flipped))
        if len(flipped) == 1 and all(e.new for e in diag.edits or ())
        else None,
        "lint": lint_found,
        "homes": list(diag.homes),  # member homes whose own rows make the day incoherent
        "action": action,
        "checked_periods": chk.n,
        "period_s": PERIOD_S,
        "standby_w": standby,
    }
    fix_key = sorted([e["installation"], e["sensor_id"], e["column"], e["to"]] for e in fix)
    thr = settings.alert_sign_threshold_w
    out = []
    if sign_bad:
        parts = []
        if chk.prod_positive:
            parts.append(
                f"production above +{standby:g} W (more than an inverter's standby draw) "
                f"during {_span(chk.prod_positive)} (5-min means up to {chk.max_prod_w:+.0f} W)"
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
        # changed = another kind of violation or another fix, not other counts
        signature = [chk.prod_positive > 0, chk.cons_negative > 0, fix_key]
        out.append(_alert("sign", inst, "; ".join(parts), details, signature))
    if night_bad:
        assert chk.max_night_prod_w is not None
        summary = (
            f"production while the sun is below the horizon during "
            f"{_span(chk.night_production)} (5-min means up to {chk.max_night_prod_w:.0f} W "
            "produced)"
        )
        details = {
            **common,
            "night_production": chk.night_production,
            "max_night_prod_w": round(chk.max_night_prod_w),
            "location": [lat, lon],
        }
        out.append(_alert("night", inst, summary, details, [fix_key, lat, lon]))
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
