"""The dashboard's ASGI app: ``create_app(store, settings)`` wires routes, security and errors.

Nothing happens at import time; ``vde serve`` (or a test) opens the store and builds the app.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vde import __version__
from vde.errors import NotFoundError, VdeError
from vde.logs import get_logger
from vde.settings import Settings
from vde.storage.base import Store
from vde.web import api, live, pages, sharing
from vde.web.auth import LoginGuard, Sessions, secret_key
from vde.web.i18n import Translations, choose_language
from vde.web.i18n.errors import translate_detail, validation_messages
from vde.web.render import render
from vde.web.tasks import PeriodicTasks

log = get_logger(__name__)
HERE = Path(__file__).resolve().parent

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    """Pure ASGI middleware (keeps SSE streaming intact) around the whole app, error
    responses included: security headers on every response, ``Cache-Control: no-store`` on
    everything but static files (pages and API answers are private to a session), and
    redirects kept relative (Starlette's trailing-slash redirect is built from the Host
    header, which the client chooses)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = not scope.get("path", "").startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() not in _NAMES]
                headers += SECURITY_HEADERS
                if scope.get("scheme") == "https":
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                if private:
                    headers = [h for h in headers if h[0].lower() != b"cache-control"]
                    headers.append((b"cache-control", b"no-store"))
                if 300 <= message["status"] < 400:
                    headers = [_relative_location(h) for h in headers]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


_NAMES = {name for name, _ in SECURITY_HEADERS}


def _relative_location(header: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
    """A Location header as a path on this site: scheme and host dropped, and one leading
    slash only, so ``//evil.example`` cannot become a protocol-relative redirect."""
    name, value = header
    if name.lower() != b"location":
        return header
    parts = urlsplit(value.decode("latin-1"))
    path = "/" + parts.path.lstrip("/\\")
    return name, (path + (f"?{parts.query}" if parts.query else "")).encode("latin-1")


class _App(FastAPI):
    def build_middleware_stack(self) -> ASGIApp:
        # outside Starlette's ServerErrorMiddleware, so a 500 gets the headers too
        return SecurityHeaders(super().build_middleware_stack())


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _install_error_handlers(app: FastAPI) -> None:
    """One place turns errors into responses: JSON for the API, a page (or login) for HTML."""

    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = getattr(exc, "headers", None)
        # the detail in the reader's language, with a code that stays the same in every one
        code, message = translate_detail(
            request.app.state.i18n, choose_language(request), exc.status_code, exc.detail
        )
        if _is_api(request) or request.url.path == "/openapi.json":
            return JSONResponse({"detail": message, "code": code}, exc.status_code, headers=headers)
        if exc.status_code == 401:
            nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(nxt, safe='/')}", 303)
        return render(
            request,
            "error.html",
            {"status": exc.status_code, "message": message},
            status_code=exc.status_code,
            headers=headers,
        )

    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        i18n, lang = request.app.state.i18n, choose_language(request)
        # each problem as a sentence in the reader's language naming the parameter
        errors = validation_messages(i18n, lang, exc.errors())
        message = " ".join(e["msg"] for e in errors) or i18n.get(lang, "err.v.request")
        if _is_api(request):
            return JSONResponse({"detail": message, "code": "invalid", "errors": errors}, 422)
        return render(request, "error.html", {"status": 422, "message": message}, status_code=422)

    async def vde_error(request: Request, exc: VdeError) -> Response:
        status = 404 if isinstance(exc, NotFoundError) else 503
        log.warning("web_error", path=request.url.path, error=type(exc).__name__)
        message = str(exc) if status == 404 else "the database is not available; try again later"
        return await http_error(request, StarletteHTTPException(status, message))

    async def server_error(request: Request, exc: Exception) -> Response:
        # a bug: said in the reader's language, never the exception's text (it may hold data);
        # Starlette logs the exception and re-raises it after this answer
        lang = choose_language(request)
        message = request.app.state.i18n.get(lang, "error.other") + "."
        if _is_api(request):
            return JSONResponse({"detail": message, "code": "server_error"}, 500)
        return render(request, "error.html", {"status": 500, "message": message}, status_code=500)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(VdeError, vde_error)
    app.add_exception_handler(Exception, server_error)


def create_app(
    store: Store,
    settings: Settings,
    *,
    live_poll_s: float = 2.0,
    login_guard: LoginGuard | None = None,
    live_per_login: int = 4,
    live_total: int = 64,
) -> FastAPI:
    """The dashboard app over an opened store. The caller closes the store after.

    ``live_poll_s``: how often each live (SSE) connection looks for new data [s];
    ``live_per_login`` / ``live_total``: open live connections allowed per login / in all.
    """
    tasks = PeriodicTasks(store, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        tasks.start()
        try:
            yield
        finally:
            await tasks.stop()

    app = _App(
        title="vde dashboard API",
        version=__version__,
        docs_url=None,  # Swagger UI needs a CDN and inline script; the CSP forbids both
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.settings = settings
    app.state.sessions = Sessions(secret_key(store, settings))
    app.state.guard = login_guard or LoginGuard()
    app.state.i18n = Translations.load()
    app.state.live_poll_s = live_poll_s
    app.state.live_slots = live.StreamSlots(live_per_login, live_total)
    app.state.tasks = tasks
    _install_error_handlers(app)
    app.include_router(api.router)
    app.include_router(live.router)
    app.include_router(pages.router)
    app.include_router(sharing.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    return app
