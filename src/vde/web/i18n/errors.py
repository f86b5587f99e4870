"""Error details in the reader's language: every HTTP error and validation (422) message the
web layer gives, in French, Dutch or English, with a stable machine-readable code.

Routes raise ``HTTPException`` with an English detail (what logs and tests of the raising
code read); the app's error handlers pass it through :func:`translate_detail`, which knows
every detail the web layer raises (``tests/web/test_errors_i18n.py`` checks that by reading
the source) and gives its code and its text in the request's language. A detail it does not
know is replaced by the status's own title, never shown in English on a French page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from vde.web.i18n import Translations

#: code -> the English detail it stands for; named groups become the text's parameters.
DETAILS: dict[str, str] = {
    "login_required": r"log in first",
    "admin_only": r"administrators only",
    "no_installation": r"no such installation",
    "not_found": r"Not Found",
    "method_not_allowed": r"Method Not Allowed",
    "no_alert": r"no such alert",
    "no_login": r"no such login",
    "invite_invalid": r"this invitation link is not valid or has expired",
    "not_a_community": r"not a community",
    "not_a_home": r"not a home",
    "not_a_group": r"(?P<id>.+) is not a group with homes to compare with",
    "day_out_of_range": r"day out of range: (?P<day>[-0-9]+)",
    "span_out_of_range": r"date out of range: use a date between 1900-01-01 and 2199-12-31",
    "date_out_of_range": r"date out of range: (?P<day>[-0-9]+)",
    "instant_out_of_range": r"'(?P<text>.*)' is out of range: use a date between "
    r"1900-01-01 and 2199-12-31",
    "bad_instant": r"not a date, time or duration: '(?P<text>.*)' \(use e\.g\. .*\)",
    "range_both": r"give both start and end, or period and date",
    "range_order": r"end must be after start",
    "range_too_long": r"range too long \(at most 8 years\)",
    "month_format": r"month must be YYYY-MM",
    "month_range": r"month must be YYYY-MM between 1971 and 9998",
    "cross_site": r"cross-site request refused \((?P<header>Origin|Referer) is another site\)",
    "csrf": r"CSRF token missing or wrong; reload the page and try again",
    "live_per_login": r"too many live connections \(at most (?P<n>\d+) per login\); "
    r"close other dashboard tabs",
    "live_total": r"too many live connections",
    "login_throttled": r"too many failed logins; try again later",
    "login_busy": r"the server is busy checking other logins; try again",
    "store_down": r"the database is not available; try again later",
}
_PATTERNS = [(code, re.compile(rx, re.DOTALL)) for code, rx in DETAILS.items()]

#: Titles of statuses, for details nobody foresaw.
TITLED = (403, 404, 422, 429)
#: Longest piece of a user's input quoted back in a message [characters].
QUOTE_MAX = 40


def match_detail(detail: object) -> tuple[str, dict[str, str]] | None:
    """(code, parameters) of a known English detail, None for an unknown one."""
    if not isinstance(detail, str):
        return None
    for code, rx in _PATTERNS:
        m = rx.fullmatch(detail)
        if m:
            return code, {k: _quote(v) for k, v in m.groupdict().items()}
    return None


def translate_detail(tr: Translations, lang: str, status: int, detail: object) -> tuple[str, str]:
    """(code, text in ``lang``) of an HTTP error's detail."""
    known = match_detail(detail)
    if known is None:
        return "error", _title(tr, lang, status)
    code, params = known
    return code, tr.get(lang, f"err.{code}", **params)


def _title(tr: Translations, lang: str, status: int) -> str:
    return tr.get(lang, f"error.{status}" if status in TITLED else "error.other") + "."


def _quote(value: object) -> str:
    text = str(value)
    return text if len(text) <= QUOTE_MAX else text[: QUOTE_MAX - 1] + "…"


# --- validation (422) ---------------------------------------------------------------------------

_DATE_TYPES = ("date_parsing", "date_from_datetime_parsing", "date_from_datetime_inexact")
_NUMBER_TYPES = ("int_parsing", "float_parsing", "int_from_float", "decimal_parsing")


def validation_messages(tr: Translations, lang: str, errors: Iterable[dict]) -> list[dict]:
    """One entry per pydantic error: where (``loc``), the error ``type`` (machine-readable)
    and ``msg``, a sentence in ``lang`` naming the parameter and what to write instead.

    A value the user typed is quoted back only for URL parameters (query, path): a form's
    fields may be passwords."""
    out = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ())]
        where = loc[0] if loc else ""
        field = ".".join(p for p in loc if p not in ("query", "path", "body", "form")) or "?"
        kind = e.get("type", "")
        ctx = e.get("ctx") or {}
        quoted = where in ("query", "path") and isinstance(e.get("input"), str | int | float)
        value = _quote(e.get("input")) if quoted else ""
        if kind == "missing":
            msg = tr.get(lang, "err.v.missing", field=field)
        elif kind == "literal_error" and quoted:
            choices = ", ".join(re.findall(r"'([^']*)'", str(ctx.get("expected", ""))))
            msg = tr.get(lang, "err.v.choice", field=field, value=value, choices=choices)
        elif kind in _DATE_TYPES and quoted:
            msg = tr.get(lang, "err.v.date", field=field, value=value)
        elif kind in _NUMBER_TYPES and quoted:
            msg = tr.get(lang, "err.v.number", field=field, value=value)
        elif kind == "string_too_long":
            msg = tr.get(lang, "err.v.too_long", field=field, n=ctx.get("max_length", "?"))
        else:
            msg = tr.get(lang, "err.v.invalid", field=field)
        out.append({"loc": loc, "type": kind, "msg": msg})
    return out
