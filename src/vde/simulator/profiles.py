"""Household consumption and PV physics of the simulated fleet, per 256-s block.

Everything is a pure, vectorised function of (seed, home, block start). Randomness comes
from a counter-based hash (splitmix64) of absolute indices, never from a stateful RNG, so
the value of a block does not depend on which chunk of time is being computed: the fleet
is lazy and still deterministic.

Wiring of a home (the signs written to the workbook follow from it):

* loads ``L_i >= 0`` per phase (base load, daily/weekly rhythm, appliance spikes, an
  electric vehicle for some homes), PV output ``S_i >= 0`` on the phase(s) of the inverter;
* the grid sensor of phase i counts import ``max(L_i - S_i, 0)`` (``Mains`` / ``Phase Li``,
  Network +1) and its reverse twin counts export ``max(S_i - L_i, 0)`` (``Mains-`` /
  ``Phase Li-``, Network -1);
* ``PV`` counts the inverter output S (Prod -1, Cons +1, Network blank): so
  ``P_prod = -S <= 0``, ``P_tot = sum(import - export) = L - S`` and
  ``P_cons = P_tot - P_prod = L >= 0``;
* ``PV-`` counts the inverter's night standby draw, which is also part of L; all its signs
  are blank (informative twin, as in the real workbook);
* ``EV`` counts the car charger (already inside L, so only the VE column is set: '1'),
  ``EV-`` its reverse twin (vehicle-to-home, always 0 here; VE '-1').
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

BLOCK_S = 256
LAT_DEG = 50.85  # Brussels
LON_DEG = 4.35

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    x = (x + _GOLDEN) & np.uint64(0xFFFFFFFFFFFFFFFF)
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def hash_u01(seed: int, *keys: int | np.ndarray) -> np.ndarray:
    """Uniform [0, 1) values, a pure function of (seed, keys); keys broadcast."""
    with np.errstate(over="ignore"):
        h = _mix(np.atleast_1d(np.asarray(seed % (1 << 63), dtype=np.uint64)))
        for k in keys:
            k64 = np.atleast_1d(np.asarray(k, dtype=np.int64)).astype(np.uint64)
            h = _mix(h ^ k64)
        return (h >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


# --- local time (Europe/Brussels) --------------------------------------------------------


def _last_sunday(year: int, month: int) -> date:
    d = date(year, month, 31)
    return d - timedelta(days=(d.weekday() + 1) % 7)


def _dst_table() -> tuple[np.ndarray, np.ndarray]:
    edges, offsets = [], []
    for y in range(1970, 2101):
        for month, off in ((3, 7200), (10, 3600)):
            d = _last_sunday(y, month)
            edges.append((d - date(1970, 1, 1)).days * 86400 + 3600)  # 01:00 UTC
            offsets.append(off)
    return np.asarray(edges, dtype=np.int64), np.asarray(offsets, dtype=np.int64)


_DST_EDGES, _DST_OFFSETS = _dst_table()


def brussels_offset(ts: np.ndarray) -> np.ndarray:
    """UTC offset of Europe/Brussels at ``ts`` [s] (3600 or 7200), vectorised."""
    i = np.searchsorted(_DST_EDGES, ts, side="right") - 1
    return np.where(i >= 0, _DST_OFFSETS[np.clip(i, 0, None)], 3600)


# --- sun -----------------------------------------------------------------------------------


def solar_position(ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sun elevation and azimuth (from north, clockwise) over Brussels [rad].

    Low-precision almanac formulas (about 0.01 deg), enough for PV physics.
    """
    n = np.asarray(ts, dtype=np.float64) / 86400.0 + 2440587.5 - 2451545.0
    mean_lon = np.deg2rad((280.460 + 0.9856474 * n) % 360.0)
    g = np.deg2rad((357.528 + 0.9856003 * n) % 360.0)
    lam = mean_lon + np.deg2rad(1.915) * np.sin(g) + np.deg2rad(0.020) * np.sin(2 * g)
    eps = np.deg2rad(23.439 - 0.0000004 * n)
    ra = np.arctan2(np.cos(eps) * np.sin(lam), np.cos(lam))
    dec = np.arcsin(np.sin(eps) * np.sin(lam))
    gmst_h = (18.697374558 + 24.06570982441908 * n) % 24.0
    ha = np.deg2rad(gmst_h * 15.0 + LON_DEG) - ra
    lat = np.deg2rad(LAT_DEG)
    sin_el = np.sin(lat) * np.sin(dec) + np.cos(lat) * np.cos(dec) * np.cos(ha)
    el = np.arcsin(np.clip(sin_el, -1.0, 1.0))
    az = np.arctan2(np.sin(ha), np.cos(ha) * np.sin(lat) - np.tan(dec) * np.cos(lat)) + np.pi
    return el, az % (2 * np.pi)


