"""tmpo block codec: gunzip, parse, validate against the header, repair what can be proven.

A block (after gunzip) is one JSON object::

    {"h": {"cfg": {...}, "head": [t0, c0], "tail": [tn, cn], "vsn": 1},
     "t": [0, dt1, ...], "v": [0, dc1, ...]}

with ``ts_i = t0 + sum(t[0..i])`` and ``counter_i = c0 + sum(v[0..i])`` (``t[0] == v[0] == 0``).
The header's head and tail are the ground truth. Decoding is vectorized (orjson + numpy
cumsum, no per-point Python loop). A block that fails validation is *data*, not an
exception: it comes back with a :class:`BlockIssue` and only what is certain (the head and
tail points, or a pulse-meter rebuild proven against the tail).
"""

from __future__ import annotations

import gzip
import re
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

GZIP_MAGIC = b"\x1f\x8b"

# An empty element: a comma followed by another comma or the closing bracket, or an opening
# bracket followed by a comma. Removing it keeps every real element; the header check then
# proves (or refutes) that nothing was lost.
_EMPTY_AFTER_COMMA = re.compile(rb",(?=\s*[,\]])")
_EMPTY_AFTER_BRACKET = re.compile(rb"\[\s*,")
_HEADER = re.compile(rb'"h"\s*:\s*(\{.*?"tail"\s*:\s*\[[^\]]*\][^{}]*\})', re.DOTALL)


class CorruptBlockError(ValueError):
    """The bytes are not a complete gzip stream (truncated or damaged in transit)."""


