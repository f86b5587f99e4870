"""tmpo block codec: gunzip, parse, validate against the header, repair what can be proven.

A block (after gunzip) is one JSON object::

    {"h": {"cfg": {...}, "head": [t0, c0], "tail": [tn, cn], "vsn": 1},
     "t": [0, dt1, ...], "v": [0, dc1, ...]}

with ``ts_i = t0 + sum(t[0..i])`` and ``counter_i = c0 + sum(v[0..i])`` (``t[0] == v[0] == 0``).
The header's head and tail are the ground truth. Decoding is vectorized (orjson + numpy
cumsum, no per-point Python loop). A block that fails validation is *data*, not an
exception: it comes back with a :class:`BlockIssue` and only what is certain (see
:mod:`vde.flukso.repair`, the careful path).
"""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

GZIP_MAGIC = b"\x1f\x8b"

#: A block whose known point times leave no silence longer than this [s] (between points,
#: and from its span's edges) holds everything its meter will ever write there: it cannot
#: change, so a re-fetch keeps it cached (see :func:`is_final`).
FINAL_MAX_STEP_S = 900


class CorruptBlockError(ValueError):
    """The bytes are not a complete gzip stream (truncated or damaged in transit)."""


@dataclass(frozen=True)
class BlockIssue:
    """A block that failed validation, with what was done about it.

    ``kinds`` are short codes (``length_mismatch``, ``counter_sum_mismatch``,
    ``counter_first_delta``, ``time_sum_mismatch``, ``time_not_increasing``, ``bad_time``,
    ``bad_counter``, ``empty_elements``, ``bad_json``, ``bad_header``, ``duplicate_ts``);
    ``action`` is one of ``repaired`` (all points kept, proven by the header),
    ``rebuilt_pulse``, ``kept_certain`` (points around lost deltas dropped),
    ``kept_partial`` (the longest run of body points consistent with the header, and the
    tail), ``kept_head_tail``, ``kept_first`` (duplicate points across blocks) or
    ``dropped`` (nothing certain could be kept). See :mod:`vde.flukso.repair`.
    """

    sensor_id: str
    rid: int
    lvl: int
    bid: int
    kinds: tuple[str, ...]
    detail: str
    action: str
    points_kept: int

    def __str__(self) -> str:
        return (
            f"sensor {self.sensor_id} block rid={self.rid} lvl={self.lvl} bid={self.bid}: "
            f"{self.detail} -> {self.action} ({self.points_kept} points kept)"
        )


@dataclass
class DecodedBlock:
    """Points of one block: ``ts`` [UTC epoch s] int64, ``counter_wh`` [Wh] float64.

    ``times``: every point time the block is known to hold [UTC epoch s], even where its
    counters were lost (a defective block's valid ``t``); None when unknown.
    """

    ts: np.ndarray
    counter_wh: np.ndarray
    cfg: dict[str, Any] = field(default_factory=dict)
    issue: BlockIssue | None = None
    times: np.ndarray | None = None


def is_final(block: DecodedBlock, lvl: int, bid: int, *, first: bool = False) -> bool:
    """Whether the block cannot change any more (nothing late can be uploaded into it).

    True when its known point times cover its span ``[bid, bid + 2^lvl)`` without a
    silence longer than FINAL_MAX_STEP_S, edges included (``first``: the first block of
    its rid, so nothing comes before its head). A block with a hole may still receive a
    meter's late points, so a re-fetch downloads it again.
    """
    times = block.times
    if times is None or len(times) == 0:
        return False
    if not first and int(times[0]) - bid > FINAL_MAX_STEP_S:
        return False
    if bid + (1 << lvl) - int(times[-1]) > FINAL_MAX_STEP_S:
        return False
    return len(times) < 2 or int(np.diff(times).max()) <= FINAL_MAX_STEP_S


def gunzip(data: bytes) -> bytes:
    """Gunzip a block. Already-decoded JSON (a transport that undid Content-Encoding) passes.

    Raises CorruptBlockError for truncated or damaged streams.
    """
    if data[:2] == GZIP_MAGIC:
        try:
            return zlib.decompress(data, 31)
        except zlib.error as exc:
            raise CorruptBlockError(f"bad gzip stream: {exc}") from exc
    if data[:1] == b"{":
        return data
    raise CorruptBlockError("not a gzip stream")


def decode_block(
    data: bytes, *, sensor_id: str = "", rid: int = 0, lvl: int = 0, bid: int = 0
) -> DecodedBlock:
    """Decode one gzip-compressed block into points, validating it against its header.

    Raises CorruptBlockError when the gzip stream itself is damaged (a transport error);
    every defect of the content is reported in ``DecodedBlock.issue`` instead.
    """
    return decode_document(gunzip(data), sensor_id=sensor_id, rid=rid, lvl=lvl, bid=bid)


