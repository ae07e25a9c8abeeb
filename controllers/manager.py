"""All of the hub's member links, and the cascade state they feed.

Role: the one object the composition root holds for live links. It starts one
``LinkClient`` per bound member, applies configuration changes link by link without
touching the others, reports per-link status for the API, and routes commands to the
right link. Deltas from every link go to ``on_delta`` (later: hub fanout).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable, Mapping

from controllers.client import CommandResult, DeltaSink, LinkClient
from controllers.config import LinkSettings, MemberLinkConfig
from controllers.messages import ArgValue, CommandKind, SyncAck
from hub.cascade import CascadeState, Delta
from hub.ports import Clock, SystemClock

Target = str | tuple[str, str] | Mapping[str, str]
SyncAckSink = Callable[[int, SyncAck], None]


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
        on_delta: DeltaSink | None = None,
        clock: Clock | None = None,
        settings: LinkSettings | None = None,
        state: CascadeState | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._configs = {c.member_id: c for c in configs}
        self._on_delta = on_delta
        self.clock = clock or SystemClock()
        self.settings = settings or LinkSettings()
        self.state = state or CascadeState()
        self._rng = rng or random.Random()
        self._links: dict[int, LinkClient] = {}
        self._started = False
        self.on_sync_ack: SyncAckSink | None = None
        """Called with ``(member_id, ack)`` for every ``sync_ack`` (ops/sync.py sets it)."""

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
                self._emit(self.state.forget_member(member_id))
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
        self.state.bind_member(config.member_id, config.domain)
        client = LinkClient(
            config,
            state=self.state,
            settings=self.settings,
            clock=self.clock,
            on_delta=self._on_delta,
            rng=random.Random(self._rng.random()),
            on_sync_ack=self._sync_ack,
        )
        self._links[config.member_id] = client
        client.start()

    async def _close(self, member_id: int) -> None:
        client = self._links.pop(member_id, None)
        if client is not None:
            await client.stop()

    def _emit(self, deltas: list[Delta]) -> None:
        if deltas and self._on_delta is not None:
            self._on_delta(deltas)

    def _sync_ack(self, member_id: int, ack: SyncAck) -> None:
        if self.on_sync_ack is not None:
            self.on_sync_ack(member_id, ack)

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
