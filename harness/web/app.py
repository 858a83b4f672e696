"""The web application: console pages, JSON API, static files, security headers, body limit."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from harness.publish.settings import PublishSettings
from harness.publish.store import Store
from harness.web.api import api_routes, error_response
from harness.web.config import WebConfig
from harness.web.context import STATIC, WebContext
from harness.web.create import create_routes
from harness.web.editor import editor_routes
from harness.web.files import file_routes
from harness.web.limits import BodyLimit
from harness.web.pages import page_routes


def create_app(store: Store, settings: PublishSettings, config: WebConfig) -> Starlette:
    """The console and API over ``store``; the caller runs the pipeline's worker (if any)."""
    ctx = WebContext(store, settings, config)

    async def not_found(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            return error_response(404, "NotFound", "no such resource")
        return ctx.render(
            "error.html", request, 404, title="Not found", message="There is no such page."
        )

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return error_response(405, "MethodNotAllowed", "method not allowed")

    app = Starlette(
        routes=[
            *create_routes(ctx),  # /offers/new before /offers/{offer_id}
            *page_routes(ctx),
            *api_routes(ctx),
            *file_routes(ctx),
            *editor_routes(ctx),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[Middleware(BodyLimit, limit=config.max_body_bytes)],
        exception_handlers={404: not_found, 405: not_allowed},
    )
    app.state.context = ctx
    return app
