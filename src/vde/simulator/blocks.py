"""tmpo blocks of a simulated sensor: which exist (the compaction rule) and their bytes.

Compaction rule (by the meter's clock ``mnow``): a span of level L (2^L s, bid a multiple
of 2^L) is complete when ``bid + 2^L <= mnow``. The meter holds, per rid, every complete
span of level 20, and every complete span of level L < 20 whose parent span (level L+4)
is not complete yet: 16 complete children are merged into their parent as soon as the
parent is complete, and the current, still-growing period is in lvl-8 blocks. A span
with no uploaded point of that rid is no block. Spans of one rid tile time without
overlap.
"""

from __future__ import annotations

import gzip
from typing import TYPE_CHECKING

import numpy as np
import orjson

from vde.simulator.meter import _LRU
from vde.simulator.profiles import hash_u01

if TYPE_CHECKING:
    from vde.simulator.fleet import Fleet, SimSensor

LEVELS = (8, 12, 16, 20)
# Any meter-time window at least this long inside a covered interval holds a point:
# clamps write every <= 30 s; pulse homes draw >= 30 W per phase (1 Wh in < 185 s).
_SAFE_S = {"clamp": 31, "pulse": 200}
_FUNCTION = {"mains": "main", "pv": "solar", "ev": "ev"}
DEFECTS = ("extra_v", "empty_elements", "header")