def clear_sky_poa(ts: np.ndarray, tilt_deg: float, azimuth_deg: float) -> np.ndarray:
    """Clear-sky irradiance on a tilted plane [W/m2] (Haurwitz GHI, Meinel DNI)."""
    el, az = solar_position(ts)
    cos_z = np.sin(el)
    up = cos_z > 0.01
    cz = np.where(up, cos_z, 1.0)
    ghi = np.where(up, 1098.0 * cz * np.exp(-0.057 / cz), 0.0)
    dni = np.where(up, 1353.0 * 0.7 ** ((1.0 / cz) ** 0.678), 0.0)
    dhi = np.clip(ghi - dni * cz, 0.0, None)
    tilt = np.deg2rad(tilt_deg)
    cos_aoi = cos_z * np.cos(tilt) + np.cos(el) * np.sin(tilt) * np.cos(
        az - np.deg2rad(azimuth_deg)
    )
    poa = dni * np.clip(cos_aoi, 0.0, None) + dhi * (1 + np.cos(tilt)) / 2
    return np.where(up, poa, 0.0)


def value_noise(seed: int, key: int, ts: np.ndarray, period_s: int) -> np.ndarray:
    """Smooth noise in [0, 1): hashed knots every ``period_s`` [s], smoothstep between."""
    k = np.asarray(ts, dtype=np.int64) // period_s
    f = (np.asarray(ts, dtype=np.float64) - k * period_s) / period_s
    f = f * f * (3 - 2 * f)
    return hash_u01(seed, key, k) * (1 - f) + hash_u01(seed, key, k + 1) * f


# --- homes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class HomeSpec:
    """Physical parameters of one home (drawn once from the seed)."""

    index: int
    home_id: str
    phases: int  # 1..3
    phase_weights: tuple[float, ...]
    scale: float  # overall consumption factor
    base_w: float  # always-on load [W]
    morning_w: float
    evening_w: float
    midday_w: float
    phase_cap_w: float  # breaker limit per phase [W]
    pv_kwp: float  # 0 = no PV
    pv_tilt_deg: float
    pv_azimuth_deg: float
    pv_split: bool  # three-phase inverter
    pv_twin: bool  # has a PV- sensor
    standby_w: float  # inverter night draw [W]
    has_ev: bool
    pulse: bool  # grid sensors are pulse meters (only homes without PV)


def draw_home(seed: int, index: int, home_id: str) -> HomeSpec:
    """Draw the parameters of home ``index`` from the seed."""
    u = hash_u01(seed, 1000 + index, np.arange(16))
    phases = 1 if u[0] < 0.5 else (2 if u[0] < 0.65 else 3)
    raw = 0.6 + u[1:4][:phases]
    weights = tuple(float(x) for x in raw / raw.sum())
    has_pv = u[4] < 0.5
    pulse = (not has_pv) and u[5] < 0.45
    kwp = round(1.5 + 2.8 * u[6], 1) if has_pv else 0.0
    return HomeSpec(
        index=index,
        home_id=home_id,
        phases=phases,
        phase_weights=weights,
        scale=0.65 + 0.8 * float(u[7]),
        base_w=40.0 * phases + 80.0 * float(u[8]),
        morning_w=250.0 + 350.0 * float(u[9]),
        evening_w=350.0 + 450.0 * float(u[10]),
        midday_w=150.0 + 300.0 * float(u[11]),
        phase_cap_w=2400.0 if pulse else 9200.0,
        pv_kwp=kwp,
        pv_tilt_deg=25.0 + 15.0 * float(u[12]),
        pv_azimuth_deg=150.0 + 60.0 * float(u[13]),
        pv_split=has_pv and phases == 3 and kwp > 3.5,
        pv_twin=has_pv and u[14] < 0.5,
        standby_w=3.0 + 5.0 * float(u[15]),
        has_ev=False,
        pulse=pulse,
    )