def decode_document(
    doc: bytes, *, sensor_id: str = "", rid: int = 0, lvl: int = 0, bid: int = 0
) -> DecodedBlock:
    """Decode the JSON text of one block (see :func:`decode_block`)."""
    try:
        obj = orjson.loads(doc)
    except orjson.JSONDecodeError:
        obj = None
    else:
        fast = _decode_valid(obj)
        if fast is not None:
            return fast
    from vde.flukso.repair import decode_careful  # the rare path, kept apart

    return decode_careful(doc, obj, sensor_id=sensor_id, rid=rid, lvl=lvl, bid=bid)


def _decode_valid(obj: Any) -> DecodedBlock | None:
    """The common case, with as few passes as possible: None unless the block is valid."""
    try:
        h = obj["h"]
        (t0, c0), (tn, cn) = h["head"], h["tail"]
        t, v = obj["t"], obj["v"]
        n = len(t)
        if type(t0) is not int or type(tn) is not int or n == 0 or len(v) != n:
            return None
        if t[0] != 0 or v[0] != 0:  # the first point is the head
            return None
        # struct packing is the fastest list -> C array path (~3x np.fromiter) and strict:
        # a float, null or string in t raises instead of being truncated
        ts = np.empty(n, dtype=np.int64)
        struct.pack_into(f"{n}q", ts, 0, *t)  # straight into the array: no copy
        scaled = np.empty(n, dtype=np.float64)
        struct.pack_into(f"{n}d", scaled, 0, *v)
        c0_milli, cn_milli = round(c0 * 1000.0), round(cn * 1000.0)
        if abs(c0 * 1000.0 - c0_milli) > 1e-3 or abs(cn * 1000.0 - cn_milli) > 1e-3:
            return None  # not 3-decimal data: the careful path sums floats
    except (KeyError, TypeError, ValueError, OverflowError, struct.error):
        return None
    if n > 1 and ts[1:].min() <= 0:
        return None
    ts[0] = t0  # t[0] == 0: the cumsum then starts at the head time
    np.cumsum(ts, out=ts)
    if ts[-1] != tn:
        return None
    # counters as integer mWh (exact for the meter's 3 decimals; floats hold integers
    # exactly below 2^53), proven by landing exactly on the tail
    scaled *= 1000.0
    milli = np.rint(scaled)
    np.subtract(scaled, milli, out=scaled)
    np.abs(scaled, out=scaled)
    if scaled.max() > 1e-3:
        return None  # not 3-decimal data: the careful path sums floats
    milli[0] = c0_milli  # v[0] == 0: the cumsum then starts at the head counter
    np.cumsum(milli, out=milli)
    if milli[-1] != cn_milli:
        return None  # inconsistent: the careful path decides
    milli /= 1000.0
    cfg = h.get("cfg")
    return DecodedBlock(ts, milli, cfg if isinstance(cfg, dict) else {}, times=ts)


# --- encoding (tests, simulator-like benchmark blocks) -------------------------------------


def block_document(
    ts: np.ndarray | list[int], counter_wh: np.ndarray | list[float], cfg: dict | None = None
) -> dict[str, Any]:
    """The JSON object of a block holding these points (counters rounded to 3 decimals)."""
    ts = np.asarray(ts, dtype=np.int64)
    c = np.round(np.asarray(counter_wh, dtype=np.float64), 3)
    if len(ts) == 0 or len(ts) != len(c):
        raise ValueError("a block needs at least one point and as many counters as times")
    t = np.diff(ts, prepend=ts[0])
    # deltas of the rounded counters, in integer mWh so sum(v) reproduces the tail exactly
    milli = np.rint(c * 1000.0).astype(np.int64)
    v = np.diff(milli, prepend=milli[0]) / 1000.0
    return {
        "h": {
            "cfg": dict(cfg or {"data_type": "counter", "unit": "Wh", "function": "main"}),
            "head": [int(ts[0]), float(c[0])],
            "tail": [int(ts[-1]), float(c[-1])],
            "vsn": 1,
        },
        "t": t.tolist(),
        "v": [x if x != int(x) else int(x) for x in v.tolist()],
    }


def encode_document(doc: dict[str, Any] | bytes) -> bytes:
    """Gzip a block document (a dict, or JSON text already serialised, maybe defective)."""
    raw = doc if isinstance(doc, bytes) else orjson.dumps(doc)
    return gzip.compress(raw, compresslevel=6, mtime=0)


def encode_block(
    ts: np.ndarray | list[int], counter_wh: np.ndarray | list[float], cfg: dict | None = None
) -> bytes:
    """Gzip-compressed block holding these points (inverse of :func:`decode_block`)."""
    return encode_document(block_document(ts, counter_wh, cfg))
