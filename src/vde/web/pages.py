"""HTML pages: login, invite, the member dashboard, the administrators' page."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from vde.logs import get_logger
from vde.timeutil import local_day_of, now_ts
from vde.web import admin
from vde.web.auth import (
    Session,
    WeakPasswordError,
    check_csrf,
    check_password,
    client_ip,
    end_session,
    invite_user,
    login_attempt,
    set_password,
    start_session,
)
from vde.web.deps import (
    catalog,
    installation,
    require_admin,
    require_session,
    session_or_none,
    visible,
)
from vde.web.i18n import choose_language
from vde.web.render import render

log = get_logger(__name__)
router = APIRouter(include_in_schema=False)


def _safe_next(nxt: str | None) -> str:
    """Only same-site paths: an open redirect would make phishing links look like ours."""
    if nxt and nxt.startswith("/") and not nxt.startswith("//") and "\\" not in nxt:
        return nxt
    return "/"


def _logged_in(request: Request, user, nxt: str) -> Response:
    resp = RedirectResponse(_safe_next(nxt), 303)
    start_session(request, resp, user)
    return resp


@router.get("/")
def home(request: Request) -> Response:
    if session_or_none(request) is None:
        return RedirectResponse("/login", 303)
    items = list(visible(request))
    if items:
        return RedirectResponse(f"/i/{items[0]}", 303)
    return render(request, "empty.html")


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", {"next": _safe_next(next), "error": None})


@router.post("/login", dependencies=[Depends(check_csrf)])
def login(
    request: Request,
    login: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=4096)],
    next: Annotated[str, Form()] = "/",
) -> Response:
    user = login_attempt(request, login, password)  # throttled: 429 with Retry-After
    if user is None:
        log.info("login_failed", ip=client_ip(request))
        return render(
            request,
            "login.html",
            {"next": _safe_next(next), "error": "login.error", "login": login},
            status_code=401,
        )
    log.info("login", login=user.login)
    return _logged_in(request, user, next)


@router.post("/logout", dependencies=[Depends(check_csrf)])
def logout(request: Request) -> Response:
    resp = RedirectResponse("/login", 303)
    end_session(request, resp)
    return resp


@router.get("/invite")
def invite_page(request: Request, login: str = "", token: str = "") -> Response:
    if invite_user(request.app.state.store, login, token) is None:
        raise HTTPException(404, "this invitation link is not valid or has expired")
    return render(request, "invite.html", {"login": login, "token": token, "error": None})


@router.post("/invite", dependencies=[Depends(check_csrf)])
def invite_accept(
    request: Request,
    login: Annotated[str, Form()],
    token: Annotated[str, Form()],
    password: Annotated[str, Form(max_length=4096)],
    password2: Annotated[str, Form(max_length=4096)],
) -> Response:
    store = request.app.state.store
    if invite_user(store, login, token) is None:
        raise HTTPException(404, "this invitation link is not valid or has expired")
    error = None
    if password != password2:
        error = "invite.mismatch"
    else:
        try:
            check_password(password, login)
        except WeakPasswordError as exc:
            error = f"invite.{exc.code}"
    if error:
        ctx = {"login": login, "token": token, "error": error}
        return render(request, "invite.html", ctx, status_code=422)
    user = set_password(store, login, password)
    log.info("invite_accepted", login=login)
    return _logged_in(request, user, "/")


def _boot(request: Request, data: dict) -> Markup:
    """JSON for the page's script, safe inside a <script type="application/json"> element."""
    raw = orjson.dumps(data).decode().replace("<", "\\u003c").replace(">", "\\u003e")
    return Markup(raw.replace("&", "\\u0026"))


@router.get("/i/{installation_id}")
def dashboard(
    request: Request,
    installation_id: str,
    session: Annotated[Session, Depends(require_session)],
) -> Response:
    inst = installation(request, installation_id)
    lang = choose_language(request)
    items = [i.as_json() for i in visible(request).values()]
    boot = {
        "installation": inst.as_json(),
        "installations": items,
        "today": local_day_of(now_ts()).isoformat(),
        "lang": lang,
        "strings": request.app.state.i18n.for_js(lang),
    }
    from vde.web.neighbours import sharing_links

    sharing = sharing_links(request.app.state.store, inst, catalog(request))
    return render(
        request,
        "dashboard.html",
        {"inst": inst, "installations": items, "boot": _boot(request, boot), "sharing": sharing},
    )


def _admin_context(request: Request, invite: dict | None = None) -> dict:
    store = request.app.state.store
    sync = admin.sync_status(store)
    alerts = admin.alerts_list(store)
    return {
        "health": admin.health_summary(sync, alerts),
        "sync": sync,
        "alerts": alerts[:200],
        "config": admin.installations_config(store),
        "users": admin.users_list(store),
        "installations": [i.as_json() for i in visible(request).values()],
        "invite": invite,
    }


@router.get("/admin")
def admin_page(request: Request, session: Annotated[Session, Depends(require_admin)]) -> Response:
    return render(request, "admin.html", _admin_context(request))


@router.post("/admin/alerts/{alert_id}/ack", dependencies=[Depends(check_csrf)])
def admin_acknowledge(
    request: Request, alert_id: str, session: Annotated[Session, Depends(require_admin)]
) -> Response:
    """An administrator has seen the alert: it leaves the open count (pending/sent)."""
    if not admin.acknowledge_alert(request.app.state.store, alert_id):
        raise HTTPException(404, "no such alert")
    log.info("alert_acknowledged", alert_id=alert_id, login=session.login)
    return RedirectResponse("/admin#alerts", 303)


@router.post("/admin/users/{login}/invite", dependencies=[Depends(check_csrf)])
def admin_invite(
    request: Request, login: str, session: Annotated[Session, Depends(require_admin)]
) -> Response:
    """A one-time link with which ``login`` chooses a (new) password: an invitation, or a
    password reset for a login that has one. Built from the ``public_url`` setting."""
    from urllib.parse import urlencode

    from vde.accounts import create_invite, known_login

    store = request.app.state.store
    if not known_login(store, login):
        raise HTTPException(404, "no such login")
    token, expires = create_invite(store, login)
    settings = request.app.state.settings
    base = (settings.public_url or str(request.base_url)).rstrip("/")
    link = f"{base}/invite?{urlencode({'login': login, 'token': token})}"
    log.info("invite_created", login=login, by=session.login)
    ctx = _admin_context(request, {"login": login, "link": link, "expires_ts": expires})
    return render(request, "admin.html", ctx)
