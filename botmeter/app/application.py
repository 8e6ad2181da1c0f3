"""The Starlette application: routes, middleware and the pages for errors."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable, Mapping
from functools import lru_cache
from pathlib import Path

import anyio.to_thread
import duckdb
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from botmeter.app.assets import Assets
from botmeter.app.pages import config, metrics, sessions
from botmeter.app.published import NotPublished, Published
from botmeter.app.render import Renderer
from botmeter.app.security import FormGuard, SecurityHeadersMiddleware
from botmeter.app.state import AppState, app_state
from botmeter.app.tenancy import Access, TenancyMiddleware
from botmeter.app.view import utc_today


@lru_cache(maxsize=1)
def _assets() -> Assets:
    return Assets()  # read and gzipped once per process


def _home(request: Request) -> Response:
    query = request.url.query
    return RedirectResponse("/sessions" + (f"?{query}" if query else ""), status_code=307)


def _favicon(request: Request) -> Response:
    return RedirectResponse(_assets().url("favicon.svg"), status_code=301)


def _health(request: Request) -> Response:
    return PlainTextResponse("ok")


def _not_published(request: Request, exc: Exception) -> Response:
    state = app_state(request)
    reader = getattr(request.state, "reader", None)
    return state.renderer.page(
        request,
        "not_published.html",
        status=503,
        page="",
        title="No published data yet",
        detail=str(exc) if reader is not None and reader.is_operator else None,
    )


def _unreadable(request: Request, exc: Exception) -> Response:
    return app_state(request).renderer.page(
        request,
        "error.html",
        status=503,
        page="",
        title="The data could not be read",
        message="The published warehouse could not be read just now (it may be being "
        "replaced by a new publish): reload the page in a moment.",
    )


def _http_error(request: Request, exc: HTTPException) -> Response:
    titles = {404: "Page not found", 405: "Not allowed"}
    return app_state(request).renderer.page(
        request,
        "error.html",
        status=exc.status_code,
        page="",
        title=titles.get(exc.status_code, "Error"),
        message="There is nothing here." if exc.status_code == 404 else str(exc.detail),
    )


def _unauthorized(state: AppState) -> Callable[[Request], Response]:
    def respond(request: Request) -> Response:
        response = state.renderer.page(
            request,
            "error.html",
            status=401,
            page="",
            title="Access token needed",
            message="Open the link with your access token (…?token=…) that your botmeter "
            "operator gave you, or send it as an `Authorization: Bearer` header.",
        )
        response.headers["www-authenticate"] = 'Bearer realm="botmeter"'
        return response

    return respond


def create_app(
    published: Path,
    account: str | None = None,
    tokens: Mapping[str, str] | None = None,
    allow_edit: bool = False,
    kpi_config: Path | None = None,
    *,
    today: Callable[[], dt.date] | None = None,
    allowed_hosts: list[str] | None = None,
) -> Starlette:
    """The usage app on `published`. `account`: every page shows that account only;
    `tokens` (token -> account): each request shows its token's account; neither: an
    operator's app over every account. `kpi_config`: the KPI file (default: settings).
    `today` (tests) and `allowed_hosts` (Host header check; None: any)."""
    access = Access(account, tokens)
    assets = _assets()
    renderer = Renderer(
        {"asset": assets.url, "allow_edit": allow_edit, "access_mode": access.describe()}
    )
    state = AppState(
        published=Published(published),
        access=access,
        allow_edit=allow_edit,
        kpi_config=Path(kpi_config) if kpi_config else None,
        clock=today or utc_today,
        renderer=renderer,
        forms=FormGuard(),
    )
    routes = [
        Route("/", _home),
        Route("/sessions", sessions.overview),
        Route("/sessions/data", sessions.data),
        Route("/sessions/data.csv", sessions.data_csv),
        Route("/sessions/{session_id}/explain", sessions.explain),
        Route("/sessions/{session_id}/explain.csv", sessions.explain_csv),
        Route("/usage", metrics.usage),
        Route("/intents", metrics.intents),
        Route("/apis", metrics.apis),
        Route("/kpis", metrics.kpis),
        Route("/config", config.page, methods=["GET"]),
        Route("/config", config.submit, methods=["POST"]),
        Route("/static/{name}", assets.response),
        Route("/favicon.ico", _favicon),
        Route("/healthz", _health),
    ]
    middleware = [Middleware(SecurityHeadersMiddleware)]
    if allowed_hosts:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts))
    middleware.append(
        Middleware(TenancyMiddleware, access=access, unauthorized=_unauthorized(state))
    )

    def warm_up() -> None:
        """Compile the templates and open the file before the first reader waits for it."""
        for name in renderer.templates.env.list_templates(extensions=["html"]):
            renderer.templates.env.get_template(name)
        with contextlib.suppress(NotPublished, duckdb.Error), state.published.connect():
            pass

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(warm_up)
        yield
        state.published.close()  # the cached read-only connection

    app = Starlette(
        lifespan=lifespan,
        routes=routes,
        middleware=middleware,
        exception_handlers={
            NotPublished: _not_published,
            duckdb.Error: _unreadable,
            HTTPException: _http_error,
        },
    )
    app.state.botmeter = state
    return app
