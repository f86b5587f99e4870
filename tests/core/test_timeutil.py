from datetime import date

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vde import timeutil as tu


@given(st.integers(min_value=0, max_value=2**40))
def test_grid_floor_ceil_bracket(ts):
    lo, hi = tu.floor_grid(ts), tu.ceil_grid(ts)
    assert lo % 8 == 0 and hi % 8 == 0
    assert lo <= ts <= hi and hi - lo in (0, 8)


def test_grid_on_arrays():
    a = np.array([0, 7, 8, 9, 1_700_000_003], dtype=np.int64)
    assert tu.floor_grid(a).tolist() == [0, 0, 8, 8, 1_700_000_000]
    assert tu.ceil_grid(a).tolist() == [0, 8, 8, 16, 1_700_000_008]


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("5m", 300), ("4h", 14400), ("2d", 172800), ("1w", 604800)]
)
def test_parse_duration(text, seconds):
    assert tu.parse_duration(text) == seconds


def test_parse_instant_forms():
    now = 1_800_000_000
    assert tu.parse_instant("2d", now=now) == now - 172800
    assert tu.parse_instant("2026-03-29T12:00:00Z") == 1774785600
    # naive = Brussels local time; 2026-03-29 12:00 CEST (UTC+2)
    assert tu.parse_instant("2026-03-29T12:00") == 1774778400
    assert tu.parse_instant("1774785600") == 1774785600


def test_parse_instant_rejects_garbage_with_hint():
    with pytest.raises(ValueError, match="use e.g."):
        tu.parse_instant("yesterday-ish")


@pytest.mark.parametrize(
    ("day", "hours"), [(date(2026, 3, 29), 23), (date(2026, 10, 25), 25), (date(2026, 6, 1), 24)]
)
def test_local_day_lengths_follow_dst(day, hours):
    start, end = tu.local_day_bounds(day)
    assert (end - start) == hours * 3600
    assert tu.local_day_of(start) == day and tu.local_day_of(end - 1) == day


def test_iso_utc_has_real_z():
    assert tu.iso_utc(0) == "1970-01-01T00:00:00Z"
