"""The meter's compaction rule, as served: children vanish once their parent exists."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from simhelpers import HTTP, NOW, START, decode, get_block, get_sync

from vde.simulator import Fleet
from vde.simulator.blocks import list_blocks

FLEET = Fleet.generate(homes=2, seed=21, start_ts=START, now_ts=NOW)


def _check_layout(blocks: list[tuple[int, int, int]], now: int) -> None:
    end: dict[int, int] = {}
    for rid, lvl, bid in blocks:
        span = 1 << lvl
        assert lvl in (8, 12, 16, 20) and bid % span == 0
        assert bid + span <= now  # complete
        if lvl < 20:
            parent = 1 << (lvl + 4)
            assert bid - bid % parent + parent > now  # its parent is not complete yet
        assert bid >= end.get(rid, bid)  # a rid's blocks tile time without overlap
        end[rid] = bid + span


@settings(max_examples=40, deadline=None)
@given(offset=st.integers(min_value=0, max_value=3 * 86400), which=st.integers(0, 3))
def test_blocks_tile_time_and_follow_the_rule(offset, which):
    s = FLEET.sensors[which % len(FLEET.sensors)]
    now = START + 300 + offset
    blocks = list_blocks(FLEET, s, now)
    assert blocks
    _check_layout(blocks, now)
    # Only the newest spans stay small: at most 15 blocks per level below 20.
    for lvl in (8, 12, 16):
        assert sum(1 for b in blocks if b[1] == lvl) <= 15


def test_children_replaced_by_their_parent_with_the_same_points():
    fleet = Fleet.generate(homes=2, seed=21, start_ts=START, now_ts=NOW)
    from vde.simulator import serve_in_thread

    s = fleet.sensors[1]
    parent_bid = NOW - NOW % 4096  # the lvl-12 span still growing at NOW
    with serve_in_thread(fleet) as srv:
        before = get_sync(srv.url, s).json()
        children = [b for b in before if b["lvl"] == 8 and b["bid"] >= parent_bid]
        assert children
        child_points = [decode(get_block(srv.url, s, 0, 8, b["bid"]).content) for b in children]
        srv.advance(parent_bid + 4096 - NOW)  # the span completes: 16 children -> 1 parent
        after = get_sync(srv.url, s).json()
        assert {"rid": 0, "lvl": 12, "bid": parent_bid, "ext": "gz"} in after
        assert not [b for b in after if b["lvl"] == 8 and b["bid"] < parent_bid + 4096]
        for b in children:
            assert get_block(srv.url, s, 0, 8, b["bid"]).status_code == 404
        _, ts, c = decode(get_block(srv.url, s, 0, 12, parent_bid).content)
        # The parent holds exactly the children's points (and the rest of its span).
        old_ts = np.concatenate([p[1] for p in child_points])
        old_c = np.concatenate([p[2] for p in child_points])
        idx = np.searchsorted(ts, old_ts)
        np.testing.assert_array_equal(ts[idx], old_ts)
        np.testing.assert_allclose(c[idx], old_c, atol=1e-6)
        # Asked with the last child, sync lists the parent (it ends later).
        last = children[-1]
        newer = get_sync(srv.url, s, 0, 8, last["bid"]).json()
        assert newer[0] == {"rid": 0, "lvl": 12, "bid": parent_bid, "ext": "gz"}
        assert HTTP.get(f"{srv.url}/sensor/{s.sensor_id}/tmpo/sync").status_code == 401


def test_level_20_blocks_for_an_old_meter():
    fleet = Fleet.generate(homes=1, seed=2, start_ts=NOW - 40 * 86400, now_ts=NOW)
    s = fleet.sensors[0]
    blocks = list_blocks(fleet, s, NOW)
    _check_layout(blocks, NOW)
    assert sum(1 for b in blocks if b[1] == 20) >= 2
    # The first block starts with the meter; the last ends within 256 s of now.
    assert blocks[0][2] <= fleet.start_ts < blocks[0][2] + (1 << blocks[0][1])
    assert NOW - (blocks[-1][2] + 256) < 256
