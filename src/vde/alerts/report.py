"""Alert reports for people: a plain-text table and the same table in HTML.

Both list one row per alert (day, installation, check, problem, what to do), then the
missing periods of each missing-data alert. The text table keeps every line within 100
characters: the problem and what-to-check columns wrap on words. Input is ``Alert`` records as stored, so a
report can be rebuilt later from the history.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from html import escape

from vde.models import Alert

KIND_LABELS = {"missing": "missing data", "sign": "wrong sign", "night": "night production"}
COLUMNS = ("Day", "Installation", "Check", "Problem", "What to check")
#: No line of the text email is longer than this: mail clients wrap longer ones anywhere.
WIDTH = 100
#: Narrowest "what to check" column: "PV- (sensor <32 hex>)" fits on one line.
MIN_WRAP = 46
NBSP = "\u00a0"


def _order(alerts: Sequence[Alert]) -> list[Alert]:
    return sorted(alerts, key=lambda a: (a.day, a.installation_id, a.kind))


def table_rows(alerts: Sequence[Alert]) -> list[tuple[str, str, str, str, str]]:
    """One row of cells per alert, in (day, installation, kind) order."""
    return [
        (
            a.day,
            a.installation_id,
            KIND_LABELS.get(a.kind, a.kind),
            a.summary,
            str(a.details.get("action", "")),
        )
        for a in _order(alerts)
    ]


def subject(alerts: Sequence[Alert]) -> str:
    """Email subject, e.g. 'vde alerts: 3 problems in 2 installations (2026-03-28)'."""
    n = len(alerts)
    inst = len({a.installation_id for a in alerts})
    days = sorted({a.day for a in alerts})
    span = days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}"
    return (
        f"vde alerts: {n} problem{'s' * (n != 1)} in {inst} "
        f"installation{'s' * (inst != 1)} ({span})"
    )


def _period_lines(a: Alert) -> list[str]:
    out = []
    for p in a.details.get("periods", []):
        who = ", ".join(p.get("sensors", [])) or "every sensor has raw data: power not computed yet"
        out.append(f"{p['start']}–{p['end']} ({p['duration']}): {who}")
    more = a.details.get("more_periods", 0)
    if more:
        out.append(f"… and {more} more period{'s' * (more != 1)}")
    return out


def _wrap_widths(rows: Sequence[Sequence[str]], header: Sequence[str]) -> list[int]:
    """Column widths that keep a table line within ``WIDTH``: the last two columns wrap."""
    natural = [max(len(c[i]) for c in [header, *rows]) for i in range(len(header))]
    fixed = natural[:-2]
    room = WIDTH - sum(fixed) - 2 * (len(header) - 1)
    action = min(natural[-1], max(MIN_WRAP, room * 3 // 5))
    problem = min(natural[-2], max(16, room - action))
    action = max(8, min(action, room - problem))  # ids longer than the column are split
    return [*fixed, problem, action]


def _table_lines(rows: Sequence[Sequence[str]], widths: Sequence[int]) -> list[str]:
    """Each row as one or more lines, the long cells wrapped on words in their column.

    "(sensor <id>)" never breaks inside: people copy the id to find it in the workbook.
    """
    out = []
    for r in rows:
        cells = [
            [
                line.replace(NBSP, " ")
                for line in textwrap.wrap(c.replace("(sensor ", f"(sensor{NBSP}"), w)
            ]
            or [""]
            for c, w in zip(r, widths, strict=True)
        ]
        for k in range(max(len(c) for c in cells)):
            parts = [
                (c[k] if k < len(c) else "").ljust(w) for c, w in zip(cells, widths, strict=True)
            ]
            out.append("  ".join(parts).rstrip())
    return out


def text_report(alerts: Sequence[Alert]) -> str:
    """The report as plain text: a table within 100 columns, then the missing periods.

    The day is in the subject; a report over several days heads each day's rows with it.
    """
    if not alerts:
        return "vde alerts: nothing to report.\n"
    rows = table_rows(alerts)
    header = COLUMNS[1:]
    widths = _wrap_widths([r[1:] for r in rows], header)
    several = len({r[0] for r in rows}) > 1
    out = textwrap.wrap(subject(alerts), WIDTH) + [""]
    out += _table_lines([header], widths) + ["  ".join("-" * w for w in widths)]
    day = None
    for i, r in enumerate(rows):
        if several and r[0] != day:
            out += [""] * bool(i) + [f"{r[0]}:"]
        elif i:
            out.append("")
        day = r[0]
        out += _table_lines([r[1:]], widths)
    for a in _order(alerts):
        periods = _period_lines(a)
        if periods:
            out += ["", f"Missing periods of {a.installation_id} on {a.day} (local time):"]
            for p in periods:
                out += textwrap.wrap(p, WIDTH, initial_indent="  ", subsequent_indent="    ")
    return "\n".join(out) + "\n"


def html_report(alerts: Sequence[Alert]) -> str:
    """The report as an HTML document: the same table, then the missing periods."""
    cell = 'style="border:1px solid #999;padding:4px 8px;text-align:left;vertical-align:top"'
    head = "".join(f"<th {cell}>{escape(c)}</th>" for c in COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td {cell}>{escape(c)}</td>" for c in r) + "</tr>\n"
        for r in table_rows(alerts)
    )
    parts = [
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">',
        f"<title>{escape(subject(alerts) if alerts else 'vde alerts')}</title></head>",
        '<body style="font-family:sans-serif">',
        f"<h2>{escape(subject(alerts) if alerts else 'vde alerts: nothing to report')}</h2>",
    ]
    if alerts:
        parts.append(
            f'<table style="border-collapse:collapse"><thead><tr>{head}</tr></thead>'
            f"<tbody>\n{body}</tbody></table>"
        )
    for a in _order(alerts):
        periods = _period_lines(a)
        if periods:
            parts.append(
                f"<h3>Missing periods of {escape(a.installation_id)} on {escape(a.day)} "
                "(local time)</h3><ul>"
                + "".join(f"<li>{escape(p)}</li>" for p in periods)
                + "</ul>"
            )
    parts.append("</body></html>\n")
    return "\n".join(parts)
