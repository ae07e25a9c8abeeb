"""The composition root of a hub process: builds every service from a ``HubConfig``.

Role: the one place that knows how a hub node is put together and in which order its
parts start and stop. Each part has its own builder that returns what it made with
its hooks, and nothing else reaches into ``Services``:

- the web's own stores (admins, sessions, tokens, audit, settings, data) — here;
- the link side (``ops/link_parts.py``): member links, live state, sync, live hub,
  and the SIP redirector;
- the node's services (``ops/node_services.py``): certificate, mail, node registry;
- operations (``ops/operations.py``): backups, logs, quotas, the schedule.

The web face (``dashboards.app.create_app``) receives the result; ``fedhub serve``,
``fedhub demo`` and the tests call ``create_hub_app(config)`` or
``build_services(config)``.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from starlette.applications import Starlette

from dashboards.app import create_app
from dashboards.services import HubConfig, Services
from dashboards.throttle import LoginThrottle
from ops.link_parts import build_links, build_redirect
from ops.node_services import build_node_services
from ops.operations import build_operations
from storage.admins import AdminStore, Role
from storage.api_tokens import TokenStore
from storage.audit import AuditLog
from storage.datasets import DataStore
from storage.db import Database, sqlite_url_for
from storage.federation_store import FederationStore
from storage.passwords import hash_password_async
from storage.preferences import PreferenceStore
from storage.sessions import SessionStore
from storage.settings import SettingsStore

log = logging.getLogger("fedhub")

DEFAULT_ADMIN = ("admin", "123456")
HEARTBEAT = timedelta(seconds=15)


def open_database(config: HubConfig) -> Database:
    """The node's database: ``config.db_url``, or SQLite in the data directory."""
    if config.db_url:
        return Database.open(config.db_url)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    return Database.open(sqlite_url_for(config.data_dir))


def build_services(config: HubConfig) -> Services:
    """Every service of one hub node, not started yet (the app's lifespan starts them)."""
    db = open_database(config)
    federation = FederationStore(db)
    settings = SettingsStore(db)
    data = DataStore(db)
    links = build_links(config, db, federation, data, settings)
    redirect = build_redirect(config, federation, settings)
    node = build_node_services(config, db, settings, redirect, heartbeat_interval=HEARTBEAT)
    audit = AuditLog(db)
    ops = build_operations(
        config,
        db,
        settings,
        audit,
        nodes=node.nodes,
        node_name=node.node_name,
        heartbeat=HEARTBEAT,
    )
    services = Services(
        config=config,
        db=db,
        federation=federation,
        admins=AdminStore(
            db, max_failures=config.lockout_failures, lockout=config.lockout_duration
        ),
        sessions=SessionStore(db, idle=config.session_idle, absolute=config.session_absolute),
        tokens=TokenStore(db),
        audit=audit,
        throttle=LoginThrottle(config.ip_failures_per_window, config.ip_window.total_seconds()),
        settings=settings,
        data=data,
        preferences=PreferenceStore(db),
        links=links.links,
        live=links.live,
        redirect=redirect,
        sync=links.sync,
        livehub=links.livehub,
        backups=ops.backups,
        logs=ops.logs,
        sections=ops.sections,
        restart=ops.restart,
        restores=ops.restores,
        upgrades=ops.upgrades,
        certificates=node.certificates,
        mail_settings=node.mail_settings,
        mail_transport=node.mail_transport,
        password_resets=node.password_resets,
        nodes=node.nodes,
        node_name=node.node_name,
        heartbeat_interval=HEARTBEAT,
    )

    async def first_start() -> None:
        await bootstrap(services)

    sip = ((redirect.start,), (redirect.stop,)) if redirect is not None else ((), ())
    # a restore staged through the API is applied before anything opens the database;
    # then the presence lock (a restore from the shell may be running)
    services.on_start += [
        ops.apply_pending_restore,
        ops.presence.start,
        first_start,
        *links.on_start,
        *sip[0],
        *ops.on_start,
        *node.on_start,
    ]
    services.on_stop += [*links.on_stop, *sip[1], *node.on_stop, *ops.on_stop, ops.presence.stop]
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
