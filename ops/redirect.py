"""Runs the SIP redirect service from what storage says, and keeps it in step.

The redirect settings (section ``redirect`` of the settings store) become
``RedirectSettings``; every member with a SIP address becomes a ``MemberServer`` and
the number plan resolves numbers to members. The supervisor applies both at start,
after every change this node commits, and when a periodic check sees that another
node moved the federation revision or the settings revision — no restart needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sip.redirect import MemberServer, RoutingTable
from sip.service import RedirectService
from sip.settings import SECTION, Overrides, settings_from, settings_json
from storage.federation_store import FederationStore, FederationView
from storage.settings import SettingsStore

log = logging.getLogger("fedhub.redirect")


def routing_table(view: FederationView) -> RoutingTable:
    """Members with a SIP address, by domain; numbers resolved by the number plan."""
    servers = []
    for m in view.federation:
        srv = view.servers.get(m.id)
        if srv is None or not srv.sip_host:
            continue
        try:
            servers.append(MemberServer(m.id, m.domain, srv.sip_host, srv.sip_port or 5060))
        except ValueError as e:
            log.warning("member %s has an unusable SIP address: %s", m.id, e)
    return RoutingTable.of(servers, view.plan.resolve)


class RedirectSupervisor:
    """Owns one ``RedirectService`` for this process."""

    def __init__(
        self,
        federation: FederationStore,
        settings: SettingsStore,
        overrides: Overrides,
        *,
        poll_s: float = 5.0,
        service: RedirectService | None = None,
    ):
        self.federation = federation
        self.settings = settings
        self.overrides = overrides
        self.poll_s = poll_s
        self.service = service or RedirectService()
        self.last_error: str | None = None
        self._seen: tuple[int, int] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self.federation.on_change(self.refresh)
        await self.refresh(force=True)
        self._poller = asyncio.create_task(self._poll(), name="redirect-poll")

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        await self.service.stop()

    async def refresh(self, force: bool = False) -> None:
        """Re-apply settings and routes if either changed since the last time."""
        async with self._lock:
            view = await self.federation.current()
            stored, settings_rev = await self.settings.get(SECTION)
            key = (view.revision, settings_rev)
            if key == self._seen and not force:
                return
            self.service.update_table(routing_table(view))
            try:
                settings = settings_from(stored, self.overrides)
            except (TypeError, ValueError) as e:
                self.last_error = f"stored redirect settings are unusable: {e}"
                log.error("%s; keeping the previous settings", self.last_error)
                self._seen = key
                return
            elsewhere = bool(settings.node) and settings.node != self.overrides.node_name
            try:
                if settings.enabled and not elsewhere:
                    before = self.service.ports
                    await self.service.apply(settings)
                    if self.service.ports != before:
                        log.info("SIP redirect service listening: %s", self.service.ports)
                elif self.service.running:
                    await self.service.stop()
                self.last_error = (
                    f"the redirect service is set to run on node {settings.node!r}, "
                    f"not on this node ({self.overrides.node_name!r})"
                    if elsewhere and settings.enabled
                    else None
                )
            except OSError as e:
                self.last_error = f"cannot listen: {e}"
                log.error("redirect service: %s", self.last_error)
            self._seen = key

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                await self.refresh()
            except Exception:
                log.exception("redirect settings check failed")

    def status(self) -> dict[str, Any]:
        s = self.service.settings
        return {
            "running": self.service.running,
            "node_name": self.overrides.node_name,
            "ports": self.service.ports,
            "settings": settings_json(s) if s else None,
            "last_error": self.last_error,
            "stats": dict(self.service.stats),
            "open_connections": self.service.open_connections,
        }
