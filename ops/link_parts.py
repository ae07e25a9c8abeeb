"""The background parts of a hub node: member links, live state, data sync, SIP.

``build_links(config, db, stores)`` makes what talks to member servers (the link
supervisor under its lease, the live state the links write, the data-set sync, the
live hub that fans the state out to dashboards) and ``build_redirect`` the SIP
redirector; each returns its parts with the start and stop hooks they need, and
``ops/hub.py`` composes them. Nothing here is started.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any

from controllers.config import LinkSettings
from controllers.manager import LinkManager
from controllers.messages import SyncAck
from dashboards.livehub import LiveHub
from dashboards.services import Hook, HubConfig
from hub.broker import InMemoryBroker
from hub.live import LiveState
from ops.links import LinkSupervisor
from ops.redirect import RedirectSupervisor
from ops.sync import LinkSyncLinks, SyncService
from storage.datasets import DataStore
from storage.db import Database
from storage.federation_store import FederationStore
from storage.journal import Journal
from storage.lease import Lease
from storage.settings import SettingsStore


def _str_or_none(path: object) -> str | None:
    return None if path is None else str(path)


@dataclass(frozen=True)
class LinkParts:
    """The member links of a node and what hangs off them (all None: no links here)."""

    live: LiveState | None = None
    links: LinkSupervisor | None = None
    sync: SyncService | None = None
    livehub: LiveHub | None = None
    on_start: tuple[Hook, ...] = ()
    on_stop: tuple[Hook, ...] = ()


def build_links(
    config: HubConfig,
    db: Database,
    federation: FederationStore,
    data: DataStore,
    settings: SettingsStore,
) -> LinkParts:
    """The link side of a node, or nothing when ``config.links`` is off."""
    if not config.links:
        return LinkParts()
    live = LiveState()  # rules: set by the supervisor's refresh
    links = LinkSupervisor(
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
    sync = _data_sync(data, federation, settings, links)
    livehub = LiveHub(live, InMemoryBroker(), journal=Journal(db), stored=settings)
    live.subscribe(lambda change: livehub.publish_deltas(list(change.deltas)))
    livehub.watch_links(links.manager)
    livehub.serve_commands(links.manager)
    return LinkParts(
        live=live,
        links=links,
        sync=sync,
        livehub=livehub,
        on_start=(livehub.start, links.start, sync.start),
        on_stop=(livehub.stop, sync.stop, links.stop),
    )


def build_redirect(
    config: HubConfig, federation: FederationStore, settings: SettingsStore
) -> RedirectSupervisor | None:
    """The SIP redirector of this process (``config.sip``), or None."""
    if not config.sip:
        return None
    overrides = config.sip_overrides
    if overrides.cert_dir is None:
        overrides = replace(overrides, cert_dir=config.data_dir / "certs")
    return RedirectSupervisor(federation, settings, overrides)


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
