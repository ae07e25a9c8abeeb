"""The web face of a hub: the Starlette app over services built elsewhere.

``create_app(services)`` returns the app; its lifespan runs the services' start hooks
(``ops/hub.py`` registers migration, the first admin, member links and the SIP
redirector there), then their stop hooks and closes the database on shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from dashboards.api import api
from dashboards.errors import ApiError, error_response
from dashboards.headers import SecurityHeaders
from dashboards.jsonresp import json_response
from dashboards.live_ws import live_route
from dashboards.metrics import metrics_route
from dashboards.openapi import build as build_openapi
from dashboards.pages import page_routes
from dashboards.services import Services
from hub.version import fedhub_version

log = logging.getLogger("fedhub")

STREAMED_BODIES = frozenset({"/api/v1/upgrade"})  # the release wheel: ops/upgrade.py limits it


class BodyLimit:
    """Refuse (413) any request whose declared body is larger than the limit.

    Endpoints also count what actually arrives, so a lying Content-Length or a chunked
    body gains nothing.
    """

    def __init__(self, app: ASGIApp, limit: int, streamed: frozenset[str] = frozenset()):
        self.app = app
        self.limit = limit
        self.streamed = streamed  # paths whose endpoint streams the body and limits it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in self.streamed:
            for k, v in scope["headers"]:
                if k == b"content-length" and (not v.isdigit() or int(v) > self.limit):
                    status = 413 if v.isdigit() else 400
                    e = ApiError(
                        status,
                        "body_too_large" if status == 413 else "bad_request",
                        f"request body is larger than {self.limit} bytes"
                        if status == 413
                        else "bad Content-Length",
                        {"limit": self.limit},
                    )
                    await error_response(e)(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def create_app(services: Services) -> Starlette:
    """The app serving ``services`` (see ``ops.hub.create_hub_app`` for a whole hub)."""
    config = services.config
    openapi_doc = build_openapi(api, fedhub_version())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            for hook in services.on_start:
                await hook()
            yield
        finally:
            try:
                for hook in services.on_stop:  # each stop hook copes with a partial start
                    try:
                        await hook()
                    except Exception:
                        log.exception("stopping %s failed", getattr(hook, "__qualname__", hook))
            finally:
                try:
                    await services.audit.flush()  # counts of aggregated refusals in memory
                except Exception:
                    log.exception("writing the held audit counts failed")
                await services.db.close()

    async def healthz(request: Request) -> Response:
        return json_response({"status": "ok", "version": fedhub_version()})

    async def readyz(request: Request) -> Response:
        try:
            await services.db.ping()
            status = await services.db.migration_status()
        except Exception as e:
            log.warning("readiness check failed: %s", e)
            return json_response({"status": "unavailable", "database": "unreachable"}, status=503)
        if not status.up_to_date:
            return json_response(
                {
                    "status": "unavailable",
                    "database": "ok",
                    "migrations": {"current": status.current, "head": status.head},
                },
                status=503,
            )
        return json_response(
            {"status": "ready", "database": services.db.dialect, "migration": status.current}
        )

    async def openapi(request: Request) -> Response:
        return json_response(openapi_doc)

    async def index(request: Request) -> Response:
        """Where things are, for scripts: the API's front door (browsers get the login at /)."""
        return json_response(
            {
                "name": "fedhub",
                "version": fedhub_version(),
                "pages": "/",
                "api": "/api/v1/",
                "openapi": "/api/v1/openapi.json",
                "login": "POST /api/v1/auth/login {username, password}",
                "health": "/healthz",
                "ready": "/readyz",
            }
        )

    async def not_found(request: Request, exc: Exception) -> Response:
        return error_response(ApiError(404, "not_found", f"no route {request.url.path}"))

    async def internal_error(request: Request, exc: Exception) -> Response:
        """Whatever escapes the endpoints still answers with the JSON error body."""
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return error_response(ApiError(500, "internal_error", "internal error; see the server log"))

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return error_response(
            ApiError(405, "method_not_allowed", f"{request.method} is not allowed here")
        )

    routes = [
        Route("/api/v1/", index),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/api/v1/openapi.json", openapi),
        live_route(),
        metrics_route(),
        *api.routes(services),
        *page_routes(services),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: not_found, 405: not_allowed, Exception: internal_error},
    )
    app.state.services = services
    app.add_middleware(BodyLimit, limit=config.max_body, streamed=STREAMED_BODIES)
    app.add_middleware(SecurityHeaders, trusted_proxies=config.trusted_proxies)
    return app
