"""HTML rendering: one Jinja2 environment, the common context, language and CSRF cookies."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from vde.errors import VdeError
from vde.timeutil import BRUSSELS
from vde.web.auth import CSRF_COOKIE, cookie_args, csrf_token
from vde.web.deps import session_or_none
from vde.web.i18n import LANG_COOKIE, LANGUAGES, choose_language

HERE = Path(__file__).resolve().parent
_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def local_time(ts: int | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """UTC epoch seconds as Brussels local time ('' for None)."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, BRUSSELS).strftime(fmt)


_env.filters["local_time"] = local_time


def number(value: float | None, digits: int, lang: str) -> str:
    """A number for a page: fixed decimals with the language's decimal mark (a comma in
    French and Dutch), never -0, and "–" for no value."""
    if value is None or value != value:
        return "–"
    text = f"{value:.{digits}f}"
    if text.startswith("-") and not text.strip("-0."):
        text = text[1:]
    return text if lang == "en" else text.replace(".", ",")


def render(
    request: Request,
    template: str,
    context: dict | None = None,
    *,
    status_code: int = 200,
    headers: dict | None = None,
) -> HTMLResponse:
    """Render a page with ``t`` (translate), ``lang``, ``csrf_token`` and the session."""
    lang = choose_language(request)
    i18n = request.app.state.i18n
    token = csrf_token(request)
    session = None
    try:
        session = session_or_none(request)
    except VdeError:  # an error page must render even when the store is down
        session = None
    ctx = {
        "request": request,
        "lang": lang,
        "languages": LANGUAGES,
        "t": lambda key, **kw: i18n.get(lang, key, **kw),
        "num": lambda value, digits=1: number(value, digits, lang),
        "csrf_token": token,
        "session": session,
        "path": request.url.path,
    }
    ctx.update(context or {})
    html = _env.get_template(template).render(ctx)
    resp = HTMLResponse(html, status_code=status_code, headers=headers)
    new_cookie = getattr(request.state, "new_csrf_cookie", None)
    if new_cookie:
        resp.set_cookie(CSRF_COOKIE, new_cookie, **cookie_args(request))
    if request.query_params.get("lang") in LANGUAGES:
        resp.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, **cookie_args(request))
    return resp