@dataclass(frozen=True)
class BlockIssue:
    """A block that failed validation, with what was done about it.

    ``kinds`` are short codes (``length_mismatch``, ``counter_sum_mismatch``,
    ``time_sum_mismatch``, ``time_not_increasing``, ``bad_time``, ``bad_counter``,
    ``empty_elements``, ``bad_json``, ``bad_header``, ``duplicate_ts``); ``action`` is one of
    ``repaired`` (checked against the header: all points kept), ``rebuilt_pulse``,
    ``kept_head_tail`` or ``dropped`` (nothing certain could be kept).
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
    """Points of one block: ``ts`` [UTC epoch s] int64, ``counter_wh`` [Wh] float64."""

    ts: np.ndarray
    counter_wh: np.ndarray
    cfg: dict[str, Any] = field(default_factory=dict)
    issue: BlockIssue | None = None


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
    return _decode_careful(doc, obj, sensor_id, rid, lvl, bid)


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
        # struct.pack is the fastest list -> C array path (~3x np.fromiter) and strict:
        # a float, null or string in t raises instead of being truncated
        ta = np.frombuffer(struct.pack(f"{n}q", *t), dtype=np.int64)
        va = np.frombuffer(struct.pack(f"{n}d", *v), dtype=np.float64)
        c0_milli, cn_milli = round(c0 * 1000.0), round(cn * 1000.0)
    except (KeyError, TypeError, ValueError, OverflowError, struct.error):
        return None
    if n > 1 and ta[1:].min() <= 0:
        return None
    ts = np.cumsum(ta)
    ts += t0
    if ts[-1] != tn:
        return None
    # counters as integer mWh (exact for the meter's 3 decimals; floats hold integers
    # exactly below 2^53), proven by landing exactly on the tail
    milli = va * 1000.0
    np.rint(milli, out=milli)
    milli[0] = c0_milli  # v[0] == 0: the cumsum then starts at the head counter
    np.cumsum(milli, out=milli)
    if milli[-1] != cn_milli:
        return None  # not 3-decimal data, or inconsistent: the careful path decides
    milli /= 1000.0
    cfg = h.get("cfg")
    return DecodedBlock(ts, milli, cfg if isinstance(cfg, dict) else {})


def _decode_careful(
    doc: bytes, obj: Any, sensor_id: str, rid: int, lvl: int, bid: int
) -> DecodedBlock:
    """Validate step by step, report what failed and keep what the header proves."""
    kinds: list[str] = []
    details: list[str] = []

    def issue(action: str, kept: int) -> BlockIssue:
        return BlockIssue(sensor_id, rid, lvl, bid, tuple(kinds), "; ".join(details), action, kept)

    if obj is None:
        obj = _tolerant_parse(doc, kinds, details)
    header = _header(obj, doc)
    if header is None:
        kinds.append("bad_header")
        details.append("header head/tail missing or not numbers")
        return DecodedBlock(_EMPTY_I, _EMPTY_F, {}, issue("dropped", 0))
    t0, c0, tn, cn, cfg = header
    if tn < t0:
        kinds.append("bad_header")
        details.append(f"tail time {tn} before head time {t0}")
        return DecodedBlock(_EMPTY_I, _EMPTY_F, cfg, issue("dropped", 0))

    t = _ints(obj.get("t") if isinstance(obj, dict) else None)
    v = _floats(obj.get("v") if isinstance(obj, dict) else None)
    t_ok = _check_time(t, t0, tn, kinds, details)
    if t_ok and v is not None and len(v) == len(t):
        tol = 1e-3 * len(v) + 1e-9 * abs(cn)
        total = float(v.sum())
        if np.isfinite(total) and abs(c0 + total - cn) <= tol and v[0] == 0:
            ts = t0 + np.cumsum(t)
            counter = _counter(c0, v)
            if kinds:  # e.g. empty elements removed, and the header proves nothing was lost
                return DecodedBlock(ts, counter, cfg, issue("repaired", len(ts)))
            return DecodedBlock(ts, counter, cfg)
        if v[0] != 0:
            kinds.append("counter_first_delta")
            details.append(f"v[0]={v[0]} (must be 0: the first point is the head)")
        else:
            kinds.append("counter_sum_mismatch")
            details.append(f"c0+sum(v)={c0 + total:.3f} != tail {cn:.3f}")
    elif v is None:
        kinds.append("bad_counter")
        details.append("v is missing or holds non-numbers")
    elif t is not None and len(v) != len(t):
        kinds.append("length_mismatch")
        details.append(f"len(t)={len(t)} len(v)={len(v)}")

    if t_ok and v is not None:
        rebuilt = _pulse_rebuild(t, v, t0, c0, cn)
        if rebuilt is not None:
            details.append(f"pulse meter: rebuilt from {rebuilt[2]:g} Wh per pulse")
            return DecodedBlock(rebuilt[0], rebuilt[1], cfg, issue("rebuilt_pulse", len(t)))
    ts, counter = _head_tail(t0, c0, tn, cn)
    return DecodedBlock(ts, counter, cfg, issue("kept_head_tail", len(ts)))


_EMPTY_I = np.empty(0, dtype=np.int64)
_EMPTY_F = np.empty(0, dtype=np.float64)


def _tolerant_parse(doc: bytes, kinds: list[str], details: list[str]) -> Any:
    """Parse JSON with empty array elements (``2,,142``) by removing them; None if hopeless."""
    fixed, n1 = _EMPTY_AFTER_COMMA.subn(b"", doc)
    fixed, n2 = _EMPTY_AFTER_BRACKET.subn(b"[", fixed)
    if n1 + n2:
        kinds.append("empty_elements")
        details.append(f"{n1 + n2} empty array element(s) removed")
    try:
        return orjson.loads(fixed)
    except orjson.JSONDecodeError as exc:
        kinds.append("bad_json")
        details.append(f"invalid JSON ({exc})")
        return None


def _header(obj: Any, doc: bytes) -> tuple[int, float, int, float, dict] | None:
    """(t0, c0, tn, cn, cfg) from the parsed block, or from the raw text if it did not parse."""
    h = obj.get("h") if isinstance(obj, dict) else None
    if h is None:
        m = _HEADER.search(doc)
        if m is None:
            return None
        try:
            h = orjson.loads(m.group(1))
        except orjson.JSONDecodeError:
            return None
    try:
        (t0, c0), (tn, cn) = h["head"], h["tail"]
        t0f, tnf = float(t0), float(tn)
        out = (int(t0f), float(c0), int(tnf), float(cn))
    except (KeyError, TypeError, ValueError):
        return None
    if t0f != out[0] or tnf != out[2] or not (np.isfinite(out[1]) and np.isfinite(out[3])):
        return None
    cfg = h.get("cfg") if isinstance(h.get("cfg"), dict) else {}
    return out[0], out[1], out[2], out[3], cfg


def _ints(seq: Any) -> np.ndarray | None:
    if not isinstance(seq, list) or not seq:
        return None
    try:
        return np.frombuffer(struct.pack(f"{len(seq)}q", *seq), dtype=np.int64)
    except struct.error:  # a float, null, string or huge number
        return None


def _floats(seq: Any) -> np.ndarray | None:
    if not isinstance(seq, list) or not seq:
        return None
    try:
        return np.frombuffer(struct.pack(f"{len(seq)}d", *seq), dtype=np.float64)
    except struct.error:  # null or string
        return None


def _check_time(
    t: np.ndarray | None, t0: int, tn: int, kinds: list[str], details: list[str]
) -> bool:
    if t is None:
        kinds.append("bad_time")
        details.append("t is missing or holds non-integers")
        return False
    if t[0] != 0 or (len(t) > 1 and not (t[1:] > 0).all()):
        kinds.append("time_not_increasing")
        details.append("t deltas not strictly positive (or t[0] != 0)")
        return False
    total = int(t.sum())
    if t0 + total != tn:
        kinds.append("time_sum_mismatch")
        details.append(f"t0+sum(t)={t0 + total} != tail {tn}")
        return False
    return True


def _counter(c0: float, v: np.ndarray) -> np.ndarray:
    """c0 + cumsum(v) [Wh], exact for 3-decimal values: summed as integer mWh."""
    milli = v * 1000.0
    as_int = np.rint(milli)
    if np.abs(milli - as_int).max() < 1e-6:
        return (round(c0 * 1000.0) + np.cumsum(as_int.astype(np.int64))) / 1000.0
    return c0 + np.cumsum(v)


def _pulse_rebuild(
    t: np.ndarray, v: np.ndarray, t0: int, c0: float, cn: float
) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Pulse meter: every delta after the first is one pulse size p; rebuild c0 + i*p.

    Trusted only when the rebuilt last counter equals the header's tail (to 3 decimals).
    """
    n = len(t)
    if n < 2 or len(v) < 2:
        return None
    pulse = float(v[1])
    if not (pulse > 0 and np.all(v[1:] == pulse)):
        return None
    if abs(c0 + (n - 1) * pulse - cn) > 1.5e-3:
        return None
    counter = (round(c0 * 1000.0) + np.arange(n, dtype=np.int64) * round(pulse * 1000.0)) / 1000.0
    return t0 + np.cumsum(t), counter, pulse


def _head_tail(t0: int, c0: float, tn: int, cn: float) -> tuple[np.ndarray, np.ndarray]:
    if tn == t0:
        return np.array([t0], dtype=np.int64), np.array([c0], dtype=np.float64)
    return np.array([t0, tn], dtype=np.int64), np.array([c0, cn], dtype=np.float64)


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
