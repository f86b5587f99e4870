"""Report formatting: the text table lines up, the HTML table escapes what it shows."""

from __future__ import annotations

import re
from html import unescape

from hypothesis import given, settings
from hypothesis import strategies as st

from vde.alerts.report import html_report, subject, text_report
from vde.models import Alert


def _alert(kind: str, inst: str, day: str, summary: str, action: str = "", **details) -> Alert:
    return Alert(
        f"{kind}:{inst}:{day}", kind, inst, day, summary, {"action": action, **details}, "fp"
    )


def test_text_table_columns_line_up_and_rows_are_ordered():
    alerts = [
        _alert("sign", "CDB010", "2026-03-28", "production above +10 W", "flip PV"),
        _alert("missing", "CDB002", "2026-03-28", "4.2 % without data", "no raw from Mains"),
        _alert("night", "CDBA01", "2026-03-27", "production at night"),
    ]
    text = text_report(alerts)
    lines = text.splitlines()
    assert (
        lines[0]
        == subject(alerts)
        == ("vde alerts: 3 problems in 3 installations (2026-03-27 to 2026-03-28)")
    )
    header, rule, *rows = [line for line in lines[2:] if line][:7]
    assert header.split() == ["Installation", "Check", "Problem", "What", "to", "check"]
    # two days: each day heads its rows, in (day, installation) order
    assert [r.split()[0] for r in rows] == [
        "2026-03-27:",
        "CDBA01",
        "2026-03-28:",
        "CDB002",
        "CDB010",
    ]
    rows = [r for r in rows if not r.endswith(":")]
    col = header.index("Check")
    assert all(r[col - 2 : col] == "  " and r[col] != " " for r in rows)
    assert set(rule.replace(" ", "")) == {"-"}


def test_nothing_to_report():
    assert text_report([]) == "vde alerts: nothing to report.\n"
    assert "nothing to report" in html_report([]) and "<table" not in html_report([])


def test_one_problem_subject_is_singular():
    assert subject([_alert("missing", "H1", "2026-03-28", "x")]) == (
        "vde alerts: 1 problem in 1 installation (2026-03-28)"
    )


def test_missing_periods_listed_and_counted():
    periods = [
        {
            "start": "02:00:00",
            "end": "03:00:00",
            "duration": "1 h",
            "sensors": ["Mains (sensor a)"],
        },
        {"start": "05:00:00", "end": "05:00:16", "duration": "16 s", "sensors": []},
    ]
    a = _alert("missing", "H1", "2026-03-28", "x", periods=periods, more_periods=3)
    text = text_report([a])
    assert "  02:00:00–03:00:00 (1 h): Mains (sensor a)" in text
    assert "  05:00:00–05:00:16 (16 s): every sensor has raw data: power not computed yet" in text
    assert "… and 3 more periods" in text
    assert "<li>02:00:00–03:00:00 (1 h): Mains (sensor a)</li>" in html_report([a])


@given(st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=5))
def test_html_escapes_every_cell(summaries):
    alerts = [_alert("sign", f"I{i}", "2026-03-28", s, s) for i, s in enumerate(summaries)]
    html = html_report(alerts)
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)
    assert len(rows) == len(alerts)
    for row, a in zip(rows, sorted(alerts, key=lambda a: a.installation_id), strict=True):
        cells = [unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]
        assert cells == [a.day, a.installation_id, "wrong sign", a.summary, a.summary]
        assert "<" not in "".join(re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S))


_WORDS = st.sampled_from(
    ["production", "above", "+30 W", "during", "7 h 50 min", "blank", "Network", "of", "PV-",
     "CDB003 / PV", "(+1 → -1);", "flip the sign of", "kWh", "—", "x" * 20]
)  # fmt: skip
_IDS = st.text("0123456789abcdef", min_size=32, max_size=32)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["sign", "night", "missing"]),
            st.sampled_from(["CDB001", "CDBA01", "H1"]),
            st.sampled_from(["2026-03-27", "2026-03-28"]),
            st.lists(_WORDS, min_size=1, max_size=40),
            st.lists(st.one_of(_WORDS, _IDS.map(lambda s: f"PV (sensor {s})")), max_size=40),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_text_email_lines_fit_100_columns_and_keep_sensor_ids_whole(specs):
    """Property: whatever the alerts say, no line of the text email is over 100 characters,
    every word of every cell is still there, and a sensor id is never cut."""
    alerts = [
        _alert(kind, inst, day, " ".join(summary), " ".join(action))
        for kind, inst, day, summary, action in specs
    ]
    text = text_report(alerts)
    assert max(len(line) for line in text.splitlines()) <= 100
    words = text.split()
    for a in alerts:
        for w in (a.summary + " " + a.details["action"]).split():
            assert w in words
        for sid in re.findall(r"\(sensor ([0-9a-f]{32})\)", a.details["action"]):
            assert f"(sensor {sid})" in text
