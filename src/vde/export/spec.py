"""What an export is: installations, window, resolution, format, and its file periods.

Files hold one installation each and one local (Europe/Brussels) day at 8 s and 1 min,
one local month at 15 min and coarser. A window that cuts a period short gives a file
named by its exact local range, so two exports of adjacent windows never share a name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from vde.errors import ExportError
from vde.timeutil import BRUSSELS

#: resolution name -> seconds
RESOLUTIONS: dict[str, int] = {"8s": 8, "1m": 60, "15m": 900, "1h": 3600, "1d": 86400}
FORMATS: tuple[str, ...] = ("csv", "parquet")
#: resolutions whose files hold a month (coarser data: a day file would be a few rows)
MONTHLY_FROM_S = 900


def resolution_name(seconds: int) -> str:
    return {v: k for k, v in RESOLUTIONS.items()}[seconds]


@dataclass(frozen=True)
class ExportSpec:
    """One export. ``start``/``end`` [UTC epoch s] are the window, half-open."""

    installations: tuple[str, ...]
    start: int
    end: int
    fmt: str = "csv"
    resolution_s: int = 8
    raw: bool = False

    def __post_init__(self) -> None:
        if self.fmt not in FORMATS:
            raise ExportError(f"unknown format {self.fmt!r}: use csv or parquet")
        if self.resolution_s not in RESOLUTIONS.values():
            raise ExportError(
                f"unknown resolution {self.resolution_s} s: use {', '.join(RESOLUTIONS)}"
            )
        if self.raw and self.resolution_s != 8:
            raise ExportError("--raw exports the sensors' 8-s power: use --resolution 8s")
        if self.end <= self.start:
            raise ExportError("the window is empty: --until must be after --since")

    @property
    def kind(self) -> str:
        return "raw" if self.raw else "power"

    def variant(self) -> str:
        """What distinguishes two exports to the same place: format, resolution, kind."""
        return f"{self.fmt}/{resolution_name(self.resolution_s)}/{self.kind}"


@dataclass(frozen=True)
class FilePeriod:
    """The part of one file period inside the window: [start, end) [UTC epoch s]."""

    start: int
    end: int
    label: str  # 2026-06-15, 2026-06, or the local range when the window cuts the period

    def filename(self, installation_id: str, spec: ExportSpec) -> str:
        raw = "_raw" if spec.raw else ""
        res = resolution_name(spec.resolution_s)
        return f"{installation_id}_{self.label}_{res}{raw}.{spec.fmt}"


def _local_midnight(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=BRUSSELS).timestamp())


def _next(d: date, monthly: bool) -> date:
    if monthly:
        return date(d.year + d.month // 12, d.month % 12 + 1, 1)
    return date.fromordinal(d.toordinal() + 1)


def _tag(ts: int) -> str:
    return datetime.fromtimestamp(ts, BRUSSELS).strftime("%Y%m%dT%H%M")


def file_periods(start: int, end: int, resolution_s: int) -> list[FilePeriod]:
    """Local days (or months) that [start, end) touches, each cut to the window."""
    monthly = resolution_s >= MONTHLY_FROM_S
    d = datetime.fromtimestamp(start, BRUSSELS).date()
    d = d.replace(day=1) if monthly else d
    out = []
    while True:
        p0, nxt = _local_midnight(d), _next(d, monthly)
        p1 = _local_midnight(nxt)
        if p0 >= end:
            break
        a, b = max(p0, start), min(p1, end)
        if b > a:
            if (a, b) == (p0, p1):
                label = d.strftime("%Y-%m") if monthly else d.isoformat()
            else:
                label = f"{_tag(a)}-{_tag(b)}"
            out.append(FilePeriod(a, b, label))
        d = nxt
    return out
