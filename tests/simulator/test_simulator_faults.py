"""Every fault switch, observed over real HTTP with httpx; the ground truth follows."""

from __future__ import annotations

import asyncio
import gzip
import time
import zlib

import httpx
import numpy as np
import orjson
import pytest
from simhelpers import HTTP, NOW, START, decode, get_block, get_sync

from vde.simulator import Faults, Fleet, serve_in_thread
from vde.simulator.faults import ClockJump, Offline, Reset


@pytest.fixture
def fleet() -> Fleet:
    return Fleet.generate(homes=3, seed=4, start_ts=START, now_ts=NOW)


def _served(url: str, s) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every point served for a sensor: (ts, counter_wh, rid)."""
    ts, c, rid = [], [], []
    for b in get_sync(url, s).json():
        _, t, v = decode(get_block(url, s, b["rid"], b["lvl"], b["bid"]).content)
        ts.append(t)
        c.append(v)
        rid.append(np.full(len(t), b["rid"]))
    return np.concatenate(ts), np.concatenate(c), np.concatenate(rid)


def _check_truth(fleet: Fleet, url: str, s) -> None:
    ts, c, rid = _served(url, s)
    t_true, c_true, r_true = fleet.counter_truth(s.sensor_id, 0, NOW + 86400)
    keep = np.isin(t_true, ts)
    np.testing.assert_array_equal(t_true[keep], ts)
    np.testing.assert_allclose(c_true[keep], c, atol=1e-6)
    np.testing.assert_array_equal(r_true[keep], rid)


def test_latency(fleet):
    s = fleet.sensors[0]
    with serve_in_thread(fleet, Faults(latency=0.3)) as srv:
        t0 = time.perf_counter()
        assert get_sync(srv.url, s).status_code == 200
        assert time.perf_counter() - t0 >= 0.3
        srv.set_faults(Faults())
        t0 = time.perf_counter()
        assert get_sync(srv.url, s).status_code == 200


def test_burst_of_5xx_then_success_deterministic(fleet):
    s = fleet.sensors[0]
    codes = []
    for _ in range(2):
        with serve_in_thread(fleet, Faults(burst500=0.5, seed=3)) as srv:
            run = [get_sync(srv.url, s).status_code for _ in range(20)]
            codes.append(run)
            assert srv.stats.count("sync", 200) == run.count(200)
            assert srv.stats.count("sync") == 20
    assert codes[0] == codes[1]  # same seed, same sequence
    assert {500, 503, 200} <= set(codes[0])
    with serve_in_thread(fleet, Faults(burst500=1.0)) as srv:
        assert get_sync(srv.url, s).status_code in (500, 503)


def test_dropped_connection(fleet):
    s = fleet.sensors[0]
    with serve_in_thread(fleet, Faults(drop=1.0)) as srv:
        with pytest.raises(httpx.RemoteProtocolError):
            get_sync(srv.url, s)
        assert srv.stats.count("sync", "dropped") == 1
        assert srv.stats["sync"] == {"dropped": 1}


def test_truncated_gzip(fleet):
    s = fleet.sensors[0]
    with serve_in_thread(fleet) as srv:
        b = get_sync(srv.url, s).json()[-1]
        good = get_block(srv.url, s, b["rid"], b["lvl"], b["bid"]).content
        srv.set_faults(Faults(truncate=1.0))
        bad = get_block(srv.url, s, b["rid"], b["lvl"], b["bid"])
        assert bad.status_code == 200 and good.startswith(bad.content) and bad.content != good
        with pytest.raises((EOFError, zlib.error, gzip.BadGzipFile)):
            gzip.decompress(bad.content)


def test_wrong_token_for_one_sensor(fleet):
    a, b = fleet.sensors[0], fleet.sensors[1]
    with serve_in_thread(fleet, Faults(wrongtoken=frozenset({a.sensor_id}))) as srv:
        assert get_sync(srv.url, a).status_code == 401
        assert get_sync(srv.url, b).status_code == 200


def test_request_faults_limited_to_some_sensors(fleet):
    a, b = fleet.sensors[0], fleet.sensors[1]
    with serve_in_thread(fleet, Faults.parse(f"burst500=1@{a.sensor_id}", now=NOW)) as srv:
        assert get_sync(srv.url, a).status_code in (500, 503)
        assert get_sync(srv.url, b).status_code == 200


def test_defective_compacted_blocks_keep_a_true_header(fleet):
    s = next(s for s in fleet.sensors if s.meter == "clamp" and s.kind == "mains")
    seen = set()
    with serve_in_thread(fleet, Faults(defects=frozenset({"all"}))) as srv:
        t_true, c_true, _ = fleet.counter_truth(s.sensor_id, 0, NOW)
        for b in get_sync(srv.url, s).json():
            raw = gzip.decompress(get_block(srv.url, s, b["rid"], b["lvl"], b["bid"]).content)
            if b["lvl"] == 8:
                orjson.loads(raw)  # lvl-8 blocks stay healthy
                continue
            span = (t_true >= b["bid"]) & (t_true < b["bid"] + (1 << b["lvl"]))
            if b"',,'" in raw or b",," in raw:
                seen.add("empty_elements")
                with pytest.raises(orjson.JSONDecodeError):
                    orjson.loads(raw)
                continue
            doc = orjson.loads(raw)
            h = doc["h"]
            # the header is the truth
            assert h["head"] == [int(t_true[span][0]), round(float(c_true[span][0]), 3)]
            assert h["tail"] == [int(t_true[span][-1]), round(float(c_true[span][-1]), 3)]
            if len(doc["v"]) > len(doc["t"]):
                seen.add("extra_v")
            elif h["head"][0] + sum(doc["t"]) != h["tail"][0]:
                seen.add("header")
        assert seen == {"empty_elements", "extra_v", "header"}
        srv.set_faults(Faults())
        _check_truth(fleet, srv.url, s)


def test_pulse_meter_defects_repeat_the_pulse(fleet):
    big = Fleet.generate(homes=8, seed=4, start_ts=START, now_ts=NOW)
    s = next(s for s in big.sensors if s.meter == "pulse")
    with serve_in_thread(big, Faults(defects=frozenset({s.sensor_id}))) as srv:
        for b in get_sync(srv.url, s).json():
            raw = gzip.decompress(get_block(srv.url, s, b["rid"], b["lvl"], b["bid"]).content)
            if b"extra" in raw or b",," in raw:
                continue
            doc = orjson.loads(raw)
            if len(doc["v"]) > len(doc["t"]):
                assert set(doc["v"][1:]) == {s.pulse_wh}  # repairable: all one pulse
                return
    pytest.fail("no extra-v block met")


def test_offline_meter_uploads_late(fleet):
    s = fleet.sensors[1]
    a, b, delay = NOW - 30000, NOW - 20000, 7200
    faults = Faults(offline=(Offline(s.sensor_id, a, b, delay),))
    a, b = a - a % 256, b + (-b) % 256
    with serve_in_thread(fleet, faults) as srv:
        fleet.now_ts = b + 600  # back online, backlog not uploaded yet
        ts, _, _ = _served(srv.url, s)
        assert not np.any((ts >= a) & (ts < b))
        assert np.any(ts >= b) and np.any(ts < a)
        t_true, _, _ = fleet.counter_truth(s.sensor_id, a, b)
        assert len(t_true) > 100  # the meter measured them all the same
        fleet.now_ts = b + delay  # uploaded
        ts, _, _ = _served(srv.url, s)
        np.testing.assert_array_equal(ts[(ts >= a) & (ts < b)], t_true)
        fleet.now_ts = NOW
        _check_truth(fleet, srv.url, s)


def test_counter_reset_starts_a_new_rid(fleet):
    s = fleet.sensors[2]
    r = NOW - 20000
    r256 = r + (-r) % 256
    with serve_in_thread(fleet, Faults.parse(f"reset={s.sensor_id}:{r}", now=NOW)) as srv:
        listed = get_sync(srv.url, s).json()
        assert {b["rid"] for b in listed} == {0, 1}
        old = [b for b in listed if b["rid"] == 0]
        newer = get_sync(srv.url, s, 0, old[-1]["lvl"], old[-1]["bid"]).json()
        assert newer == [b for b in listed if b["rid"] == 1]
        ts, c, rid = _served(srv.url, s)
        assert ts[rid == 0].max() < r256 <= ts[rid == 1].min()
        assert ts[rid == 1][0] == r256 and c[rid == 1][0] == 0.0
        assert c[rid == 0][-1] > 1000
        _check_truth(fleet, srv.url, s)
        e = fleet.energy_truth(s.sensor_id, r256 - 3600, r256 + 3600)
        e0 = fleet.energy_truth(s.sensor_id, r256 - 3600, r256)
        e1 = fleet.energy_truth(s.sensor_id, r256, r256 + 3600)
        assert e == pytest.approx(e0 + e1, abs=0.2)


@pytest.mark.parametrize("jump", [600, -120])
def test_clock_jump(fleet, jump):
    s = fleet.sensors[0]
    tj = NOW - 30000
    with serve_in_thread(fleet, Faults(clockjumps=(ClockJump(s.sensor_id, tj, jump),))) as srv:
        ts, c, _ = _served(srv.url, s)
        assert np.all(np.diff(ts) > 0) and np.all(np.diff(c) >= 0)
        i = np.searchsorted(ts, tj) - 1
        if jump > 0:
            assert ts[i + 1] - ts[i] >= jump  # the meter's stamps skip ahead
        else:
            # Stamps that would go back are dropped: one short step carries the energy
            # of more than 120 s (>= 19.5 W on a grid phase).
            assert ts[i + 1] - ts[i] <= 30
            assert c[i + 1] - c[i] > 120 * 19.5 / 3600
        _check_truth(fleet, srv.url, s)


def test_faults_spec_parses_every_key():
    f = Faults.parse(
        "latency=0.2,burst500=0.1,drop=0.05,truncate=0.05,defects=all,defectrate=0.5,"
        "offline=abc:6h:4h:2h,reset=abc:3h,clockjump=abc:100:-60,wrongtoken=abc|def",
        now=NOW,
        seed=9,
    )
    assert (f.latency, f.burst500, f.drop, f.truncate, f.defect_rate) == (0.2, 0.1, 0.05, 0.05, 0.5)
    assert f.defects == frozenset({"all"}) and f.wrongtoken == frozenset({"abc", "def"})
    assert f.offline == (Offline("abc", NOW - 6 * 3600, NOW - 4 * 3600, 7200),)
    assert f.resets == (Reset("abc", NOW - 3 * 3600),)
    assert f.clockjumps == (ClockJump("abc", 100, -60),)
    for bad in ("nonsense=1", "reset=abc", "latency"):
        with pytest.raises(ValueError):
            Faults.parse(bad, now=NOW)


def test_missing_token_on_unknown_path_is_404():
    fleet = Fleet.generate(homes=1, seed=1, start_ts=START, now_ts=NOW)
    with serve_in_thread(fleet) as srv:
        assert HTTP.get(f"{srv.url}/sensor/x/tmpo").status_code == 404


def test_maxinflight_answers_429_beyond_the_requests_served_at_once(fleet: Fleet) -> None:
    assert Faults.parse("maxinflight=3", now=NOW).max_inflight == 3
    for bad in ("maxinflight=x", "maxinflight=-1"):
        with pytest.raises(ValueError, match="maxinflight"):
            Faults.parse(bad, now=NOW)
    s = fleet.sensors[0]
    with serve_in_thread(fleet, Faults(latency=0.5, max_inflight=2)) as srv:

        async def burst() -> list[int]:
            async with httpx.AsyncClient(headers={"X-Token": s.token}) as http:
                url = f"{srv.url}/sensor/{s.sensor_id}/tmpo/sync"
                return [
                    r.status_code for r in await asyncio.gather(*(http.get(url) for _ in range(6)))
                ]

        codes = asyncio.run(burst())
        # alone, a request is served again once the burst is over
        assert (
            httpx.get(
                f"{srv.url}/sensor/{s.sensor_id}/tmpo/sync", headers={"X-Token": s.token}
            ).status_code
            == 200
        )
    assert codes.count(200) == 2 and codes.count(429) == 4, codes
    assert srv.stats["sync"] == {200: 3, 429: 4}
