"""Meters: block powers -> per-second energy -> the irregular counter points they write.

Model. ``profiles.home_flows`` gives each sensor's mean power per 256-s block. Inside a
block the power follows a smooth shape ``1 + a*sin(2*pi*k*s/256 + phi)`` shared by every
sensor of the home (so the installation formulas hold at any instant) whose integral is
exactly the block mean. The energy since the meter started, ``E(t)``, is the running sum
of those per-second energies; block energies are summed once per 65536-s chunk, so any
instant is reachable without integrating the whole history at 1-s resolution.

Points. Clamps write a point every 1-30 s (counter rounded to 1 mWh); pulse meters write a
point in each second their counter crosses a multiple of the pulse (at most one pulse per
second by construction: pulse homes are capped at 2.4 kW per phase and the shape's peak is
1.35x). Points are generated per (sensor, chunk) in true time and cached.

Faults (``Faults``): a reset at R (aligned up to 256 s) starts a new rid whose counter is
``E(t) - E(R)`` with a point at R; a clock jump of S at TS stamps true times t >= TS with
t + S (a backward jump drops the points it would stamp before the meter's last stamp); an
offline window hides its points until END + DELAY; a standby fault sets the home's
inverter night draw (counted by the home's load and its PV- twin). Meter timestamps ("written") are what
blocks and the ground truth use.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np

from vde.simulator.faults import Faults
from vde.simulator.profiles import BLOCK_S, hash_u01, home_flows

if TYPE_CHECKING:
    from vde.simulator.fleet import Fleet, SimSensor

CHUNK_S = 65536
_BLOCKS_PER_CHUNK = CHUNK_S // BLOCK_S
_MAX_STEP_S = 30


def _ceil256(ts: int) -> int:
    return -(-ts // BLOCK_S) * BLOCK_S


class _LRU:
    """Byte-bounded LRU cache (values are tuples of numpy arrays or bytes)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._d: OrderedDict = OrderedDict()

    @staticmethod
    def _size(value: object) -> int:
        if isinstance(value, bytes):
            return len(value)
        if isinstance(value, tuple):
            return sum(getattr(v, "nbytes", 64) for v in value)
        return getattr(value, "nbytes", 64)

    def get(self, key: object) -> object | None:
        value = self._d.get(key)
        if value is not None:
            self._d.move_to_end(key)
        return value

    def put(self, key: object, value: object) -> None:
        if key in self._d:
            self.bytes -= self._size(self._d.pop(key))
        self._d[key] = value
        self.bytes += self._size(value)
        while self.bytes > self.max_bytes and len(self._d) > 1:
            _, old = self._d.popitem(last=False)
            self.bytes -= self._size(old)

    def clear(self) -> None:
        self._d.clear()
        self.bytes = 0


def sensor_power(flows: dict[str, np.ndarray], flow: str) -> np.ndarray:
    """Mean power of a sensor from its home's flows [W]."""
    what, _, phase = flow.partition(":")
    if what == "import":
        return np.maximum(flows[f"load_{phase}"] - flows[f"pv_{phase}"], 0.0)
    if what == "export":
        return np.maximum(flows[f"pv_{phase}"] - flows[f"load_{phase}"], 0.0)
    if what in ("pv", "standby", "ev"):
        return flows[what]
    return np.zeros_like(flows["pv"])


