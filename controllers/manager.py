"""All of the hub's member links.

Role: the one object the composition root holds for live links. It starts one
``LinkClient`` per bound member, applies configuration changes link by link without
touching the others, reports per-link status for the API, and routes commands to the
right link. The links write into the live state service it is given (``LiveSink``);
readers get that service from the composition root, never through the manager.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from controllers.client import LinkClient
from controllers.clock import Clock, SystemClock
from controllers.config import LinkSettings, MemberLinkConfig
from controllers.driver import CommandResult
from controllers.messages import ArgValue, CommandKind, SyncAck
from hub.live import LiveSink

Target = str | tuple[str, str] | Mapping[str, str]
StatusListener = Callable[[int], None]

log = logging.getLogger("fedhub.link")


@dataclass(slots=True, eq=False)
class StatusSubscription:
    """A registered status listener; ``cancel()`` stops further calls."""

    _owner: LinkManager | None
    listener: StatusListener = field(repr=False)

    def cancel(self) -> None:
        owner, self._owner = self._owner, None
        if owner is not None:
            owner._listeners = [s for s in owner._listeners if s is not self]


def _target(target: Target) -> tuple[str, str]:
    """``"conf"``, ``("conf", "venue")`` or ``{"conference": …, "venue": …}``."""
    if isinstance(target, str):
        return target, ""
    if isinstance(target, tuple):
        return target
    return str(target.get("conference", "")), str(target.get("venue", ""))


class LinkManager:
    """Member links by member id; call ``start()`` once, ``stop()`` at shutdown."""

    def __init__(
        self,
        configs: Iterable[MemberLinkConfig] = (),
        *,
        live: LiveSink,
        clock: Clock | None = None,
        settings: LinkSettings | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._configs = {c.member_id: c for c in configs}
        self._live = live
        self.clock = clock or SystemClock()
        self.settings = settings or LinkSettings()
        self._rng = rng or random.Random()
        self._links: dict[int, LinkClient] = {}
        self._started = False
        self._listeners: list[StatusSubscription] = []
        self.on_sync_ack: Callable[[int, SyncAck], None] | None = None
        """Called with ``(member_id, ack)`` for every ``sync_ack`` (ops/sync.py sets it)."""

    def subscribe(self, listener: StatusListener) -> StatusSubscription:
        """Call ``listener(member_id)`` whenever that link may have a new status: at once
        for a new state, error or command result, and at every timer tick (counters,
        RTT). It must be cheap and must not block; read ``status()`` for the values."""
        sub = StatusSubscription(self, listener)
        self._listeners = [*self._listeners, sub]
        return sub

    def _sync_ack(self, member_id: int, ack: SyncAck) -> None:
        if self.on_sync_ack is not None:
            self.on_sync_ack(member_id, ack)

    def _notify(self, member_id: int) -> None:
        for sub in self._listeners:
            try:
                sub.listener(member_id)
            except Exception:
                log.exception("link status listener %r failed", sub.listener)

    async def start(self) -> None:
        self._started = True
        for config in self._configs.values():
            self._open(config)

    async def stop(self) -> None:
        self._started = False
        clients = list(self._links.values())
        self._links.clear()
        await asyncio.gather(*(c.stop() for c in clients))  # closing handshakes overlap

    async def update(self, configs: Iterable[MemberLinkConfig]) -> None:
        """Make the links match ``configs``: open new ones, close removed ones (their
        state is dropped, with deltas), restart changed ones; leave the rest alone."""
        wanted = {c.member_id: c for c in configs}
        for member_id in list(self._configs):
            if member_id not in wanted:
                await self._close(member_id)
                del self._configs[member_id]
                self._live.forget_member(member_id)
        for member_id, config in wanted.items():
            old = self._configs.get(member_id)
            if old == config:
                continue
            if old is not None:
                await self._close(member_id)
            self._configs[member_id] = config
            if self._started:
                self._open(config)

    def _open(self, config: MemberLinkConfig) -> None:
        client = LinkClient(
            config,
            live=self._live,
            settings=self.settings,
            clock=self.clock,
            rng=random.Random(self._rng.random()),
            on_change=self._notify,
            on_sync_ack=self._sync_ack,
        )
        self._links[config.member_id] = client
        client.start()

    async def _close(self, member_id: int) -> None:
        client = self._links.pop(member_id, None)
        if client is not None:
            await client.stop()

    # -- reads -----------------------------------------------------------------------

    def status(self) -> list[dict[str, object]]:
        """One JSON-able dict per link, by member id (state, since, last_error, RTT, …)."""
        return [self._links[m].status() for m in sorted(self._links)]

    def link(self, member_id: int) -> LinkClient | None:
        return self._links.get(member_id)

    def all_up(self) -> bool:
        return all(c.link_state == "up" for c in self._links.values())

    # -- commands --------------------------------------------------------------------

    async def send_command(
        self,
        member_id: int,
        kind: CommandKind | str,
        target: Target,
        args: Mapping[str, ArgValue] | None = None,
        deadline: float = 5.0,
        command_id: str | None = None,
    ) -> CommandResult:
        """Send a command to a member; returns exactly one result.

        ``deadline`` is seconds from now; past it the result is ``timeout``. The same
        ``command_id`` twice yields the first command's result (commands are idempotent).
        """
        client = self._links.get(member_id)
        conference, venue = _target(target)
        if client is None:
            return CommandResult(command_id or "-", "failed", f"no link to member {member_id}")
        return await client.send_command(kind, conference, venue, args, deadline, command_id)
