"""Invariants of the export (Hypothesis): file periods partition any window, and every
CSV number is exactly the dashboard's cell for the same value."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from vde.export.formats import fixed
from vde.export.spec import RESOLUTIONS, file_periods
from vde.web.exports import cells

T2026 = 1_767_222_000  # 2026-01-01 00:00 Brussels


@settings(max_examples=60, deadline=None)
@given(
    start=st.integers(T2026 - 400 * 86400, T2026 + 400 * 86400),
    length=st.integers(1, 70 * 86400),
    res=st.sampled_from(sorted(RESOLUTIONS.values())),
)
def test_file_periods_partition_the_window(start, length, res):
    end = start + length
    periods = file_periods(start, end, res)
    assert periods[0].start == start and periods[-1].end == end
    assert all(a.end == b.start for a, b in zip(periods, periods[1:], strict=False))
    assert all(p.end > p.start for p in periods)
    assert len({p.label for p in periods}) == len(periods)  # distinct file names


@settings(max_examples=80, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.floats(-1e7, 1e7, allow_nan=False),
            st.just(float("nan")),
            st.integers(-(10**6), 10**6).map(lambda i: i / 200),  # many exact ties x.xx5
        ),
        min_size=1,
        max_size=60,
    ),
    decimals=st.sampled_from([1, 3, 4]),
)
def test_csv_numbers_are_the_dashboard_cells(values, decimals):
    got = fixed(pa.array(np.asarray(values, dtype=np.float64)), decimals).to_pylist()
    assert [g if g is not None else "" for g in got] == cells(np.asarray(values), decimals)
