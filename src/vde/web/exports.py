"""CSV downloads: power as shown, 8-s rows of a day, energy per bar.

French and Dutch pages get ``;`` between fields and a decimal comma (what their spreadsheet
programs open directly); English pages, or ``sep=comma``, get ``,`` and a decimal point.
Missing data is an empty cell, never 0; no cell is ``-0.0``. File names say the installation,
the kind, the period or zoomed range and the resolution, so two downloads never collide.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

import numpy as np
from fastapi.responses import Response

from vde.timeutil import BRUSSELS


def csv_dialect(lang: str, sep: str | None) -> tuple[str, str]:
    """(field separator, decimal mark) for a page language and an optional override."""
    if sep == "comma" or (sep is None and lang == "en"):
        return ",", "."
    return ";", ","


def local_iso(ts: np.ndarray) -> list[str]:
    """Brussels local ISO-8601 with offset for each ts. The offset is looked up once per
    distinct UTC hour (it only changes on the hour); numpy formats the date-times."""
    ts = np.asarray(ts, dtype=np.int64)
    if len(ts) == 0:
        return []
    hours, inverse = np.unique(ts // 3600, return_inverse=True)
    offsets = np.array(
        [
            int(datetime.fromtimestamp(int(h) * 3600, BRUSSELS).utcoffset().total_seconds())
            for h in hours
        ]
    )[inverse]
    local = np.datetime_as_string((ts + offsets).astype("datetime64[s]"), unit="s").tolist()
    suffix = {
        o: f"{'-' if o < 0 else '+'}{abs(o) // 3600:02d}:{abs(o) % 3600 // 60:02d}"
        for o in set(offsets.tolist())
    }
    return [t + suffix[o] for t, o in zip(local, offsets.tolist(), strict=True)]


def cells(a: np.ndarray, decimals: int = 1, mark: str = ".") -> list[str]:
    """Numbers as CSV cells: fixed decimals, empty where there is no data, never -0."""
    out = []
    for v in np.asarray(a, dtype=np.float64).tolist():
        if v != v:
            out.append("")
            continue
        text = f"{v:.{decimals}f}"
        if text.startswith("-") and not text.strip("-0."):
            text = text[1:]  # -0.0 is 0.0
        out.append(text if mark == "." else text.replace(".", mark))
    return out


def range_tag(start: int, end: int, period: str | None, day: str | None) -> str:
    """What a file covers: ``day-2026-06-15`` or ``20260615T0600-20260615T0900``."""
    if period and day:
        return f"{period}-{day}"
    fmt = "%Y%m%dT%H%M"
    a = datetime.fromtimestamp(start, BRUSSELS).strftime(fmt)
    b = datetime.fromtimestamp(end, BRUSSELS).strftime(fmt)
    return f"{a}-{b}"


def content_disposition(filename: str) -> str:
    """RFC 6266 attachment header: an ASCII fallback plus ``filename*`` (RFC 8187, UTF-8)
    so non-ASCII ids survive and no quote or control character reaches the header."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\;' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def csv_response(header: list[str], columns: list, filename: str, sep: str = ",") -> Response:
    body = (
        sep.join(header)
        + "\n"
        + "".join(sep.join(map(str, row)) + "\n" for row in zip(*columns, strict=True))
    )
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": content_disposition(filename)},
    )
