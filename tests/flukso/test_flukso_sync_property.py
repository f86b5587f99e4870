"""Property: whatever the meter compacted between syncs, the cached series is the truth.

A meter model writes points; at each sync time the server holds the blocks of the
compaction rule (complete level-20 spans, and complete lower spans whose parent span is
still open). The client syncs at random times, against each reading of "newer than the
named block", and must return every served point exactly once.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from tmpo_fake import T0, TmpoServer, serve

from vde.flukso import BlockRef, FluksoClient, encode_block

SID = "5" * 32
TOKEN = "7" * 32
HORIZON = 1 << 21  # 24 days: spans of every level complete and compact


def served_blocks(ts: np.ndarray, counter: np.ndarray, now: int) -> dict[BlockRef, bytes]:
    blocks = {}
    for lvl in (8, 12, 16, 20):
        span = 1 << lvl
        hi = now // span * span  # spans starting before hi are complete
        lo = 0 if lvl == 20 else now // (span << 4) * (span << 4)  # parent still open
        sel = (ts >= lo) & (ts < hi)
        bids = ts[sel] - ts[sel] % span
        for bid in np.unique(bids):
            inside = bids == bid
            blocks[BlockRef(0, lvl, int(bid))] = encode_block(ts[sel][inside], counter[sel][inside])
    return blocks


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    sync_at=st.lists(st.integers(300, HORIZON), min_size=1, max_size=5, unique=True),
    newer=st.sampled_from(["start", "end", "tuple"]),
)
def test_every_served_point_once_whatever_the_compaction(seed, sync_at, newer):
    rng = np.random.default_rng(seed)
    ts = T0 + np.cumsum(rng.integers(60, 900, size=HORIZON // 60))
    ts = ts[ts < T0 + HORIZON]
    counter = np.round(1000.0 + np.cumsum(rng.random(len(ts)) * 20), 3)
    server = TmpoServer(newer=newer)
    server.add_sensor(SID, TOKEN)
    running = serve(server)
    next(running)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for offset in sorted(sync_at):
                now = T0 + offset
                server.sensors[SID].blocks = served_blocks(ts, counter, now)
                series = asyncio.run(_series(server.url, Path(tmp) / "c.sqlite"))
                served = ts < now - now % 256
                np.testing.assert_array_equal(series.ts, ts[served])
                np.testing.assert_array_equal(series.counter_wh, counter[served])
    finally:
        running.close()


async def _series(url: str, cache: Path):
    async with FluksoClient(url, cache_path=cache, backoff=0.01) as client:
        return await client.series(SID, TOKEN)
