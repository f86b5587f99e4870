"""The administrators' figures that are computed, not just listed."""

from __future__ import annotations

import pytest

from vde.models import MissingInterval
from vde.web.admin import missing_share


def _m(a: int, b: int) -> MissingInterval:
    return MissingInterval("s", a, b, b)


@pytest.mark.parametrize(
    ("intervals", "last_ts", "expected"),
    [
        ([], 992, 0.0),  # data up to the last slot: nothing missing
        ([], None, 1.0),  # never synced: everything missing
        ([_m(100, 200)], 992, 0.1),
        ([_m(100, 300), _m(200, 400)], 992, 0.3),  # overlaps count once
        ([_m(-500, 100)], 992, 0.1),  # clipped to the day
        ([_m(100, 200)], 492, 0.6),  # plus the tail after the last data
        ([_m(600, 900)], 492, 0.5),  # inside the tail: counted once
    ],
)
def test_missing_share(intervals, last_ts, expected):
    assert missing_share(intervals, last_ts, 0, 1000) == pytest.approx(expected)
