"""The composition root of a hub process: builds every service from a ``HubConfig``.

Role: the one place that knows how a hub node is put together — the database, the
stores, the member links (``ops.links``) and the SIP redirector (``ops.redirect``) —
and in which order they start and stop. The web face (``dashboards.app.create_app``)
receives the result; ``fedhub serve``, ``fedhub demo`` and the tests call
``create_hub_app(config)`` or ``build_services(config)``.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from starlette.applications import Starlette

from controllers.config import LinkSettings
from controllers.manager import LinkManager
from dashboards.app import create_app
from dashboards.services import HubConfig, Services
from dashboards.throttle import LoginThrottle
from hub.live import LiveState
from ops.links import LinkSupervisor
from ops.operations import attach
from ops.redirect import RedirectSupervisor
from storage.admins import AdminStore, Role
from storage.api_tokens import TokenStore
from storage.audit import AuditLog
from storage.db import Database, sqlite_url_for
from storage.federation_store import FederationStore
from storage.lease import Lease
from storage.passwords import hash_password_async
from storage.preferences import PreferenceStore
from storage.sessions import SessionStore
from storage.settings import SettingsStore

log = logging.getLogger("fedhub")

DEFAULT_ADMIN = ("admin", "123456")


def _str_or_none(path: object) -> str | None:
    return None if path is None else str(path)


def build_services(config: HubConfig) -> Services:
    """Every service of one hub node, not started yet (the app's lifespan starts them)."""
    if config.db_url:
        url = config.db_url
    else:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        url = sqlite_url_for(config.data_dir)
    db = Database.open(url)
    federation = FederationStore(db)
    live = LiveState() if config.links else None  # rules: set by the supervisor's refresh
    links = (
        LinkSupervisor(
            federation,
            LinkManager(
                live=live,
                settings=LinkSettings(
                    ca_file=_str_or_none(config.link_ca_file),
                    allowed_networks=config.link_networks,
                ),
            ),
            Lease(db, "member-links"),
            live=live,
        )
        if live is not None
        else None
    )
    settings = SettingsStore(db)
    redirect = None
    if config.sip:
        overrides = config.sip_overrides
        if overrides.cert_dir is None:
            overrides = replace(overrides, cert_dir=config.data_dir / "certs")
        redirect = RedirectSupervisor(federation, settings, overrides)
    services = Services(
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
        preferences=PreferenceStore(db),
        links=links,
        live=live,
        redirect=redirect,
    )

    async def first_start() -> None:
        await bootstrap(services)

    services.on_start.append(first_start)
    if links is not None:
        services.on_start.append(links.start)
    if redirect is not None:
        services.on_start.append(redirect.start)
        services.on_stop.append(redirect.stop)
    if links is not None:
        services.on_stop.append(links.stop)
    attach(services)  # backups, logs, quotas, the schedule, the presence lock
    return services


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


def create_hub_app(config: HubConfig | None = None) -> Starlette:
    """The whole hub as an ASGI app: ``create_app(build_services(config))``."""
    return create_app(build_services(config or HubConfig()))
