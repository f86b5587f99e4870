"""Time helpers: the 8-second UTC grid, parsing of user-given instants, local days.

All stored timestamps are UTC epoch seconds (int). The UI and day-based reports use
Europe/Brussels local days, which are 23, 24 or 25 hours long.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

GRID_S = 8
"""Spacing of the raw power grid [s]; every stored raw/power ts is a multiple of it."""

BRUSSELS = ZoneInfo("Europe/Brussels")

_REL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*$", re.IGNORECASE)
_REL_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def floor_grid(ts: int | np.ndarray, step: int = GRID_S) -> int | np.ndarray:
    """Largest multiple of ``step`` that is <= ts [s]."""
    return ts - (ts % step)


def ceil_grid(ts: int | np.ndarray, step: int = GRID_S) -> int | np.ndarray:
    """Smallest multiple of ``step`` that is >= ts [s]."""
    return -((-ts) // step) * step


def now_ts() -> int:
    """Current UTC epoch seconds."""
    return int(datetime.now(UTC).timestamp())


#: Instants the dashboard and reports accept [s]: 1900-01-01 .. 2200-01-01 UTC. Calendar
#: arithmetic (local midnights, ISO weeks) fails near the ends of Python's years 1..9999.
MIN_TS = -2208988800
MAX_TS = 7258118400


def check_span(start: int, end: int) -> None:
    """Raise ValueError naming the supported years when [start, end) leaves them [s]."""
    if start < MIN_TS or end > MAX_TS:
        raise ValueError("date out of range: use a date between 1900-01-01 and 2199-12-31")


def parse_duration(text: str) -> int:
    """Parse '90s', '5m', '4h', '2d', '1w' into seconds. Raises ValueError."""
    m = _REL.match(text)
    if not m:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 4h, 2d, 1w)")
    return int(float(m.group(1)) * _REL_UNITS[m.group(2).lower()])


def parse_instant(text: str, *, now: int | None = None, tz: ZoneInfo = BRUSSELS) -> int:
    """Parse a user-given instant into UTC epoch seconds.

    Accepts a relative duration meaning "that long ago" ('2d', '6h'), an ISO date
    ('2026-03-29', local midnight in ``tz``), an ISO datetime with or without offset
    (naive means local time in ``tz``), or an integer epoch. Raises ValueError, also for
    an instant outside the supported years (``MIN_TS`` .. ``MAX_TS``).
    """
    text = text.strip()
    if now is None:
        now = now_ts()
    try:
        if _REL.match(text):
            ts = now - parse_duration(text)
        elif re.fullmatch(r"-?\d{9,}", text):
            ts = int(text)
        else:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=tz)
            ts = int(dt.timestamp())
    except (ValueError, OverflowError) as exc:
        raise ValueError(
            f"not a date, time or duration: {text!r} "
            "(use e.g. 2026-03-29, 2026-03-29T14:00, 2026-03-29T12:00Z or 2d)"
        ) from exc
    if not MIN_TS <= ts < MAX_TS:
        raise ValueError(f"{text!r} is out of range: use a date between 1900-01-01 and 2199-12-31")
    return ts


def check_day(day: date) -> date:
    """``day`` when its local bounds are supported instants; ValueError otherwise."""
    if not date(1900, 1, 2) <= day <= date(2199, 12, 30):
        raise ValueError(
            f"{day.isoformat()} is out of range: use a day between 1900-01-02 and 2199-12-30"
        )
    return day


def local_day_bounds(day: date, tz: ZoneInfo = BRUSSELS) -> tuple[int, int]:
    """UTC epoch seconds [start, end) of a local calendar day (23, 24 or 25 h long)."""
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    nxt = day + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)
    return int(start.timestamp()), int(end.timestamp())


def local_day_of(ts: int, tz: ZoneInfo = BRUSSELS) -> date:
    """The local calendar day containing UTC epoch second ``ts``."""
    return datetime.fromtimestamp(ts, tz).date()


def utc_day(ts: int) -> int:
    """Start of the UTC day containing ts [s]; the partition key of day-bounded tables."""
    return ts - ts % 86400


def iso_utc(ts: int) -> str:
    """UTC ISO-8601 with a real 'Z' (the original system wrote local time with a 'Z')."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_time_str(ts: float, tz: ZoneInfo = BRUSSELS) -> str:
    """A UTC epoch instant [s] as people read it: '2026-03-29 14:05:09' local time."""
    return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M:%S")


def version_local(version_id: int, tz: ZoneInfo = BRUSSELS) -> str:
    """A configuration version id [UTC epoch µs] as a local date-time (see local_time_str)."""
    return local_time_str(version_id / 1_000_000, tz)
