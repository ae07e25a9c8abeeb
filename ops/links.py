"""Keeps the hub's member links matching what storage says is bound.

The supervisor reads every bound member (server URL + credentials hash), turns them
into link configurations and hands them to the ``LinkManager``, at start and after
every committed federation change. A member whose stored URL is unusable is logged
and left unlinked; it never stops the others.

In a cluster only the node holding the ``member-links`` lease runs links; the others
check every few seconds and take over when the holder is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from controllers.config import ConfigError, MemberLinkConfig
from controllers.manager import LinkManager
from hub.live import LiveState
from hub.logtext import untrusted
from hub.trust import PlanRules
from storage.federation_store import FederationStore
from storage.lease import Lease

log = logging.getLogger("fedhub.links")


class LinkSupervisor:
    def __init__(
        self,
        store: FederationStore,
        manager: LinkManager,
        lease: Lease | None = None,
        *,
        live: LiveState | None = None,
        check_s: float = 5.0,
    ):
        self.store = store
        self.manager = manager
        self.live = live  # its trust rules follow every federation revision
        self.lease = lease
        self.check_s = check_s
        self.config_errors: dict[int, str] = {}
        self._lock = asyncio.Lock()
        self._running = False
        self._watch: asyncio.Task[None] | None = None

    @property
    def owner(self) -> bool:
        """Whether this node runs the member links now."""
        return self._running

    async def start(self) -> None:
        self.store.on_change(self.refresh)
        await self._check_lease()
        self._watch = asyncio.create_task(self._watch_lease(), name="link-lease")

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await self._stop_links()
        if self.lease is not None:
            await self.lease.release()

    async def _check_lease(self) -> None:
        holds = True if self.lease is None else await self.lease.try_acquire()
        if holds and not self._running:
            self._running = True
            await self.refresh()
            await self.manager.start()
        elif not holds and self._running:
            log.warning("member links stop here: another node holds the lease now")
            await self._stop_links()

    async def _stop_links(self) -> None:
        if self._running:
            self._running = False
            await self.manager.update([])
            await self.manager.stop()

    async def _watch_lease(self) -> None:
        while True:
            await asyncio.sleep(self.check_s)
            try:
                await self._check_lease()
            except Exception:
                log.exception("member-links lease check failed")

    async def refresh(self) -> None:
        """Bring the links in line with storage (serialized; cheap when nothing changed)."""
        if not self._running:
            return
        async with self._lock:
            if self.live is not None:
                view = await self.store.current()
                self.live.set_rules(PlanRules(view.federation, view.plan))
            configs: list[MemberLinkConfig] = []
            errors: dict[int, str] = {}
            for m in await self.store.bound_members():
                try:
                    configs.append(
                        MemberLinkConfig(
                            m.member_id, m.domain, m.server_url, m.username, m.password_hash
                        )
                    )
                except ConfigError as e:
                    errors[m.member_id] = str(e)
                    if self.config_errors.get(m.member_id) != str(e):
                        log.warning("member %s not linked: %s", m.member_id, untrusted(e))
            self.config_errors = errors
            await self.manager.update(configs)

    def status(self) -> list[dict[str, object]]:
        """Per-link status, plus members whose stored link settings are unusable."""
        out = list(self.manager.status())
        out += [
            {"member_id": mid, "state": "misconfigured", "last_error": err}
            for mid, err in sorted(self.config_errors.items())
        ]
        return out
