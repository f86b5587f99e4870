"""The night mask against astral's own sunrise/sunset, on ordinary, DST and polar days."""

from __future__ import annotations

import math
from datetime import UTC, date

import numpy as np
from astral import Observer
from astral.sun import sunrise, sunset

from vde.alerts.checks import day_slots
from vde.alerts.sun import night_mask, sun_events
from vde.timeutil import BRUSSELS, local_day_bounds

BXL = (50.85, 4.35)


def test_night_mask_switches_at_astral_sunrise_and_sunset_in_brussels():
    d = date(2026, 6, 21)
    start, end = local_day_bounds(d)
    slots = day_slots(start, end)
    night = night_mask(slots, *BXL)
    obs = Observer(*BXL)
    rise = sunrise(obs, d, tzinfo=BRUSSELS).timestamp()
    sset = sunset(obs, d, tzinfo=BRUSSELS).timestamp()
    assert np.array_equal(night, (slots < rise) | (slots >= sset))
    # midsummer in Brussels: about 16 h 30 of daylight
    assert 16.3 < np.count_nonzero(~night) * 8 / 3600 < 16.7


def test_night_mask_on_dst_days_and_winter():
    for d, light_h in ((date(2026, 3, 29), (12.5, 13.0)), (date(2026, 12, 21), (7.8, 8.0))):
        start, end = local_day_bounds(d)
        night = night_mask(day_slots(start, end), *BXL)
        hours = np.count_nonzero(~night) * 8 / 3600
        assert light_h[0] < hours < light_h[1], (d, hours)
        assert night[0] and night[-1]  # local midnight is dark in Brussels


def test_polar_day_and_polar_night_have_no_event():
    tromso = (69.65, 18.96)
    start, end = local_day_bounds(date(2026, 6, 21))
    slots = day_slots(start, end)
    assert sun_events(*tromso, start, end) == []
    assert not night_mask(slots, *tromso).any()
    start, end = local_day_bounds(date(2026, 12, 21))
    assert night_mask(day_slots(start, end), *tromso).all()


def test_sun_events_alternate_over_several_days():
    start, end = local_day_bounds(date(2026, 9, 1))
    ev = sun_events(*BXL, start, end + 3 * 86400)
    assert [rises for _, rises in ev] == [True, False] * 4
    assert all(start <= ts < end + 3 * 86400 for ts, _ in ev)
    first_rise = sunrise(Observer(*BXL), date(2026, 9, 1), tzinfo=UTC).timestamp()
    assert ev[0][0] == math.ceil(first_rise)


def test_empty_input():
    assert night_mask(np.empty(0, np.int64), *BXL).size == 0
