"""The careful path of the block decoder: blocks that fail the fast path come here.

Every check is made against the header (head and tail are the ground truth), every failure
is reported in a :class:`BlockIssue`, and only what is certain is kept, best first:

1. ``repaired``: stray empty elements removed and the deltas land on the tail, or one
   delta lost (it follows from the tail); all points kept.
2. ``rebuilt_pulse``: a pulse meter (every delta after the first is one pulse size) whose
   times are consistent: counter_i = c0 + i * pulse, checked against the tail.
3. ``kept_certain``: deltas lost in empty elements: the points before the first loss
   (summed from the head) and from the last one on (summed back from the tail).
4. ``kept_partial``: times that do not land on the tail (a body cut short, a bad delta):
   the longest run of body points from the head that stays consistent with the header
   (times increasing and before the tail, counters not decreasing and at most the tail's),
   then the tail.
5. ``kept_head_tail``: the header's two points, so the energy over the block stays exact.
6. ``dropped``: no usable header; nothing is certain.
"""

from __future__ import annotations

import re
import struct
from typing import Any

import numpy as np
import orjson

from vde.flukso.blocks import BlockIssue, DecodedBlock

# An empty element: a comma followed by another comma or the closing bracket, or an opening
# bracket followed by a comma. It becomes null; whether it was a stray comma or a lost value
# is decided later, by the header.
_EMPTY_AFTER_COMMA = re.compile(rb",(?=\s*[,\]])")
_EMPTY_AFTER_BRACKET = re.compile(rb"\[(?=\s*,)")
_HEADER = re.compile(rb'"h"\s*:\s*(\{.*?"tail"\s*:\s*\[[^\]]*\][^{}]*\})', re.DOTALL)

_EMPTY_I = np.empty(0, dtype=np.int64)
_EMPTY_F = np.empty(0, dtype=np.float64)


class _Report:
    def __init__(self, sensor_id: str, rid: int, lvl: int, bid: int) -> None:
        self.ref = (sensor_id, rid, lvl, bid)
        self.kinds: list[str] = []
        self.details: list[str] = []

    def add(self, kind: str, detail: str) -> None:
        if kind not in self.kinds:
            self.kinds.append(kind)
        self.details.append(detail)

    def done(
        self,
        ts: np.ndarray,
        counter: np.ndarray,
        cfg: dict,
        action: str,
        times: np.ndarray | None = None,
    ) -> DecodedBlock:
        """The result; ``times``: point times known beyond ``ts`` (default: ``ts``)."""
        if times is None and action not in ("kept_head_tail", "dropped"):
            times = ts
        if action == "repaired" and not self.kinds:
            # valid after all (e.g. 4-decimal counters)
            return DecodedBlock(ts, counter, cfg, times=times)
        issue = BlockIssue(*self.ref, tuple(self.kinds), "; ".join(self.details), action, len(ts))
        return DecodedBlock(ts, counter, cfg, issue, times=times)


def decode_careful(
    doc: bytes, obj: Any, *, sensor_id: str = "", rid: int = 0, lvl: int = 0, bid: int = 0
) -> DecodedBlock:
    """Decode a block that failed the fast path (``obj`` None when the JSON did not parse)."""
    rep = _Report(sensor_id, rid, lvl, bid)
    if obj is None:
        obj = _tolerant_parse(doc, rep)
    header = _header(obj, doc)
    if header is None:
        rep.add("bad_header", "header head/tail missing or not numbers")
        return rep.done(_EMPTY_I, _EMPTY_F, {}, "dropped")
    t0, c0, tn, cn, cfg = header
    if tn < t0:
        rep.add("bad_header", f"tail time {tn} before head time {t0}")
        return rep.done(_EMPTY_I, _EMPTY_F, cfg, "dropped")
    body = obj if isinstance(obj, dict) else {}
    t = _time_deltas(body.get("t"), rep)
    v = _numbers(body.get("v"))
    if v is None:
        rep.add("bad_counter", "v is missing or holds non-numbers")
    if not _check_time(t, t0, tn, rep):
        if t is not None and v is not None and len(v) != len(t):
            rep.add("length_mismatch", f"len(t)={len(t)} len(v)={len(v)}")
        partial = _partial_body(t, v, t0, c0, tn, cn)
        if partial is not None:
            n_body = len(partial[0]) - 1
            rep.details.append(
                f"kept {n_body} of {len(t)} body points (the longest run consistent with"  # type: ignore[arg-type]
                " the header) and the tail"
            )
            return rep.done(*partial, cfg, "kept_partial")
        return rep.done(*_head_tail(t0, c0, tn, cn), cfg, "kept_head_tail")
    assert t is not None  # _check_time passed
    ts = t0 + np.cumsum(t)
    if v is None:
        return rep.done(*_head_tail(t0, c0, tn, cn), cfg, "kept_head_tail", times=ts)
    n = len(t)
    lost = np.isnan(v)
    present = v[~lost] if lost.any() else v
    # all points, if the deltas we have (stray empties dropped) land on the tail
    if len(present) == n and _lands_on_tail(present, c0, cn, rep):
        return rep.done(ts, _counter(c0, present), cfg, "repaired")
    if len(present) != n and len(v) != n:
        rep.add("length_mismatch", f"len(t)={n} len(v)={len(present)}")
    rebuilt = _pulse_rebuild(present, n, c0, cn)
    if rebuilt is not None:
        rep.details.append(f"pulse meter: rebuilt from {rebuilt[1]:g} Wh per pulse")
        return rep.done(ts, rebuilt[0], cfg, "rebuilt_pulse")
    if lost.any() and len(v) == n:
        return _keep_certain(ts, v, lost, c0, cn, cfg, rep)
    # the times are right (they land on the tail) even though the counters are not
    return rep.done(*_head_tail(t0, c0, tn, cn), cfg, "kept_head_tail", times=ts)