def list_blocks(fleet: Fleet, s: SimSensor, now: int) -> list[tuple[int, int, int]]:
    """(rid, lvl, bid) of every block the server holds for ``s`` at ``now``, sorted."""
    meter = fleet.meter
    with meter.lock:
        mnow = meter.meter_now(s, now)
        cover = meter.coverage(s, now)
    out: list[tuple[int, int, int]] = []
    for rid, ivs in cover.items():
        if not ivs:
            continue
        first, last = ivs[0][0], ivs[-1][1]
        for lvl in LEVELS:
            span = 1 << lvl
            hi = (mnow // span) * span  # spans starting before hi are complete
            lo = first - first % span
            if lvl < 20:
                parent = 1 << (lvl + 4)
                lo = max(lo, (mnow // parent) * parent)
            for bid in range(lo, min(hi, last), span):
                overlap = sum(max(0, min(b, bid + span) - max(a, bid)) for a, b in ivs)
                if overlap == 0:
                    continue
                if overlap < _SAFE_S[s.meter] and not _has_points(
                    fleet, s, rid, bid, span, ivs, now
                ):
                    continue
                out.append((rid, lvl, bid))
    out.sort(key=lambda b: (b[0], b[2], -b[1]))
    return out


def newer_than(
    blocks: list[tuple[int, int, int]], rid: int, lvl: int, bid: int
) -> list[tuple[int, int, int]]:
    """Blocks newer than the named one: a later rid, or the same rid and a later end."""
    if rid == 0 and lvl == 0 and bid == 0:
        return list(blocks)
    end = bid + (1 << lvl)
    return [b for b in blocks if b[0] > rid or (b[0] == rid and b[2] + (1 << b[1]) > end)]


def _has_points(
    fleet: Fleet,
    s: SimSensor,
    rid: int,
    bid: int,
    span: int,
    ivs: list[tuple[int, int]],
    now: int,
) -> bool:
    """Whether the block holds a point: generates only the (short) covered overlap."""
    for a, b in ivs:
        lo, hi = max(a, bid), min(b, bid + span)
        if hi > lo:
            _, _, r = fleet.meter.written_points(s, lo, hi, now)
            if np.any(r == rid):
                return True
    return False


class BlockStore:
    """Encodes blocks on demand and caches their bytes (bounded)."""

    def __init__(self, fleet: Fleet, max_bytes: int = 64 << 20) -> None:
        self.fleet = fleet
        self._cache = _LRU(max_bytes)

    def clear(self) -> None:
        with self.fleet.meter.lock:
            self._cache.clear()

    def cached(self, s: SimSensor, rid: int, lvl: int, bid: int, now: int) -> bytes | None:
        """The block's bytes if already encoded (cheap: no generation)."""
        with self.fleet.meter.lock:
            return self._cache.get(self._key(s, rid, lvl, bid, now))  # type: ignore[return-value]

    def _key(self, s: SimSensor, rid: int, lvl: int, bid: int, now: int) -> tuple:
        meter = self.fleet.meter
        return (
            s.index,
            rid,
            lvl,
            bid,
            meter.faults.meter_key(s.sensor_id),
            tuple(meter._hidden(s, now)),
            self._defect(s, lvl, bid),
        )

    def _defect(self, s: SimSensor, lvl: int, bid: int) -> str | None:
        faults = self.fleet.meter.faults
        if lvl < 12 or not faults.defective(s.sensor_id):
            return None
        if hash_u01(faults.seed, s.index, lvl, bid, 99)[0] >= faults.defect_rate:
            return None
        return DEFECTS[int(hash_u01(faults.seed, s.index, lvl, bid, 98)[0] * len(DEFECTS))]

    def block(self, s: SimSensor, rid: int, lvl: int, bid: int, now: int) -> bytes:
        """The gzip bytes of one block (the caller checked that it exists)."""
        meter = self.fleet.meter
        key = self._key(s, rid, lvl, bid, now)
        defect = key[-1]
        with meter.lock:
            hit = self._cache.get(key)
        if hit is not None:
            return hit  # type: ignore[return-value]
        ts, mwh, r = meter.written_points(s, bid, bid + (1 << lvl), now)
        sel = r == rid
        body = encode_block(s, rid, lvl, bid, ts[sel], mwh[sel], defect)
        with meter.lock:
            self._cache.put(key, body)
        return body


def encode_block(
    s: SimSensor,
    rid: int,
    lvl: int,
    bid: int,
    ts: np.ndarray,
    mwh: np.ndarray,
    defect: str | None = None,
) -> bytes:
    """gzip JSON of a block from its points (meter ts [s], counter [mWh])."""
    head = [int(ts[0]), mwh[0] / 1000.0]
    tail = [int(ts[-1]), mwh[-1] / 1000.0]
    t = np.diff(ts, prepend=ts[0])
    v = np.diff(mwh, prepend=mwh[0]) / 1000.0
    if defect == "extra_v":
        # Firmware that repeats one delta per merged child after the first.
        child = 1 << (lvl - 4)
        starts = np.searchsorted(ts, bid + child * np.arange(1, 16))
        starts = starts[(starts > 0) & (starts < len(v))]
        v = np.insert(v, starts, v[starts])
    elif defect == "header" and len(t) > 3:
        t, v = t[:-2], v[:-2]  # content stops short of the (true) tail
    cfg = {
        "id": s.sensor_id,
        "type": "electricity",
        "class": "pulse" if s.meter == "pulse" else "analog",
        "function": _FUNCTION.get(s.kind, s.kind),
        "port": [s.port],
        "data_type": "counter",
        "unit": "Wh",
        "rid": rid,
        "lvl": lvl,
        "bid": bid,
    }
    if s.meter == "pulse":
        cfg["constant"] = s.pulse_wh
    doc = {"h": {"cfg": cfg, "head": head, "tail": tail, "vsn": 1}, "t": t, "v": v}
    raw = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    if defect == "empty_elements":
        raw = _empty_elements(raw, s.index + bid)
    return gzip.compress(raw, compresslevel=1, mtime=0)


def _empty_elements(raw: bytes, key: int) -> bytes:
    """Blank out a few elements of the ``v`` array (``...,2,,142,...``)."""
    start = raw.index(b'"v":[') + 5
    end = raw.index(b"]", start)
    items = raw[start:end].split(b",")
    if len(items) > 3:
        for i in (1 + key % (len(items) - 1), len(items) // 2):
            items[i] = b""
    return raw[:start] + b",".join(items) + raw[end:]
