"""The composition root of a hub process: builds every service from a ``HubConfig``.

Role: the one place that knows how a hub node is put together — the database, the
stores, the member links (``ops.links``) and the SIP redirector (``ops.redirect``) —
and in which order they start and stop. The web face (``dashboards.app.create_app``)
receives the result; ``fedhub serve``, ``fedhub demo`` and the tests call
``create_hub_app(config)`` or ``build_services(config)``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

from starlette.applications import Starlette

from controllers.config import LinkSettings
from controllers.manager import LinkManager
from controllers.messages import SyncAck
from dashboards.app import create_app
from dashboards.livehub import LiveHub
from dashboards.services import HubConfig, Services
from dashboards.throttle import LoginThrottle
from hub.broker import InMemoryBroker
from hub.live import LiveState
from ops.links import LinkSupervisor
from ops.operations import attach
from ops.redirect import RedirectSupervisor
from ops.sync import LinkSyncLinks, SyncService
from storage.admins import AdminStore, Role
from storage.api_tokens import TokenStore
from storage.audit import AuditLog
from storage.datasets import DataStore
from storage.db import Database, sqlite_url_for
from storage.federation_store import FederationStore
from storage.journal import Journal
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
    data = DataStore(db)
    sync = _data_sync(data, federation, settings, links) if links is not None else None
    livehub = None
    if live is not None:
        livehub = LiveHub(live, InMemoryBroker(), journal=Journal(db), stored=settings)
        live.subscribe(lambda change: livehub.publish_deltas(list(change.deltas)))
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
        data=data,
        preferences=PreferenceStore(db),
        links=links,
        live=live,
        redirect=redirect,
        sync=sync,
        livehub=livehub,
    )

    async def first_start() -> None:
        await bootstrap(services)

    services.on_start.append(first_start)
    if livehub is not None and links is not None:
        livehub.watch_links(links.manager)
        livehub.serve_commands(links.manager)
        services.on_start.append(livehub.start)
        services.on_stop.append(livehub.stop)
    if links is not None:
        services.on_start.append(links.start)
    if sync is not None:
        services.on_start.append(sync.start)
        services.on_stop.append(sync.stop)
    if redirect is not None:
        services.on_start.append(redirect.start)
        services.on_stop.append(redirect.stop)
    if links is not None:
        services.on_stop.append(links.stop)
    attach(services)  # backups, logs, quotas, the schedule, the presence lock
    return services


class _DataSync(SyncService):
    """The sync of a hub process: its interval from the ``sync`` settings section."""

    def __init__(self, settings: SettingsStore, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._settings = settings
        self._acks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        stored, _ = await self._settings.get("sync")
        self.interval = float(stored.get("interval_s", self.interval))
        await super().start()

    def ack_received(self, member_id: int, ack: SyncAck) -> None:
        task = asyncio.get_running_loop().create_task(self.on_ack(member_id, ack))
        self._acks.add(task)
        task.add_done_callback(self._acks.discard)


def _data_sync(
    data: DataStore, federation: FederationStore, settings: SettingsStore, links: LinkSupervisor
) -> _DataSync:
    """Data-set sync over this node's member links: on change, on ack, every interval."""
    sync = _DataSync(settings, data, federation, LinkSyncLinks(links.manager))
    links.manager.on_sync_ack = sync.ack_received
    data.on_change(sync.changed)
    federation.on_change(sync.federation_changed)
    return sync


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
