"""The async client over real HTTP: cache, compaction, rids, retries, errors, concurrency."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import orjson
import pytest
from tmpo_fake import T0, Fault, meter_points

from vde.errors import (
    FluksoAuthError,
    FluksoError,
    FluksoNotFoundError,
    FluksoTransportError,
    SettingsError,
)
from vde.flukso import BlockRef, FluksoClient, block_document, encode_document

SID = "0123456789abcdef0123456789abcdef"
TOKEN = "fedcba9876543210fedcba9876543210"


def run(coro):
    return asyncio.run(coro)


def client(server, tmp_path, **kw) -> FluksoClient:
    kw.setdefault("backoff", 0.01)
    return FluksoClient(server.url, cache_path=tmp_path / "blocks.sqlite", **kw)


async def fetch(server, tmp_path, start=None, end=None, sid=SID, token=TOKEN, **kw):
    async with client(server, tmp_path, **kw) as c:
        return await c.series(sid, token, start, end)


def test_series_matches_truth_and_second_fetch_downloads_nothing(tmpo_server, tmp_path):
    ts, counter = meter_points(T0, T0 + 3 * 3600, seed=1)
    tmpo_server.add_sensor(SID, TOKEN)
    refs = tmpo_server.put_points(SID, ts, counter)
    first = run(fetch(tmpo_server, tmp_path))
    np.testing.assert_array_equal(first.ts, ts)
    np.testing.assert_array_equal(first.counter_wh, counter)
    assert (first.rid == 0).all() and first.issues == []
    assert first.blocks_downloaded == len(refs) and first.blocks_cached == 0
    n_requests = tmpo_server.block_requests()

    second = run(fetch(tmpo_server, tmp_path))  # a new client: the cache is on disk
    assert second.blocks_downloaded == 0 and second.blocks_cached == len(refs)
    assert tmpo_server.block_requests() == n_requests
    np.testing.assert_array_equal(second.ts, ts)


def test_new_blocks_only_are_downloaded_and_window_is_respected(tmpo_server, tmp_path):
    ts, counter = meter_points(T0, T0 + 7200, seed=2)
    tmpo_server.add_sensor(SID, TOKEN)
    early = ts < T0 + 3600
    tmpo_server.put_points(SID, ts[early], counter[early])
    run(fetch(tmpo_server, tmp_path))
    tmpo_server.put_points(SID, ts[~early], counter[~early])
    new_refs = {r for r in tmpo_server.sensors[SID].blocks if r.bid >= T0 + 3584}
    s = run(fetch(tmpo_server, tmp_path, start=T0 + 1000, end=T0 + 5000))
    assert s.blocks_downloaded == len([r for r in new_refs if r.bid < T0 + 5000])
    sel = (ts >= T0 + 1000) & (ts < T0 + 5000)
    np.testing.assert_array_equal(s.ts, ts[sel])
    np.testing.assert_array_equal(s.counter_wh, counter[sel])


def test_compaction_replaces_children_without_double_count(any_tmpo_server, tmp_path):
    server = any_tmpo_server
    ts, counter = meter_points(T0, T0 + 2 * 4096 + 700, seed=3)
    server.add_sensor(SID, TOKEN)
    # phase 1: the meter has written 10 of the 16 level-8 children of the first 4096-s span
    phase1 = ts < T0 + 10 * 256
    server.put_points(SID, ts[phase1], counter[phase1])
    s1 = run(fetch(server, tmp_path))
    np.testing.assert_array_equal(s1.ts, ts[phase1])
    # phase 2: children 10-15 written, all 16 compacted into the level-12 parent, and the
    # next span partly compacted too; newer level-8 blocks after that
    server.put_points(SID, ts, counter)
    server.compact(SID, BlockRef(0, 12, T0), ts, counter)
    server.compact(SID, BlockRef(0, 12, T0 + 4096), ts, counter)
    s2 = run(fetch(server, tmp_path))
    np.testing.assert_array_equal(s2.ts, ts)  # every point once: nothing missed or doubled
    np.testing.assert_array_equal(s2.counter_wh, counter)
    assert s2.issues == []

    # the cache holds the parents, not the replaced children
    async def cached():
        async with client(server, tmp_path) as c:
            return [e.ref for e in c.cache.entries(SID)]

    refs = run(cached())
    assert BlockRef(0, 12, T0) in refs and BlockRef(0, 12, T0 + 4096) in refs
    assert not any(r.lvl == 8 and r.bid < T0 + 8192 for r in refs)
    # phase 3: everything compacted into one level-16 parent; still exact
    server.compact(SID, BlockRef(0, 16, T0), ts, counter)
    s3 = run(fetch(server, tmp_path))
    assert s3.blocks_downloaded == 1
    np.testing.assert_array_equal(s3.ts, ts)


def test_rid_change_is_never_stitched(any_tmpo_server, tmp_path):
    server = any_tmpo_server
    ts0, c0 = meter_points(T0, T0 + 2000, seed=4)
    server.add_sensor(SID, TOKEN)
    server.put_points(SID, ts0, c0, rid=0)
    run(fetch(server, tmp_path))
    ts1, c1 = meter_points(T0 + 2100, T0 + 4000, seed=5)
    c1 = np.round(c1 - c1[0], 3)  # the reset meter counts from zero again
    server.put_points(SID, ts1, c1, rid=1)
    s = run(fetch(server, tmp_path))
    assert s.blocks_downloaded == len({t - t % 256 for t in ts1.tolist()})
    np.testing.assert_array_equal(s.ts, np.concatenate([ts0, ts1]))
    np.testing.assert_array_equal(s.rid, np.r_[np.zeros(len(ts0)), np.ones(len(ts1))])
    np.testing.assert_array_equal(s.counter_wh[s.rid == 1], c1)
    assert s.counter_wh[s.rid == 1][0] == 0.0


def test_defective_blocks_are_reported_over_http(tmpo_server, tmp_path):
    ts, counter = meter_points(T0, T0 + 1024, seed=6)
    tmpo_server.add_sensor(SID, TOKEN)
    refs = tmpo_server.put_points(SID, ts, counter)
    bad = refs[1]
    sel = (ts >= bad.bid) & (ts < bad.end)
    doc = block_document(ts[sel], counter[sel])
    doc["v"].append(1.0)  # more v than t
    tmpo_server.sensors[SID].blocks[bad] = encode_document(orjson.dumps(doc))
    s = run(fetch(tmpo_server, tmp_path))
    assert [(i.rid, i.lvl, i.bid, i.action) for i in s.issues] == [
        (0, 8, bad.bid, "kept_head_tail")
    ]
    expected = ~sel
    expected[np.flatnonzero(sel)[[0, -1]]] = True  # head and tail of the bad block stay
    np.testing.assert_array_equal(s.ts, ts[expected])
    np.testing.assert_array_equal(s.counter_wh, counter[expected])


@pytest.mark.parametrize("kind", ["500", "503", "drop", "truncate"])
def test_transient_failures_are_retried(tmpo_server, tmp_path, kind):
    ts, counter = meter_points(T0, T0 + 600, seed=7)
    tmpo_server.add_sensor(SID, TOKEN)
    tmpo_server.put_points(SID, ts, counter)
    where = "/tmpo/sync" if kind != "truncate" else f"/tmpo/0/8/{T0}"
    if kind == "truncate":  # a cut JSON block list is retried too
        tmpo_server.faults.append(Fault("/tmpo/sync", "truncate"))
    tmpo_server.faults += [
        Fault(where, kind),
        Fault(where, kind),
        Fault(f"/tmpo/0/8/{T0 + 256}", kind if kind != "truncate" else "500"),
    ]
    s = run(fetch(tmpo_server, tmp_path))
    np.testing.assert_array_equal(s.ts, ts)
    assert tmpo_server.faults == []


def test_429_honours_retry_after(tmpo_server, tmp_path):
    ts, counter = meter_points(T0, T0 + 300, seed=8)
    tmpo_server.add_sensor(SID, TOKEN)
    tmpo_server.put_points(SID, ts, counter)
    tmpo_server.faults = [Fault("/tmpo/sync", "429", retry_after="1")]
    t = time.monotonic()
    s = run(fetch(tmpo_server, tmp_path))
    assert time.monotonic() - t >= 1.0
    assert len(s) == len(ts)


def test_retries_exhausted_raise_transport_error(tmpo_server, tmp_path):
    tmpo_server.add_sensor(SID, TOKEN)
    tmpo_server.faults = [Fault("/tmpo/sync", "503") for _ in range(4)]
    with pytest.raises(FluksoTransportError) as err:
        run(fetch(tmpo_server, tmp_path, retries=3))
    assert SID in str(err.value) and "HTTP 503" in str(err.value)
    assert TOKEN not in str(err.value)
    assert len(tmpo_server.paths) == 4


def test_refused_token_raises_auth_error_without_token_and_without_retry(tmpo_server, tmp_path):
    tmpo_server.add_sensor(SID, TOKEN)
    wrong = "00000000000000000000000000000bad"
    with pytest.raises(FluksoAuthError) as err:
        run(fetch(tmpo_server, tmp_path, token=wrong))
    assert err.value.sensor_id == SID and SID in str(err.value)
    assert wrong not in str(err.value) and TOKEN not in str(err.value)
    assert len(tmpo_server.paths) == 1


def test_unknown_sensor_raises_not_found(tmpo_server, tmp_path):
    with pytest.raises(FluksoNotFoundError) as err:
        run(fetch(tmpo_server, tmp_path, sid="f" * 32))
    assert "f" * 32 in str(err.value)
    assert len(tmpo_server.paths) == 1


def test_many_sensors_share_one_concurrency_bound_and_fail_alone(tmpo_server, tmp_path):
    sensors = [(f"{i:032x}", f"{i + 100:032x}") for i in range(4)]
    truth = {}
    for i, (sid, token) in enumerate(sensors):
        tmpo_server.add_sensor(sid, token)
        truth[sid] = meter_points(T0, T0 + 10 * 256, seed=10 + i)
        tmpo_server.put_points(sid, *truth[sid])
    tmpo_server.delay = 0.03

    async def go():
        async with client(tmpo_server, tmp_path, concurrency=3) as c:
            calls = [c.series(sid, token) for sid, token in sensors]
            calls.append(c.series(sensors[0][0], "bad" * 10 + "xx"))
            return await asyncio.gather(*calls, return_exceptions=True)

    results = run(go())
    assert isinstance(results[-1], FluksoAuthError)
    for (sid, _), res in zip(sensors, results[:-1], strict=True):
        np.testing.assert_array_equal(res.ts, truth[sid][0])
    assert tmpo_server.max_in_flight == 3  # bounded across sensors, and actually used


def test_tls_with_the_configured_ca_bundle(tls_tmpo_server, tmp_path):
    ts, counter = meter_points(T0, T0 + 600, seed=12)
    tls_tmpo_server.add_sensor(SID, TOKEN)
    tls_tmpo_server.put_points(SID, ts, counter)
    s = run(fetch(tls_tmpo_server, tmp_path, ca_bundle=tls_tmpo_server.ca_bundle))
    np.testing.assert_array_equal(s.ts, ts)


def test_untrusted_certificate_fails_at_once_with_a_hint(tls_tmpo_server, tmp_path):
    tls_tmpo_server.add_sensor(SID, TOKEN)
    t = time.monotonic()
    with pytest.raises(FluksoTransportError) as err:
        run(fetch(tls_tmpo_server, tmp_path, backoff=2.0))  # retries would take >= 31 s
    assert time.monotonic() - t < 5.0
    assert "flukso_ca_bundle" in str(err.value) and SID in str(err.value)


def test_a_block_that_vanished_without_parent_is_forgotten(tmpo_server, tmp_path):
    ts, counter = meter_points(T0, T0 + 2048, seed=13)
    tmpo_server.add_sensor(SID, TOKEN)
    tmpo_server.put_points(SID, ts, counter)
    first = run(fetch(tmpo_server, tmp_path, end=T0 + 512))  # lists all, downloads 2
    assert first.blocks_downloaded == 2
    gone = BlockRef(0, 8, T0 + 1024)
    del tmpo_server.sensors[SID].blocks[gone]  # e.g. deleted on the server side
    s = run(fetch(tmpo_server, tmp_path))
    keep = (ts < gone.bid) | (ts >= gone.end)
    np.testing.assert_array_equal(s.ts, ts[keep])
    assert s.blocks_downloaded == 5


def test_missing_ca_bundle_is_a_settings_error(tmp_path):
    with pytest.raises(SettingsError) as err:
        FluksoClient("https://127.0.0.1:1", ca_bundle=tmp_path / "nope.pem")
    assert "flukso_ca_bundle" in str(err.value)


@pytest.mark.parametrize("bad", ["../../admin", "0123", "g" * 32, SID + "/x"])
def test_malformed_sensor_id_is_refused_before_any_request(tmpo_server, tmp_path, bad):
    with pytest.raises(FluksoError) as err:
        run(fetch(tmpo_server, tmp_path, sid=bad))
    assert "32 hex" in str(err.value)
    assert tmpo_server.paths == []
