"""The client against the Flukso simulator over real HTTP: series equal the meters' truth."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from vde.errors import FluksoAuthError
from vde.flukso import FluksoClient
from vde.simulator import Faults, Fleet, Reset, serve_in_thread

NOW = 1_795_000_000 - 1_795_000_000 % 256
START = NOW - 5 * 86400
ACTIONS = {"repaired", "rebuilt_pulse", "kept_certain", "kept_partial", "kept_head_tail"}


def served_until(now: int) -> int:
    # the meter's current 256-s block is not complete, so not served yet
    return now - now % 256


def fetch_all(url, sensors, tmp_path, start=START, end=None, **kw):
    async def go():
        async with FluksoClient(
            url, cache_path=tmp_path / "blocks.sqlite", backoff=0.01, **kw
        ) as client:
            calls = [client.series(s.sensor_id, s.token, start, end) for s in sensors]
            return await asyncio.gather(*calls, return_exceptions=True)

    return asyncio.run(go())


def assert_truth(fleet, s, series, start=START, end=None):
    end = served_until(fleet.now) if end is None else end
    ts, counter, rid = fleet.counter_truth(s.sensor_id, start, end)
    np.testing.assert_array_equal(series.ts, ts)
    np.testing.assert_array_equal(series.rid, rid)
    np.testing.assert_allclose(series.counter_wh, counter, rtol=0, atol=5e-7)


@pytest.fixture
def fleet() -> Fleet:
    return Fleet.generate(homes=2, seed=3, start_ts=START, now_ts=NOW)


def test_fleet_series_equal_truth_and_resync_is_incremental(fleet, tmp_path):
    with serve_in_thread(fleet) as server:
        first = fetch_all(server.url, fleet.sensors, tmp_path)
        for s, series in zip(fleet.sensors, first, strict=True):
            assert not isinstance(series, BaseException), series
            assert series.issues == []
            assert_truth(fleet, s, series)
        again = fetch_all(server.url, fleet.sensors, tmp_path)
        assert [s.blocks_downloaded for s in again] == [0] * len(fleet.sensors)
        # two days later the meters compacted their level-8/12 blocks into parents
        server.advance(2 * 86400)
        later = fetch_all(server.url, fleet.sensors, tmp_path)
        for s, series, before in zip(fleet.sensors, later, first, strict=True):
            assert not isinstance(series, BaseException), series
            assert 0 < series.blocks_downloaded < before.blocks_downloaded + 40
            assert_truth(fleet, s, series)


def test_request_faults_are_retried_to_the_exact_truth(fleet, tmp_path):
    faults = Faults(burst500=0.3, drop=0.1, truncate=0.2, seed=5)
    with serve_in_thread(fleet, faults=faults) as server:
        results = fetch_all(server.url, fleet.sensors, tmp_path, retries=10)
        stats = server.stats
        for s, series in zip(fleet.sensors, results, strict=True):
            assert not isinstance(series, BaseException), series
            assert_truth(fleet, s, series)
    assert stats.count(status="dropped") > 0 and stats.count(status="truncated") > 0
    assert stats.count(status=500) + stats.count(status=503) > 0


def test_defective_blocks_are_reported_and_what_is_kept_is_exact(fleet, tmp_path):
    with serve_in_thread(fleet, faults=Faults(defects=frozenset({"all"}), seed=2)) as server:
        # whole blocks (no start): a range cutting a defective block keeps only its part
        results = fetch_all(server.url, fleet.sensors, tmp_path, start=None)
        end = served_until(fleet.now)
        n_issues = 0
        for s, series in zip(fleet.sensors, results, strict=True):
            assert not isinstance(series, BaseException), series
            n_issues += len(series.issues)
            assert {i.action for i in series.issues} <= ACTIONS
            assert all(i.sensor_id == s.sensor_id and i.lvl >= 12 for i in series.issues)
            ts, counter, _ = fleet.counter_truth(s.sensor_id, START - 86400, end)
            # every kept point is a true point: nothing invented
            pos = np.searchsorted(ts, series.ts)
            assert (pos < len(ts)).all() and (ts[pos] == series.ts).all()
            np.testing.assert_allclose(series.counter_wh, counter[pos], rtol=0, atol=5e-7)
            # head and tail of every block survive: the energy over the range is exact
            assert series.ts[0] == ts[0] and series.ts[-1] == ts[-1]
            if s.meter == "pulse":  # with consistent times, pulse blocks are rebuilt whole
                for i in series.issues:
                    assert (
                        i.action in ("rebuilt_pulse", "repaired") or "time_sum_mismatch" in i.kinds
                    )
        assert n_issues > 0


def test_a_body_cut_short_keeps_every_true_body_point(fleet, tmp_path):
    """The "header" defect (t0 + sum(t) != tail): the body before the cut is kept."""
    with serve_in_thread(fleet, faults=Faults(defects=frozenset({"all"}), seed=2)) as server:
        results = fetch_all(server.url, fleet.sensors, tmp_path, start=None)
    partial = 0
    for s, series in zip(fleet.sensors, results, strict=True):
        for i in series.issues:
            if "time_sum_mismatch" not in i.kinds:
                continue
            assert i.action == "kept_partial", i
            ts, _, rid = fleet.counter_truth(s.sensor_id, i.bid, i.bid + (1 << i.lvl))
            true_points = int(np.count_nonzero(rid == i.rid))
            # the block lost its last two deltas: every other body point, then the tail
            assert i.points_kept == true_points - 1
            partial += 1
    assert partial > 0


def test_a_retry_keeps_the_blocks_that_cannot_change(fleet, tmp_path):
    s = fleet.sensors[0]
    with serve_in_thread(fleet, faults=Faults(defects=frozenset({"all"}), seed=2)) as server:
        (first,) = fetch_all(server.url, [s], tmp_path, start=None)
        assert first.issues and first.blocks_downloaded > 0

        async def refetch():
            async with FluksoClient(
                server.url, cache_path=tmp_path / "blocks.sqlite", backoff=0.01
            ) as client:
                forgotten = client.cache.forget_range(s.sensor_id, START, None)
                return forgotten, await client.series(s.sensor_id, s.token, None, full=True)

        forgotten, again = asyncio.run(refetch())
    # every block is complete (no silence in its span): none is downloaded again, the
    # defective ones included, and the result is the same
    assert forgotten == 0 and again.blocks_downloaded == 0
    assert again.ts.tolist() == first.ts.tolist()
    assert len(again.issues) == len(first.issues)


def test_counter_reset_gives_a_new_rid_never_stitched(fleet, tmp_path):
    s = fleet.sensors[0]
    reset_ts = NOW - 86400 - (NOW - 86400) % 256
    with serve_in_thread(fleet, faults=Faults(resets=(Reset(s.sensor_id, reset_ts),))) as server:
        (series,) = fetch_all(server.url, [s], tmp_path)
        assert_truth(fleet, s, series)
    assert len(np.unique(series.rid)) == 2
    new = series.rid == series.rid.max()
    assert series.ts[new][0] >= reset_ts
    assert series.counter_wh[new][0] < series.counter_wh[~new][-1]


def test_refused_token_fails_only_that_sensor(fleet, tmp_path):
    bad = fleet.sensors[1]
    with serve_in_thread(fleet, faults=Faults(wrongtoken=frozenset({bad.sensor_id}))) as server:
        results = fetch_all(server.url, fleet.sensors, tmp_path, start=NOW - 3600)
        for s, res in zip(fleet.sensors, results, strict=True):
            if s is bad:
                assert isinstance(res, FluksoAuthError) and s.token not in str(res)
            else:
                assert_truth(fleet, s, res, start=NOW - 3600)


def test_cli_dump_of_a_simulated_sensor_is_its_truth(fleet, capsys):
    import structlog

    from vde.cli import main

    s = fleet.sensors[0]
    since, until = NOW - 6 * 3600, NOW - 3600
    try:
        with serve_in_thread(fleet) as server:
            main(["flukso", "dump", s.sensor_id, "--token", s.token, "--api", server.url,
                  "--since", str(since), "--until", str(until)])  # fmt: skip
    finally:
        structlog.reset_defaults()  # main() bound logging to the captured stderr
    out, err = capsys.readouterr()
    # (the simulator's start-up log line may come first: structlog is not configured yet)
    csv = out.split("ts,counter_wh,rid\n", 1)[1]
    rows = [line.split(",") for line in csv.splitlines()]
    ts, counter, rid = fleet.counter_truth(s.sensor_id, since, until)
    assert [int(r[0]) for r in rows] == ts.tolist()
    np.testing.assert_allclose([float(r[1]) for r in rows], counter, rtol=0, atol=5e-7)
    assert [int(r[2]) for r in rows] == rid.tolist()
    assert s.token not in out + err
