"""The two tmpo endpoints over real HTTP: listing, blocks, auth, unknown sensors."""

from __future__ import annotations

import numpy as np
from simhelpers import HTTP, NOW, decode, get_block, get_sync

from vde.simulator import Fleet, serve_in_thread


def test_sync_lists_every_block_and_blocks_decode_to_the_truth(fleet, server):
    s = fleet.sensors[0]
    r = get_sync(server.url, s)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    listed = r.json()
    assert listed and all(set(b) == {"rid", "lvl", "bid", "ext"} for b in listed)
    assert all(b["ext"] == "gz" and b["bid"] % (1 << b["lvl"]) == 0 for b in listed)
    assert all(b["bid"] + 256 <= NOW for b in listed)
    ts_all, c_all = [], []
    for b in listed:
        rb = get_block(server.url, s, b["rid"], b["lvl"], b["bid"])
        assert rb.status_code == 200
        assert rb.headers["content-type"] == "application/gzip"
        h, ts, c = decode(rb.content)
        assert h["vsn"] == 1 and h["cfg"]["data_type"] == "counter"
        assert [int(ts[-1]), round(c[-1], 3)] == [h["tail"][0], round(h["tail"][1], 3)]
        assert ts[0] >= b["bid"] and ts[-1] < b["bid"] + (1 << b["lvl"])
        assert np.all(np.diff(ts) > 0)
        ts_all.append(ts)
        c_all.append(c)
    ts = np.concatenate(ts_all)
    c = np.concatenate(c_all)
    t_true, c_true, rid = fleet.counter_truth(s.sensor_id, 0, NOW + 1)
    # Every point the meter wrote in complete blocks is served, exactly once.
    last_end = max(b["bid"] + (1 << b["lvl"]) for b in listed)
    sel = t_true < last_end
    np.testing.assert_array_equal(ts, t_true[sel])
    np.testing.assert_allclose(c, c_true[sel], atol=1e-6)
    assert np.all(rid == 0)


def test_sync_newer_than_a_block(fleet, server):
    s = fleet.sensors[1]
    listed = get_sync(server.url, s).json()
    last8 = [b for b in listed if b["lvl"] == 8][-3]
    newer = get_sync(server.url, s, last8["rid"], last8["lvl"], last8["bid"]).json()
    assert newer == [b for b in listed if b["lvl"] == 8][-2:]
    first = listed[0]
    after_first = get_sync(server.url, s, first["rid"], first["lvl"], first["bid"]).json()
    assert after_first == listed[1:]


def test_wrong_or_missing_token_is_401(fleet, server):
    s = fleet.sensors[0]
    url = f"{server.url}/sensor/{s.sensor_id}/tmpo/sync?rid=0&lvl=0&bid=0"
    assert HTTP.get(url).status_code == 401
    assert HTTP.get(url, headers={"X-Token": "0" * 32}).status_code == 401
    other = fleet.sensors[1].token
    assert HTTP.get(url, headers={"X-Token": other}).status_code == 401
    b = get_sync(server.url, s).json()[-1]
    burl = f"{server.url}/sensor/{s.sensor_id}/tmpo/{b['rid']}/{b['lvl']}/{b['bid']}"
    assert HTTP.get(burl, headers={"X-Token": other}).status_code == 401
    assert server.stats.count("sync", 401) >= 3


def test_unknown_sensor_or_block_is_404(fleet, server):
    s = fleet.sensors[0]
    r = HTTP.get(f"{server.url}/sensor/{'ab' * 16}/tmpo/sync", headers={"X-Token": s.token})
    assert r.status_code == 404
    listed = get_sync(server.url, s).json()
    b12 = next(b for b in listed if b["lvl"] == 12)
    # A child of a compacted block no longer exists.
    assert get_block(server.url, s, 0, 8, b12["bid"]).status_code == 404
    assert get_block(server.url, s, 0, 8, NOW - NOW % 256).status_code == 404  # incomplete
    assert get_block(server.url, s, 0, 9, 0).status_code == 404
    assert HTTP.get(f"{server.url}/other").status_code == 404
    assert server.stats.count("block", 404) >= 3


def test_same_seed_same_bytes_other_seed_other_bytes():
    bodies = []
    for seed in (3, 3, 4):
        fleet = Fleet.generate(homes=3, seed=seed, start_ts=NOW - 86400, now_ts=NOW)
        with serve_in_thread(fleet) as srv:
            s = fleet.sensors[-1]
            listed = get_sync(srv.url, s).json()
            bodies.append(
                [listed]
                + [get_block(srv.url, s, b["rid"], b["lvl"], b["bid"]).content for b in listed]
            )
    assert bodies[0] == bodies[1]
    assert bodies[0] != bodies[2]


def test_live_fleet_grows_with_the_frozen_clock(fleet, server):
    s = fleet.sensors[2]
    before = get_sync(server.url, s).json()
    server.advance(4096)
    try:
        after = get_sync(server.url, s).json()
    finally:
        fleet.now_ts = NOW
    assert max(b["bid"] for b in after) > max(b["bid"] for b in before)
    assert len(after) != len(before) or after != before