class Meter:
    """All meters of a fleet, with their caches. Thread-safe (one lock)."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.faults = Faults()
        self.lock = threading.RLock()
        self._home_sensors: dict[int, list[SimSensor]] = {}
        for s in fleet.sensors:
            self._home_sensors.setdefault(s.home_index, []).append(s)
        self._cum: dict[int, np.ndarray] = {}  # home -> (chunks+1, sensors) E at chunk starts
        self._flows = _LRU(64 << 20)  # (home, chunk) -> block powers, in-block shape
        self._points = _LRU(128 << 20)  # (sensor, chunk, version) -> (t, mwh, rid)
        self._version = 0  # bumped by set_faults: entries of older faults are unreachable
        self._first_chunk = fleet.start_ts // CHUNK_S
        self._standby: dict[int, float] = {}  # home -> inverter night draw [W] (fault)

    def set_faults(self, faults: Faults) -> None:
        with self.lock:
            standby = {
                self.fleet.sensor(st.sensor_id).home_index: float(st.watts)
                for st in getattr(faults, "standby", ())
            }
            if standby != self._standby:
                # the inverter's draw changes the home's energies: forget them
                self._cum.clear()
                self._flows.clear()
                self._standby = standby
            self.faults = faults
            self._version += 1
            self._points.clear()

    # --- energy ------------------------------------------------------------------------

    def _block_powers(self, home_index: int, bids: np.ndarray) -> np.ndarray:
        """(sensors of the home, len(bids)) mean powers [W]; zero before the start."""
        spec = self.fleet.home_specs[home_index]
        if home_index in self._standby:
            spec = dataclasses.replace(spec, standby_w=self._standby[home_index])
        flows = home_flows(self.fleet.seed, spec, bids)
        started = bids >= self.fleet.start_ts
        return np.stack(
            [
                np.where(started, sensor_power(flows, s.flow), 0.0)
                for s in self._home_sensors[home_index]
            ]
        )

    def _chunk_start_energy(self, s: SimSensor, k: int) -> float:
        """E at the start of chunk k [Wh since the meter started]."""
        j = k - self._first_chunk
        if j <= 0:
            return 0.0
        h = s.home_index
        cum = self._cum.get(h)
        if cum is None:
            cum = np.zeros((1, len(self._home_sensors[h])))
        while j >= len(cum):
            # Extend by at most 64 chunks at a time to bound temporary memory.
            k_from = self._first_chunk + len(cum) - 1
            k_to = min(k, k_from + 64)
            bids = np.arange(k_from * CHUNK_S, k_to * CHUNK_S, BLOCK_S, dtype=np.int64)
            p = self._block_powers(h, bids) * (BLOCK_S / 3600.0)
            per_chunk = p.reshape(len(p), -1, _BLOCKS_PER_CHUNK).sum(axis=2)
            cum = np.vstack([cum, cum[-1] + np.cumsum(per_chunk.T, axis=0)])
        self._cum[h] = cum
        return float(cum[j, self._home_sensors[h].index(s)])

    def _home_chunk(self, home_index: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Block powers (sensors, 257) [W] and the in-block shape (257, 256) of a home.

        Blocks from chunk start - 256 to chunk end; cached per (home, chunk) because every
        sensor of the home needs them.
        """
        key = (home_index, k)
        hit = self._flows.get(key)
        if hit is not None:
            return hit  # type: ignore[return-value]
        cs = k * CHUNK_S
        bids = np.arange(cs - BLOCK_S, cs + CHUNK_S, BLOCK_S, dtype=np.int64)
        p = self._block_powers(home_index, bids)
        bi = bids // BLOCK_S
        h = 70_000 + home_index
        amp = 0.35 * hash_u01(self.fleet.seed, h, bi, 1)
        freq = 1.0 + np.floor(3.0 * hash_u01(self.fleet.seed, h, bi, 2))
        phase = 2 * np.pi * hash_u01(self.fleet.seed, h, bi, 3)
        sec = np.arange(BLOCK_S) / BLOCK_S
        shape = np.sin(2 * np.pi * freq[:, None] * sec + phase[:, None])
        shape *= amp[:, None]
        shape += 1.0
        shape *= 1.0 / 3600.0  # per-second energy per W of block mean [Wh/W]
        out = (p, shape)
        self._flows.put(key, out)
        return out

    def _fine_energy(self, s: SimSensor, k: int) -> np.ndarray:
        """E at every second from chunk start - 256 to chunk end (65793 values) [Wh]."""
        p, shape = self._home_chunk(s.home_index, k)
        power = p[self._home_sensors[s.home_index].index(s)]
        e = shape * power[:, None]
        out = np.empty(e.size + 1)
        out[0] = 0.0
        np.cumsum(e.ravel(), out=out[1:])
        out += self._chunk_start_energy(s, k) - out[BLOCK_S]
        return out

    def energy_at(self, s: SimSensor, t: int) -> float:
        """E(t) [Wh since the meter started] at integer second t."""
        k = t // CHUNK_S
        return float(self._fine_energy(s, k)[BLOCK_S + t - k * CHUNK_S])

    # --- points in true time -------------------------------------------------------

    def _resets(self, s: SimSensor) -> list[int]:
        return sorted({_ceil256(r.ts) for r in self.faults.resets if r.sensor_id == s.sensor_id})

    def _chunk_points(self, s: SimSensor, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        key = (s.index, k, self._version)
        hit = self._points.get(key)
        if hit is not None:
            return hit  # type: ignore[return-value]
        cs = k * CHUNK_S
        fine = self._fine_energy(s, k)
        resets = self._resets(s)
        if s.meter == "pulse":
            t = np.arange(cs, cs + CHUNK_S, dtype=np.int64)
        else:
            rng = np.random.default_rng([self.fleet.seed, s.index, k, 7])
            steps = rng.integers(1, _MAX_STEP_S + 1, size=CHUNK_S // 12)
            while steps.sum() < CHUNK_S:
                steps = np.concatenate([steps, rng.integers(1, _MAX_STEP_S + 1, size=1024)])
            t = cs + np.concatenate([[0], np.cumsum(steps)])
            t = t[t < cs + CHUNK_S]
            inside = [r for r in resets if cs <= r < cs + CHUNK_S]
            if inside:
                t = np.union1d(t, np.asarray(inside, dtype=np.int64))
        rid_of = np.searchsorted(np.asarray(resets, dtype=np.int64), t, side="right")
        base_of_rid = np.asarray(
            [-s.init_counter_wh] + [self.energy_at(s, r) for r in resets], dtype=np.float64
        )
        base = base_of_rid[rid_of]
        idx = t - (cs - BLOCK_S)
        cur = fine[idx] - base
        if s.meter == "pulse":
            n_cur = np.floor(cur / s.pulse_wh)
            n_prev = np.floor((fine[idx - 1] - base) / s.pulse_wh)
            keep = n_cur > n_prev
            t, rid_of, mwh = (
                t[keep],
                rid_of[keep],
                (n_cur[keep] * s.pulse_wh * 1000).astype(np.int64),
            )
        else:
            mwh = np.round(cur * 1000.0).astype(np.int64)
        started = t >= self.fleet.start_ts
        out = (t[started], mwh[started], rid_of[started].astype(np.int64))
        self._points.put(key, out)
        return out

    def true_points(self, s: SimSensor, lo: int, hi: int) -> tuple[np.ndarray, ...]:
        """(t_true, mwh, rid) of points with true time in [lo, hi)."""
        parts = [self._chunk_points(s, k) for k in range(lo // CHUNK_S, (hi - 1) // CHUNK_S + 1)]
        t, mwh, rid = (np.concatenate([p[i] for p in parts]) for i in range(3))
        a, b = np.searchsorted(t, [lo, hi])
        return t[a:b], mwh[a:b], rid[a:b]

    # --- meter clock ---------------------------------------------------------------

    def _jumps(self, s: SimSensor) -> list[tuple[int, int]]:
        return sorted(
            (c.ts, c.seconds) for c in self.faults.clockjumps if c.sensor_id == s.sensor_id
        )

    def written(self, s: SimSensor, t: np.ndarray | int) -> np.ndarray | int:
        """Meter timestamp of true time t (clock jumps applied)."""
        jumps = self._jumps(s)
        if isinstance(t, np.ndarray):
            out = t.copy()
            for ts, sec in jumps:
                out += np.where(t >= ts, sec, 0)
            return out
        return t + sum(sec for ts, sec in jumps if t >= ts)

    def meter_now(self, s: SimSensor, now: int) -> int:
        return int(self.written(s, now))

    def _hidden(self, s: SimSensor, now: int) -> list[tuple[int, int]]:
        """True-time windows whose points are not uploaded yet at ``now``."""
        out = []
        for o in self.faults.offline:
            if o.sensor_id == s.sensor_id:
                a, b = o.start_ts - o.start_ts % BLOCK_S, _ceil256(o.end_ts)
                if now < b + o.upload_delay_s:
                    out.append((a, b))
        return out

    def written_points(
        self, s: SimSensor, lo: int, hi: int, now: int, *, uploaded: bool = True
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ts, mwh, rid) written before ``now`` with meter time in [lo, hi).

        ``uploaded``: leave out the points of offline windows not uploaded yet.
        """
        with self.lock:
            jumps = self._jumps(s)
            pos = sum(sec for _, sec in jumps if sec > 0)
            neg = -sum(sec for _, sec in jumps if sec < 0)
            t_lo, t_hi = max(lo - pos, self.fleet.start_ts), min(hi + neg, now)
            if t_hi <= t_lo:
                empty = np.zeros(0, dtype=np.int64)
                return empty, empty.copy(), empty.copy()
            t, mwh, rid = self.true_points(s, t_lo, t_hi)
        keep = np.ones(len(t), dtype=bool)
        for ts, sec in jumps:
            if sec < 0:
                keep &= ~((t >= ts) & (t < ts - sec))
        keep &= t < now
        if uploaded:
            for a, b in self._hidden(s, now):
                keep &= ~((t >= a) & (t < b))
        w = self.written(s, t)
        keep &= (w >= lo) & (w < hi)
        return w[keep], mwh[keep], rid[keep]

    def coverage(self, s: SimSensor, now: int) -> dict[int, list[tuple[int, int]]]:
        """rid -> sorted meter-time intervals where uploaded points exist (or may)."""
        resets = self._resets(s)
        bounds = [self.fleet.start_ts, *resets]
        cut = sorted(
            [(a, b) for a, b in self._hidden(s, now)]
            + [(ts, ts - sec) for ts, sec in self._jumps(s) if sec < 0]
        )
        splits = sorted({ts for ts, _ in self._jumps(s)})
        out: dict[int, list[tuple[int, int]]] = {}
        for rid, a in enumerate(bounds):
            b = min(bounds[rid + 1] if rid + 1 < len(bounds) else now, now)
            pieces = [(a, b)] if b > a else []
            for ca, cb in cut:
                pieces = [
                    p for x, y in pieces for p in ((x, min(y, ca)), (max(x, cb), y)) if p[1] > p[0]
                ]
            for sp in splits:
                pieces = [
                    p for x, y in pieces for p in ((x, min(y, sp)), (max(x, sp), y)) if p[1] > p[0]
                ]
            out[rid] = [
                (int(self.written(s, x)), int(self.written(s, y - 1)) + 1) for x, y in pieces
            ]
        return out

    # --- ground truth ----------------------------------------------------------------

    def truth_points(self, s: SimSensor, start: int, end: int) -> tuple[np.ndarray, ...]:
        ts, mwh, rid = self.written_points(s, start, end, self.fleet.now, uploaded=False)
        return ts, mwh / 1000.0, rid

    def energy_truth(self, s: SimSensor, start: int, end: int) -> float:
        # wide enough to find the points around both bounds, even across a clock jump
        margin = 16384 + sum(abs(sec) for _, sec in self._jumps(s))
        now = self.fleet.now
        ts, mwh, rid = self.written_points(s, start - margin, end + margin, now, uploaded=False)
        total = 0.0
        for r in np.unique(rid):
            sel = rid == r
            t, c = ts[sel], mwh[sel] / 1000.0
            lo, hi = max(start, t[0]), min(end, t[-1])
            if hi > lo:
                total += float(np.interp(hi, t, c) - np.interp(lo, t, c))
        return total
