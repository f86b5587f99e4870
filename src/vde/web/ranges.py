"""What every data route shares: the JSON response (NaN becomes null) and the time range
asked for (``period`` + ``date``, or ``start`` + ``end``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Literal

import orjson
from fastapi import Depends, HTTPException, Query
from fastapi.responses import Response

from vde.timeutil import check_span, local_day_of, now_ts, parse_instant
from vde.web.series import MAX_RANGE_S, period_bounds


class JSON(Response):
    """orjson with numpy arrays; NaN becomes null (missing data stays missing)."""

    media_type = "application/json"

    def render(self, content: object) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


@dataclass(frozen=True)
class Range:
    start: int
    end: int
    period: str | None  # day/week/month/year, None for an explicit start/end
    day: date | None


Period = Literal["day", "week", "month", "year"]


async def time_range(
    period: Annotated[Period | None, Query(description="day, week, month or year (local)")] = None,
    date_: Annotated[
        date | None, Query(alias="date", description="a day of the period, YYYY-MM-DD (today)")
    ] = None,
    start: Annotated[
        str | None, Query(description="start instant: epoch s, ISO date/time (local if naive)")
    ] = None,
    end: Annotated[str | None, Query(description="end instant (excluded)")] = None,
) -> Range:
    """The range asked for: ``period`` + ``date`` (local calendar), or ``start`` + ``end``.

    ``async`` although it does no I/O: FastAPI then runs it inline instead of in a thread."""
    if start is not None or end is not None:
        if start is None or end is None or period is not None:
            raise HTTPException(422, "give both start and end, or period and date")
        try:
            s, e = parse_instant(start), parse_instant(end)
            check_span(min(s, e), max(s, e))
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        if e <= s:
            raise HTTPException(422, "end must be after start")
        if e - s > MAX_RANGE_S:
            raise HTTPException(422, "range too long (at most 8 years)")
        return Range(s, e, None, None)
    day = date_ or local_day_of(now_ts())
    p = period or "day"
    try:
        s, e = period_bounds(p, day)
        check_span(s, e)
    except (ValueError, OverflowError):
        raise HTTPException(422, f"date out of range: {day.isoformat()}") from None
    return Range(s, e, p, day)


RangeDep = Annotated[Range, Depends(time_range)]
