"""Helpers of the simulator tests (plain HTTP with httpx, protocol decoding)."""

from __future__ import annotations

import gzip

import httpx
import numpy as np
import orjson

from vde.simulator import SimSensor

NOW = 1_795_000_000  # 2026-11-18, a frozen "now"
START = NOW - 3 * 86400

# One client for all helpers: httpx.get() builds a new client (and TLS context) per call.
HTTP = httpx.Client(timeout=30)


def get_sync(url: str, s: SimSensor, rid: int = 0, lvl: int = 0, bid: int = 0) -> httpx.Response:
    return HTTP.get(
        f"{url}/sensor/{s.sensor_id}/tmpo/sync",
        params={"rid": rid, "lvl": lvl, "bid": bid},
        headers={"X-Token": s.token, "X-Version": "1.0", "Accept": "application/json"},
    )


def get_block(url: str, s: SimSensor, rid: int, lvl: int, bid: int) -> httpx.Response:
    return HTTP.get(
        f"{url}/sensor/{s.sensor_id}/tmpo/{rid}/{lvl}/{bid}",
        headers={"X-Token": s.token, "X-Version": "1.0", "Accept": "application/gzip"},
    )


def decode(body: bytes) -> tuple[dict, np.ndarray, np.ndarray]:
    """(header, ts, counter_wh) of a healthy block, by the protocol note's rules."""
    doc = orjson.loads(gzip.decompress(body))
    h = doc["h"]
    ts = h["head"][0] + np.cumsum(np.asarray(doc["t"], dtype=np.int64))
    c = h["head"][1] + np.cumsum(np.asarray(doc["v"], dtype=np.float64))
    return h, ts, c