def _partial_body(
    t: np.ndarray | None, v: np.ndarray | None, t0: int, c0: float, tn: int, cn: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """The longest run of body points from the head consistent with the header, then the tail.

    Consistent: times strictly increasing and before the tail's, counters not decreasing
    and at most the tail's. Needs one counter delta per time delta, none lost. None when
    no body point beyond the head qualifies.
    """
    if t is None or v is None or len(t) != len(v) or len(t) < 2 or np.isnan(v).any():
        return None
    if t[0] != 0 or v[0] != 0:
        return None
    ts = t0 + np.cumsum(t)
    counter = _counter(c0, v)
    bad = np.zeros(len(t), dtype=bool)
    bad[1:] = (t[1:] <= 0) | (ts[1:] >= tn) | (np.diff(counter) < 0) | (counter[1:] > cn + 1e-9)
    k = int(np.argmax(bad)) if bad.any() else len(t)  # points [0, k) are consistent
    if k < 2:
        return None
    return (
        np.concatenate([ts[:k], [tn]]).astype(np.int64),
        np.concatenate([counter[:k], [cn]]),
    )


def _tolerant_parse(doc: bytes, rep: _Report) -> Any:
    """Parse JSON with empty array elements (``2,,142``) as nulls; None if hopeless."""
    fixed, n1 = _EMPTY_AFTER_COMMA.subn(b",null", doc)
    fixed, n2 = _EMPTY_AFTER_BRACKET.subn(b"[null", fixed)
    if n1 + n2:
        rep.add("empty_elements", f"{n1 + n2} empty array element(s)")
    try:
        return orjson.loads(fixed)
    except orjson.JSONDecodeError as exc:
        rep.add("bad_json", f"invalid JSON ({exc})")
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
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    if t0f != out[0] or tnf != out[2] or not (np.isfinite(out[1]) and np.isfinite(out[3])):
        return None
    cfg = h.get("cfg") if isinstance(h.get("cfg"), dict) else {}
    return out[0], out[1], out[2], out[3], cfg


def _numbers(seq: Any) -> np.ndarray | None:
    """float64 array, nan where the element was empty (null); None if not all numbers."""
    if not isinstance(seq, list) or not seq:
        return None
    try:  # the fast conversion first; it refuses null
        return np.frombuffer(struct.pack(f"{len(seq)}d", *seq), dtype=np.float64)
    except struct.error:
        pass
    try:
        arr = np.array(seq, dtype=np.float64)  # null -> nan
    except (TypeError, ValueError):
        return None
    if arr.ndim != 1 or np.isinf(arr).any():
        return None
    return arr


def _time_deltas(seq: Any, rep: _Report) -> np.ndarray | None:
    """int64 time deltas; empty elements dropped (the tail check decides if that was right)."""
    if isinstance(seq, list) and seq:
        try:  # integers: the fast conversion
            return np.frombuffer(struct.pack(f"{len(seq)}q", *seq), dtype=np.int64)
        except struct.error:
            pass
    arr = _numbers(seq)
    if arr is None:
        return None
    arr = arr[~np.isnan(arr)]
    if len(arr) == 0 or not np.array_equal(arr, np.rint(arr)):
        rep.add("bad_time", "t holds non-integers")
        return None
    return arr.astype(np.int64)


def _check_time(t: np.ndarray | None, t0: int, tn: int, rep: _Report) -> bool:
    if t is None:
        rep.add("bad_time", "t is missing or holds non-numbers")
        return False
    if t[0] != 0 or (len(t) > 1 and t[1:].min() <= 0):
        rep.add("time_not_increasing", "t deltas not strictly positive (or t[0] != 0)")
        return False
    total = int(t.sum())
    if t0 + total != tn:
        rep.add("time_sum_mismatch", f"t0+sum(t)={t0 + total} != tail {tn}")
        return False
    return True


def _lands_on_tail(v: np.ndarray, c0: float, cn: float, rep: _Report) -> bool:
    """c0 + sum(v) == cn within the meter's rounding (3 decimals per delta)."""
    if v[0] != 0:
        rep.add("counter_first_delta", f"v[0]={v[0]} (must be 0: the first point is the head)")
        return False
    total = float(v.sum())
    if abs(c0 + total - cn) <= 1e-3 * len(v) + 1e-9 * abs(cn):
        return True
    rep.add("counter_sum_mismatch", f"c0+sum(v)={c0 + total:.3f} != tail {cn:.3f}")
    return False


def _counter(c0: float, v: np.ndarray) -> np.ndarray:
    """c0 + cumsum(v) [Wh], exact for 3-decimal values: summed as integer mWh."""
    milli = v * 1000.0
    as_int = np.rint(milli)
    if np.abs(milli - as_int).max() <= 1e-3 and abs(c0 * 1000.0 - round(c0 * 1000.0)) <= 1e-3:
        return (round(c0 * 1000.0) + np.cumsum(as_int.astype(np.int64))) / 1000.0
    return c0 + np.cumsum(v)


def _pulse_rebuild(v: np.ndarray, n: int, c0: float, cn: float) -> tuple[np.ndarray, float] | None:
    """Pulse meter: every delta after the first is one pulse p; counter_i = c0 + i*p.

    Trusted only when the rebuilt last counter equals the header's tail (to 3 decimals).
    """
    if n < 2 or len(v) < 2:
        return None
    pulse = float(v[1])
    if not (pulse > 0 and np.all(v[1:] == pulse)):
        return None
    if abs(c0 + (n - 1) * pulse - cn) > 1.5e-3:
        return None
    milli = round(c0 * 1000.0) + np.arange(n, dtype=np.int64) * round(pulse * 1000.0)
    return milli / 1000.0, pulse


def _keep_certain(
    ts: np.ndarray, v: np.ndarray, lost: np.ndarray, c0: float, cn: float, cfg: dict, rep: _Report
) -> DecodedBlock:
    """Deltas lost in empty elements, at known positions (len(v) == len(t)).

    Points before the first lost delta are summed from the head; the point of the last lost
    delta and those after it are summed back from the tail. With one lost delta that is
    every point.
    """
    idx = np.flatnonzero(lost)
    first, last = int(idx[0]), int(idx[-1])
    if first == 0:
        rep.add("counter_first_delta", "v[0] is empty")
        return rep.done(
            *_head_tail(int(ts[0]), c0, int(ts[-1]), cn), cfg, "kept_head_tail", times=ts
        )
    head = _counter(c0, v[:first])
    after_milli = np.rint(v[last + 1 :] * 1000.0).astype(np.int64)
    back = round(cn * 1000.0) - int(after_milli.sum())
    tail = (back + np.concatenate([[0], np.cumsum(after_milli)])) / 1000.0
    if head[-1] > tail[0]:  # the lost deltas would sum to less than zero
        rep.add("counter_sum_mismatch", "deltas around the empty elements contradict the tail")
        return rep.done(
            *_head_tail(int(ts[0]), c0, int(ts[-1]), cn), cfg, "kept_head_tail", times=ts
        )
    keep_ts = np.concatenate([ts[:first], ts[last:]])
    counter = np.concatenate([head, tail])
    if first == last:
        rep.details.append("the lost delta follows from the tail: every point kept")
        return rep.done(keep_ts, counter, cfg, "repaired")
    rep.details.append(f"{last - first} point(s) between lost deltas dropped")
    return rep.done(keep_ts, counter, cfg, "kept_certain", times=ts)


def _head_tail(t0: int, c0: float, tn: int, cn: float) -> tuple[np.ndarray, np.ndarray]:
    if tn == t0:
        return np.array([t0], dtype=np.int64), np.array([c0], dtype=np.float64)
    return np.array([t0, tn], dtype=np.int64), np.array([c0, cn], dtype=np.float64)
