"""Where the sun is below the horizon, from astral (no hand-written solar formula).

The mask is built from sunrise/sunset events rather than one elevation per timestamp:
astral gives each event to the second, and a 25-h day needs ~2 events, not 11,250 calls.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
from astral import Observer
from astral.sun import elevation, sunrise, sunset

#: Geometric elevation of the sun's centre at astral's sunrise/sunset [deg]: the upper limb
#: touches the horizon (16' semi-diameter + 34' refraction), i.e. "below the horizon".
HORIZON_DEG = -0.833


def sun_events(lat: float, lon: float, start: int, end: int) -> list[tuple[int, bool]]:
    """Sunrise and sunset instants in [start, end), sorted.

    Parameters
    ----------
    lat, lon : float
        Location [deg].
    start, end : int
        Range [UTC epoch s].

    Returns
    -------
    list of (ts, rises)
        ``ts`` [UTC epoch s] of each event; ``rises`` is True for a sunrise. Days with no
        sunrise or sunset (polar day or night) contribute no event.
    """
    obs = Observer(latitude=lat, longitude=lon)
    first = datetime.fromtimestamp(start, UTC).date() - timedelta(days=1)
    last = datetime.fromtimestamp(end, UTC).date() + timedelta(days=1)
    events: dict[int, bool] = {}
    d = first
    while d <= last:
        for fn, rises in ((sunrise, True), (sunset, False)):
            try:
                # the first whole second at or after the event: ts >= it <=> ts >= the event
                ts = math.ceil(fn(obs, d, tzinfo=UTC).timestamp())
            except ValueError:  # the sun never crosses the horizon that day (polar)
                continue
            if start <= ts < end:
                events[ts] = rises
        d += timedelta(days=1)
    return sorted(events.items())


def sun_up_at(lat: float, lon: float, ts: int) -> bool:
    """True when the sun's centre is above astral's horizon at ``ts`` [UTC epoch s]."""
    obs = Observer(latitude=lat, longitude=lon)
    elev = elevation(obs, datetime.fromtimestamp(ts, UTC), with_refraction=False)
    return elev > HORIZON_DEG


def night_mask(ts: np.ndarray, lat: float, lon: float) -> np.ndarray:
    """Mask of the instants when the sun is below the horizon.

    Parameters
    ----------
    ts : np.ndarray
        Sorted instants [UTC epoch s], int64.
    lat, lon : float
        Location [deg].

    Returns
    -------
    np.ndarray
        bool, same length as ``ts``: True where the sun is below the horizon.
    """
    ts = np.asarray(ts, dtype=np.int64)
    if ts.size == 0:
        return np.zeros(0, dtype=bool)
    start, end = int(ts[0]), int(ts[-1]) + 1
    up = sun_up_at(lat, lon, start)
    events = sun_events(lat, lon, start, end)
    # state between consecutive events: up before the first event, then each event sets it
    edges = np.array([e[0] for e in events], dtype=np.int64)
    states = np.array([up] + [e[1] for e in events], dtype=bool)
    idx = np.searchsorted(edges, ts, side="right")
    return ~states[idx]
