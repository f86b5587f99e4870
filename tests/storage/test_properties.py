"""Property tests (hypothesis): upserts are idempotent, last write wins, reads round-trip."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vde.models import ROLLUP_FIELDS, RollupBatch

T0 = 1_774_569_600  # 2026-03-27T00:00:00Z, two days before a DST change
_ids = itertools.count()

slots = st.lists(st.integers(0, 3 * 86400 // 8), min_size=0, max_size=300)
values = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
writes = st.lists(st.tuples(slots, values), min_size=1, max_size=4)

SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(writes=writes, data=st.data())
def test_raw_writes_are_upserts_last_wins(store, writes, data):
    sensor = f"p{next(_ids)}"
    expected: dict[int, float] = {}
    for idx, value in writes:
        ts = np.array(sorted(set(idx)), dtype=np.int64) * 8 + T0
        p = np.full(len(ts), value)
        store.write_raw(sensor, ts, p, 1)
        store.write_raw(sensor, ts, p, 1)  # twice: idempotent
        expected.update(zip(ts.tolist(), p.tolist(), strict=True))
    start = T0 + data.draw(st.integers(0, 86400))
    end = start + data.draw(st.integers(0, 3 * 86400))
    got = store.read_raw(sensor, start, end)
    want = sorted((t, v) for t, v in expected.items() if start <= t < end)
    assert got.ts.tolist() == [t for t, _ in want]
    assert got.power_w.tolist() == [v for _, v in want]
    assert np.all(np.diff(got.ts) > 0)
    if expected:
        assert store.raw_bounds(sensor) == (min(expected), max(expected))


@SETTINGS
@given(
    idx=st.lists(st.integers(0, 2000), min_size=1, max_size=200, unique=True),
    res=st.sampled_from([60, 900, 3600, 86400]),
)
def test_rollups_round_trip(store, idx, res):
    inst = f"i{next(_ids)}"
    ts = np.array(sorted(idx), dtype=np.int64) * res + T0 - 1000 * res
    cols = {
        f: np.arange(len(ts), dtype=np.float64) * (i + 1) / 3 for i, f in enumerate(ROLLUP_FIELDS)
    }
    cols["n"] = np.arange(len(ts), dtype=np.int64)
    cols["estimated"] = np.arange(len(ts), dtype=np.int64) // 2  # a count, like n
    for k, f in enumerate(("homes_n", "homes_min", "homes_max")):  # a group's home counts
        cols[f] = np.arange(len(ts), dtype=np.int64) * (3 - k)
    batch = RollupBatch(resolution_s=res, ts=ts, columns=cols)
    store.write_rollups(inst, batch)
    store.write_rollups(inst, batch)
    got = store.read_rollups(inst, res, int(ts[0]), int(ts[-1]) + 1)
    assert got.ts.tolist() == ts.tolist()
    for f in ROLLUP_FIELDS:
        assert got.columns[f].tolist() == cols[f].tolist()