def _bump(hour: np.ndarray, centre: float, width: float) -> np.ndarray:
    d = (hour - centre + 12.0) % 24.0 - 12.0
    return np.exp(-0.5 * (d / width) ** 2)


def home_flows(seed: int, home: HomeSpec, bids: np.ndarray) -> dict[str, np.ndarray]:
    """Mean flows of a home over the 256-s blocks starting at ``bids`` [W].

    Returns ``load_i`` (per phase, EV and standby included), ``pv_i`` (inverter output on
    phase i), ``pv`` (total S), ``standby`` and ``ev``: each float64 like ``bids``.
    """
    bids = np.asarray(bids, dtype=np.int64)
    h = home.index
    tm = bids + BLOCK_S // 2
    local = tm + brussels_offset(tm)
    hour = (local % 86400) / 3600.0
    day = local // 86400
    weekend = ((day + 3) % 7) >= 5
    year_frac = (tm / 86400.0 / 365.2425) % 1.0
    season = 1.0 + 0.25 * np.cos(2 * np.pi * (year_frac - 0.04))
    bi = bids // BLOCK_S

    rhythm = home.morning_w * _bump(hour, 7.3, 0.9) + home.evening_w * _bump(hour, 19.5, 1.8)
    rhythm = rhythm + np.where(weekend, home.midday_w * _bump(hour, 12.5, 2.5), 0.0)
    rhythm = rhythm * (0.75 + 0.5 * value_noise(seed, 10_000 + h, tm, 3600))
    smooth = home.scale * season * (home.base_w + rhythm)

    # Short appliance spikes (kettle, oven, hair dryer) keyed by block; longer cycles
    # (washing machine, dishwasher) keyed by 2048-s slot so they span several blocks.
    activity = rhythm / (home.morning_w + home.evening_w)
    spike_on = hash_u01(seed, 20_000 + h, bi) < 0.015 + 0.12 * activity
    spike_w = np.where(spike_on, 700.0 + 1500.0 * hash_u01(seed, 21_000 + h, bi), 0.0)
    slot = bids // 2048
    long_on = hash_u01(seed, 22_000 + h, slot) < 0.035 + 0.05 * activity
    long_w = np.where(long_on, 400.0 + 1200.0 * hash_u01(seed, 23_000 + h, slot), 0.0)

    pv = np.zeros(len(bids))
    if home.pv_kwp > 0:
        poa = clear_sky_poa(tm, home.pv_tilt_deg, home.pv_azimuth_deg)
        clear_day = 0.2 + 0.8 * hash_u01(seed, 30_000 + h // 8, day) ** 0.6
        cloud = clear_day * (0.45 + 0.55 * value_noise(seed, 31_000 + h // 8, tm, 1200))
        pv = home.pv_kwp * 0.72 * poa * cloud  # 0.72: inverter, soiling, temperature
    standby = np.where(pv <= 0, home.standby_w, 0.0) if home.pv_kwp > 0 else np.zeros(len(bids))

    ev = np.zeros(len(bids))
    if home.has_ev:
        charging = hash_u01(seed, 40_000 + h, day) < 0.45
        start_h = 17.5 + 4.0 * hash_u01(seed, 41_000 + h, day)
        dur_h = 1.0 + 3.0 * hash_u01(seed, 42_000 + h, day)
        ev = np.where(charging & (hour >= start_h) & (hour < start_h + dur_h), 3680.0, 0.0)

    out: dict[str, np.ndarray] = {"pv": pv, "standby": standby, "ev": ev}
    spike_phase = (hash_u01(seed, 24_000 + h, bi) * home.phases).astype(np.int64)
    long_phase = (hash_u01(seed, 25_000 + h, slot) * home.phases).astype(np.int64)
    for i in range(home.phases):
        load = smooth * home.phase_weights[i]
        load = load + np.where(spike_phase == i, spike_w, 0.0)
        load = load + np.where(long_phase == i, long_w, 0.0)
        load = np.minimum(load, home.phase_cap_w)
        if i == 0:
            load = load + ev + standby
        if home.pv_split:
            out[f"pv_{i}"] = pv / home.phases
        else:
            out[f"pv_{i}"] = pv if i == 0 else np.zeros(len(bids))
        out[f"load_{i}"] = load
    return out
