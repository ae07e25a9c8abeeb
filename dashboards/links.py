"""Keeps the hub's member links matching what storage says is bound.

The supervisor reads every bound member (server URL + credentials hash), turns them
into link configurations and hands them to the ``LinkManager``, at start and after
every committed federation change. A member whose stored URL is unusable is logged
and left unlinked; it never stops the others.
"""

from __future__ import annotations

import asyncio
import logging

from controllers.config import ConfigError, MemberLinkConfig
from controllers.manager import LinkManager
from storage.federation_store import FederationStore

log = logging.getLogger("fedhub.links")


class LinkSupervisor:
    def __init__(self, store: FederationStore, manager: LinkManager):
        self.store = store
        self.manager = manager
        self.config_errors: dict[int, str] = {}
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self.store.on_change(self.refresh)
        await self.refresh()
        await self.manager.start()

    async def stop(self) -> None:
        await self.manager.stop()

    async def refresh(self) -> None:
        """Bring the links in line with storage (serialized; cheap when nothing changed)."""
        async with self._lock:
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
                        log.warning("member %s not linked: %s", m.member_id, e)
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
