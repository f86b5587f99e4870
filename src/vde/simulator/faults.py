"""Faults the simulator can inject, and their text form for ``vde simulator --faults``.

Two families:

* request faults, decided per request by the server: ``latency`` (seconds added to every
  request), ``burst500`` (probability of a 500/503), ``drop`` (probability the connection
  is closed without a response), ``truncate`` (probability a block's gzip body is cut),
  ``wrongtoken`` (sensors whose real token is refused with 401), ``maxinflight`` (a
  request arriving while that many are already being served gets 429, as a rate-limited
  API answers a client asking too much at once). A rate may be limited
  to some sensors with ``0.1@SID|SID``. The decision for the n-th request to a URL is a
  hash of (seed, url, n): deterministic whatever the interleaving, and a retry gets a
  fresh draw.
* meter faults, which change what the meters wrote (the ground truth follows them):
  ``defects`` (compacted blocks with the real-world defects of the protocol note),
  ``offline=SID:START:END:DELAY`` (points of [START, END) uploaded only at END+DELAY),
  ``reset=SID:TS`` (counter restarts at 0 with a new rid), ``clockjump=SID:TS:SECONDS``
  (the meter's clock jumps by SECONDS at TS).
* wiring faults, seen on real homes, which change the data or the workbook rows that
  ``Fleet.config_rows`` writes (the meters stay honest):
  ``standby=SID:W`` (the inverter of SID's home — SID is its PV or PV- sensor — draws W
  from the grid while it produces nothing; the PV- twin counts that draw and is written in
  Prod with the sign opposite to PV's, as on real healthy homes: ``P_prod = +W`` at night),
  ``pvinnetwork=INSTALLATION`` (the PV sensors of that home, or of that group's homes, are
  written in Network too, with their Prod sign, in every installation that lists them:
  the grid exchange is counted twice), ``reversed=SID`` (SID's Network, Prod and Cons
  signs are written negated everywhere).

Spec text: comma-separated ``key=value``; keys may repeat. TS/START/END are epoch seconds
or a duration ago (``6h`` = six hours before now); DELAY/SECONDS are seconds or durations
(``2h``); SECONDS may be negative. Resets and offline windows are aligned on 256-s block
boundaries (the meter acts when it closes a block).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from vde.simulator.profiles import hash_u01
from vde.timeutil import parse_duration


@dataclass(frozen=True)
class Offline:
    sensor_id: str
    start_ts: int
    end_ts: int
    upload_delay_s: int


@dataclass(frozen=True)
class Reset:
    sensor_id: str
    ts: int


@dataclass(frozen=True)
class ClockJump:
    sensor_id: str
    ts: int
    seconds: int


@dataclass(frozen=True)
class Standby:
    sensor_id: str  # the PV or PV- sensor of the home whose inverter draws
    watts: float


@dataclass(frozen=True)
class Faults:
    """What goes wrong. The default is a healthy API."""

    latency: float = 0.0  # seconds added to each request
    burst500: float = 0.0  # probability of a 500/503 answer
    drop: float = 0.0  # probability of a connection closed without answer
    truncate: float = 0.0  # probability of a truncated gzip block
    max_inflight: int = 0  # requests served at once before 429 (0 = no limit)
    request_sensors: frozenset[str] | None = None  # None = every sensor
    wrongtoken: frozenset[str] = frozenset()  # sensor ids, or {"all"}
    defects: frozenset[str] = frozenset()  # sensor ids, or {"all"}
    defect_rate: float = 1.0  # share of compacted blocks that are defective
    offline: tuple[Offline, ...] = ()
    resets: tuple[Reset, ...] = ()
    clockjumps: tuple[ClockJump, ...] = ()
    standby: tuple[Standby, ...] = ()
    pvinnetwork: frozenset[str] = frozenset()  # installation ids
    reversed: frozenset[str] = frozenset()  # sensor ids
    seed: int = 0

    # --- queries used by the server and the meter -----------------------------------

    def applies_to(self, sensor_id: str | None) -> bool:
        return self.request_sensors is None or sensor_id in self.request_sensors

    def draw(self, what: str, url: str, n: int) -> float:
        """Deterministic uniform draw for the n-th request to ``url``."""
        # crc32, not hash(): str hashes are salted per process.
        return float(hash_u01(self.seed, zlib.crc32(f"{what}|{url}".encode()), n)[0])

    def token_refused(self, sensor_id: str) -> bool:
        return "all" in self.wrongtoken or sensor_id in self.wrongtoken

    def defective(self, sensor_id: str) -> bool:
        return "all" in self.defects or sensor_id in self.defects

    def meter_key(self, sensor_id: str) -> tuple:
        """Everything that changes what a sensor's meter wrote (cache key part)."""
        return (
            tuple(o for o in self.offline if o.sensor_id == sensor_id),
            tuple(r for r in self.resets if r.sensor_id == sensor_id),
            tuple(c for c in self.clockjumps if c.sensor_id == sensor_id),
            self.standby,  # a draw changes every sensor of its home; names only PV sensors
        )

    # --- text form -----------------------------------------------------------------

    @classmethod
    def parse(cls, spec: str, *, now: int, seed: int = 0) -> Faults:
        """Parse a ``--faults`` spec (see the module docstring). Raises ValueError."""
        kw: dict = {"seed": seed}
        offline: list[Offline] = []
        resets: list[Reset] = []
        jumps: list[ClockJump] = []
        standby: list[Standby] = []
        pvnet: set[str] = set()
        rev: set[str] = set()
        for item in filter(None, (p.strip() for p in spec.split(","))):
            key, sep, value = item.partition("=")
            key = key.strip().lower()
            if not sep:
                raise ValueError(f"fault {item!r}: expected key=value")
            if key in ("latency", "burst500", "drop", "truncate", "defectrate"):
                rate, _, only = value.partition("@")
                kw["defect_rate" if key == "defectrate" else key] = float(rate)
                if only:
                    kw["request_sensors"] = frozenset(only.split("|"))
            elif key == "maxinflight":
                try:
                    kw["max_inflight"] = int(value)
                except ValueError:
                    raise ValueError(f"fault {item!r}: N must be a whole number") from None
                if kw["max_inflight"] < 0:
                    raise ValueError(f"fault {item!r}: N must be 0 (no limit) or more")
            elif key in ("wrongtoken", "defects"):
                kw[key] = frozenset(value.split("|"))
            elif key == "offline":
                sid, a, b, d = _fields(value, 4, item)
                offline.append(Offline(sid, _instant(a, now), _instant(b, now), _seconds(d)))
            elif key == "reset":
                sid, ts = _fields(value, 2, item)
                resets.append(Reset(sid, _instant(ts, now)))
            elif key == "clockjump":
                sid, ts, s = _fields(value, 3, item)
                jumps.append(ClockJump(sid, _instant(ts, now), _seconds(s)))
            elif key == "standby":
                sid, w = _fields(value, 2, item)
                try:
                    watts = float(w)
                except ValueError:
                    raise ValueError(f"fault {item!r}: W must be a number of watts") from None
                if not 0 <= watts <= 5000:
                    raise ValueError(f"fault {item!r}: W must be between 0 and 5000 watts")
                standby.append(Standby(sid.strip(), watts))
            elif key in ("pvinnetwork", "reversed") and not value.strip():
                raise ValueError(f"fault {item!r}: name an installation or a sensor id")
            elif key == "pvinnetwork":
                pvnet.add(value.strip())
            elif key == "reversed":
                rev.add(value.strip())
            else:
                raise ValueError(f"unknown fault {key!r}")
        return cls(
            **kw,
            offline=tuple(offline),
            resets=tuple(resets),
            clockjumps=tuple(jumps),
            standby=tuple(standby),
            pvinnetwork=frozenset(pvnet),
            reversed=frozenset(rev),
        )


def _fields(value: str, n: int, item: str) -> list[str]:
    parts = value.split(":")
    if len(parts) != n:
        raise ValueError(f"fault {item!r}: expected {n} fields separated by ':'")
    return parts


def _instant(text: str, now: int) -> int:
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    return now - parse_duration(text)


def _seconds(text: str) -> int:
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    sign = -1 if text.startswith("-") else 1
    return sign * parse_duration(text.lstrip("-"))
