"""The composition root: builds every service from the config and wires the web app.

``create_app(config)`` returns the Starlette app; its lifespan opens the database,
applies migrations, creates the first admin (``admin`` / ``123456``, which must be
changed before anything else) and closes everything on shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from controllers.config import LinkSettings
from controllers.manager import LinkManager
from dashboards.api import api
from dashboards.errors import ApiError, error_response
from dashboards.headers import SecurityHeaders
from dashboards.jsonresp import json_response
from dashboards.links import LinkSupervisor
from dashboards.openapi import build as build_openapi
from dashboards.redirect import RedirectSupervisor
from dashboards.services import HubConfig, Services
from dashboards.throttle import LoginThrottle
from storage.admins import AdminStore, Role
from storage.api_tokens import TokenStore
from storage.audit import AuditLog
from storage.db import Database, sqlite_url_for
from storage.federation_store import FederationStore
from storage.lease import Lease
from storage.passwords import hash_password_async
from storage.sessions import SessionStore
from storage.settings import SettingsStore

log = logging.getLogger("fedhub")

DEFAULT_ADMIN = ("admin", "123456")


def fedhub_version() -> str:
    try:
        return version("fedhub")
    except PackageNotFoundError:  # running from a source tree
        return "0.0.0+source"


def _str_or_none(path: object) -> str | None:
    return None if path is None else str(path)


def build_services(config: HubConfig) -> Services:
    if config.db_url:
        url = config.db_url
    else:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        url = sqlite_url_for(config.data_dir)
    db = Database.open(url)
    federation = FederationStore(db)
    links = (
        LinkSupervisor(
            federation,
            LinkManager(settings=LinkSettings(ca_file=_str_or_none(config.link_ca_file))),
            Lease(db, "member-links"),
        )
        if config.links
        else None
    )
    settings = SettingsStore(db)
    redirect = None
    if config.sip:
        overrides = config.sip_overrides
        if overrides.cert_dir is None:
            overrides = replace(overrides, cert_dir=config.data_dir / "certs")
        redirect = RedirectSupervisor(federation, settings, overrides)
    return Services(
        config=config,
        db=db,
        federation=federation,
        admins=AdminStore(
            db, max_failures=config.lockout_failures, lockout=config.lockout_duration
        ),
        sessions=SessionStore(db, idle=config.session_idle, absolute=config.session_absolute),
        tokens=TokenStore(db),
        audit=AuditLog(db),
        throttle=LoginThrottle(config.ip_failures_per_window, config.ip_window.total_seconds()),
        settings=settings,
        links=links,
        redirect=redirect,
    )


async def bootstrap(services: Services) -> None:
    """Migrate, then create the default admin on an empty database."""
    await services.db.upgrade()
    if await services.admins.count() == 0:
        name, password = DEFAULT_ADMIN
        await services.admins.create(
            name,
            await hash_password_async(password),
            Role.ADMIN,
            None,
            password_change_required=True,
        )
        await services.audit.record(action="admin.bootstrap", result="ok", target=f"admin:{name}")
        log.warning(
            "created the default admin %r; its password must be changed at first login", name
        )


class BodyLimit:
    """Refuse (413) any request whose declared body is larger than the limit.

    Endpoints also count what actually arrives, so a lying Content-Length or a chunked
    body gains nothing.
    """

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
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


def create_app(config: HubConfig | None = None, services: Services | None = None) -> Starlette:
    config = config or HubConfig()
    services = services or build_services(config)
    openapi_doc = build_openapi(api, fedhub_version())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await bootstrap(services)
        if services.links is not None:
            await services.links.start()
        if services.redirect is not None:
            await services.redirect.start()
        try:
            yield
        finally:
            if services.redirect is not None:
                await services.redirect.stop()
            if services.links is not None:
                await services.links.stop()
            await services.audit.flush()  # counts of aggregated refusals held in memory
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
        """Where things are: the hub answers JSON only, so this is its front door."""
        return json_response(
            {
                "name": "fedhub",
                "version": fedhub_version(),
                "api": "/api/v1/",
                "openapi": "/api/v1/openapi.json",
                "login": "POST /api/v1/auth/login {username, password}",
                "health": "/healthz",
                "ready": "/readyz",
            }
        )

    async def not_found(request: Request, exc: Exception) -> Response:
        return error_response(ApiError(404, "not_found", f"no route {request.url.path}"))

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return error_response(
            ApiError(405, "method_not_allowed", f"{request.method} is not allowed here")
        )

    routes = [
        Route("/", index),
        Route("/api/v1/", index),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/api/v1/openapi.json", openapi),
        *api.routes(services),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: not_found, 405: not_allowed},
    )
    app.state.services = services
    app.add_middleware(BodyLimit, limit=config.max_body)
    app.add_middleware(SecurityHeaders, trusted_proxies=config.trusted_proxies)
    return app
