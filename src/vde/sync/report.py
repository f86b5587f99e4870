"""What a sync run did: per sensor and overall; ``to_dict()`` is the ``--json`` form."""

from __future__ import annotations

from dataclasses import dataclass, field

from vde.timeutil import iso_utc


@dataclass
class SensorReport:
    """What one sync did for one sensor."""

    sensor_id: str
    ok: bool = True
    reason: str | None = None  # why it failed (never a token)
    windows: int = 0  # ranges computed (incremental/new + retries, or the manual one)
    fetched_points: int = 0  # counter points received over all windows
    points: int = 0  # new counter points (incremental/new window)
    rows: int = 0  # raw rows written
    gaps: int = 0  # new missing intervals
    filled: int = 0  # missing intervals that are complete now (or replaced)
    missing: int = 0  # missing intervals kept after this sync
    issues: int = 0  # defective blocks met (their certain points are used)
    estimated_rows: int = 0  # raw rows written with estimated power (flat over a proven span)
    estimated: int = 0  # estimated intervals kept to re-fetch (within the retry horizon)
    proven_spans: int = 0  # spans longer than gap_threshold stored from their two counters
    clock_jumps: int = 0  # backward clock jumps met (their energy spread, no spike)
    blocks_downloaded: int = 0  # tmpo blocks downloaded (the others came from the cache)

    def to_dict(self) -> dict:
        return dict(vars(self))


@dataclass
class SyncReport:
    """Outcome of one sync run; ``to_dict()`` is the ``--json`` form."""

    mode: str  # "auto" | "manual"
    now_ts: int
    config_version: int
    since: int | None = None
    until: int | None = None
    sensors: list[SensorReport] = field(default_factory=list)
    installations: dict[str, dict] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.sensors)

    @property
    def failed(self) -> list[SensorReport]:
        return [s for s in self.sensors if not s.ok]

    def summary(self) -> dict:
        return {
            "ok": self.ok,
            "sensors": len(self.sensors),
            "sensors_ok": sum(s.ok for s in self.sensors),
            "sensors_failed": len(self.failed),
            "points": sum(s.points for s in self.sensors),
            "fetched_points": sum(s.fetched_points for s in self.sensors),
            "raw_rows": sum(s.rows for s in self.sensors),
            "gaps": sum(s.gaps for s in self.sensors),
            "filled": sum(s.filled for s in self.sensors),
            "block_issues": sum(s.issues for s in self.sensors),
            "blocks_downloaded": sum(s.blocks_downloaded for s in self.sensors),
            "estimated_rows": sum(s.estimated_rows for s in self.sensors),
            "proven_spans": sum(s.proven_spans for s in self.sensors),
            "clock_jumps": sum(s.clock_jumps for s in self.sensors),
            "installations": len(self.installations),
            "power_rows": sum(i["rows"] for i in self.installations.values()),
            "elapsed_s": self.elapsed_s,
        }

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "now": iso_utc(self.now_ts),
            "since": None if self.since is None else iso_utc(self.since),
            "until": None if self.until is None else iso_utc(self.until),
            "config_version": self.config_version,
            **self.summary(),
            "timings_s": dict(self.timings),
            "sensor_reports": [s.to_dict() for s in self.sensors],
            "installation_reports": self.installations,
        }
