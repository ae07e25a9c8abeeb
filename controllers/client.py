"""The asyncio side of one member link: dial, run the session, reconnect, resync.

Role: a thin adapter around ``LinkSession``. It owns the socket, the reconnect loop
(exponential backoff with full jitter, capped; reset once a link stayed up for
``stable_after``), the timer tick, and the commands waiting for their result. Live
state goes straight into the shared ``hub.cascade.CascadeState``; a ``NeedSnapshot``
from it becomes a snapshot request — the client never guesses across a gap.

Everything a member sends that is malformed or oversized is logged with the member
and the reason, and resets only this link.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import ssl
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from controllers.auth import AuthError, HubKey
from controllers.config import LinkSettings, MemberLinkConfig, backoff_delay
from controllers.messages import ArgValue, Command, CommandKind, Message, SyncAck, encode
from controllers.session import (
    Close,
    EventReceived,
    LinkSession,
    LinkUp,
    NotUp,
    Output,
    ResultReceived,
    Send,
    SnapshotReceived,
    SyncAckReceived,
)
from hub.cascade import CascadeState, Delta, NeedSnapshot
from hub.ports import Clock

log = logging.getLogger("fedhub.link")

LinkState = Literal["connecting", "up", "down", "stopped"]


@dataclass(frozen=True, slots=True)
class CommandResult:
    """The one outcome of a command: ``ok``, ``failed`` (with reason) or ``timeout``."""

    id: str
    status: Literal["ok", "failed", "timeout"]
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "status": self.status, "reason": self.reason}


@dataclass(slots=True)
class _Pending:
    command: Command
    future: asyncio.Future[CommandResult]
    expires: float  # monotonic
    timer: asyncio.TimerHandle


class _Reset(Exception):
    """The session asked to close the link; carries the reason."""


DeltaSink = Callable[[list[Delta]], None]


class LinkClient:
    """Keeps one member link up until ``stop()``; see the module docstring."""

    def __init__(
        self,
        config: MemberLinkConfig,
        *,
        state: CascadeState,
        settings: LinkSettings,
        clock: Clock,
        on_delta: DeltaSink | None = None,
        rng: random.Random | None = None,
        on_sync_ack: Callable[[int, SyncAck], None] | None = None,
    ) -> None:
        self.config, self.settings, self.clock = config, settings, clock
        self._on_sync_ack = on_sync_ack
        self._state, self._on_delta = state, on_delta
        self._rng = rng or random.Random()
        self.link_state: LinkState = "down"
        self.since = clock.time()
        self.last_error: str | None = None
        self.connects = 0
        self.snapshots = 0
        self.events = 0
        self._session: LinkSession | None = None
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending: dict[str, _Pending] = {}
        self._up_at: float | None = None
        self._rtt: float | None = None
        self._version: int | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            name = f"link-{self.config.member_id}"
            self._task = asyncio.get_running_loop().create_task(self._run(), name=name)

    async def stop(self) -> None:
        """Close the link for good; waiting commands fail with "link stopped"."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for pending in list(self._pending.values()):
            self._resolve(CommandResult(pending.command.id, "failed", "link stopped"))
        self._set("stopped", self.last_error)

    def status(self) -> dict[str, object]:
        """JSON-able status for the API."""
        epoch, seq = self._state.position(self.config.member_id)
        session = self._session
        rtt = session.rtt if session is not None and session.rtt is not None else self._rtt
        return {
            "member_id": self.config.member_id,
            "domain": self.config.domain,
            "url": self.config.url,
            "state": self.link_state,
            "since": self.since,
            "last_error": self.last_error,
            "rtt_ms": None if rtt is None else round(rtt * 1000, 2),
            "protocol_version": self._version,
            "epoch": epoch,
            "seq": seq,
            "in_sync": self._state.in_sync(self.config.member_id),
            "connects": self.connects,
            "snapshots": self.snapshots,
            "events": self.events,
            "pending_commands": len(self._pending),
        }

    def _set(self, state: LinkState, error: str | None = None) -> None:
        if state != self.link_state:
            self.link_state, self.since = state, self.clock.time()
        if error is not None:  # sticky: the API shows why the link last went down
            self.last_error = error

    # -- commands --------------------------------------------------------------------

    async def send_command(
        self,
        kind: CommandKind | str,
        conference: str,
        venue: str = "",
        args: Mapping[str, ArgValue] | None = None,
        deadline: float = 5.0,
        command_id: str | None = None,
    ) -> CommandResult:
        """Send a command; returns its one result (a repeated id joins the first)."""
        cid = command_id or uuid.uuid4().hex
        existing = self._pending.get(cid)
        if existing is not None:
            return await asyncio.shield(existing.future)
        try:
            cmd = Command(
                cid,
                CommandKind(kind),
                conference,
                venue,
                dict(args or {}),
                max(1, int(deadline * 1000)),
            )
        except ValueError as exc:
            return CommandResult(cid, "failed", f"invalid command: {exc}")
        session = self._session
        if session is None or self.link_state != "up":
            return CommandResult(
                cid, "failed", f"link to {self.config.domain} is {self.link_state}"
            )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[CommandResult] = loop.create_future()
        timer = loop.call_later(deadline, self._expire, cid, deadline)
        self._pending[cid] = _Pending(cmd, future, self.clock.monotonic() + deadline, timer)
        try:
            await self._carry_out(session.send(cmd, self.clock.monotonic()))
        except (NotUp, ConnectionClosed, _Reset):
            pass  # stays pending: resent when the link is back, or times out
        return await asyncio.shield(future)

    def _expire(self, cid: str, deadline: float) -> None:
        self._resolve(CommandResult(cid, "timeout", f"no result within {deadline:g} s"))

    def _resolve(self, result: CommandResult) -> None:
        pending = self._pending.pop(result.id, None)
        if pending is None:
            log.debug("member %s: result for unknown command %s", self.config.domain, result.id)
            return
        pending.timer.cancel()
        if not pending.future.done():
            pending.future.set_result(result)

    async def _resend_pending(self, session: LinkSession) -> None:
        now = self.clock.monotonic()
        for p in list(self._pending.values()):
            remaining = int((p.expires - now) * 1000)
            if remaining > 0:
                c = p.command
                again = Command(c.id, c.kind, c.conference, c.venue, c.args, remaining)
                await self._carry_out(session.send(again, now))

    # -- the link ----------------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        while True:
            self._set("connecting")
            self._up_at = None
            error = await self._connect_once()
            up_at = self._up_at
            if up_at is not None and self.clock.monotonic() - up_at >= self.settings.stable_after:
                attempt = 0
            self._set("down", error)
            delay = backoff_delay(
                attempt, self.settings.backoff_base, self.settings.backoff_cap, self._rng
            )
            attempt += 1
            log.info("member %s link down (%s); retry in %.2f s", self.config.domain, error, delay)
            await asyncio.sleep(delay)

    async def _connect_once(self) -> str:
        s, cfg = self.settings, self.config
        try:
            key = HubKey.from_phc(cfg.password_hash)
        except AuthError as exc:
            return f"unusable password hash: {exc}"
        try:
            async with connect(
                cfg.url,
                ssl=_tls_context(s.ca_file) if cfg.url.startswith("wss:") else None,
                max_size=s.max_frame,
                ping_interval=None,
                compression=None,
                open_timeout=s.handshake_timeout,
                close_timeout=s.close_timeout,
                proxy=None,
                user_agent_header="fedhub-link/1",
            ) as ws:
                self.connects += 1
                session = LinkSession(domain=cfg.domain, username=cfg.username, key=key, settings=s)
                self._ws, self._session = ws, session
                ticker = asyncio.create_task(self._tick_loop(session))
                try:
                    await self._carry_out(session.connected(self.clock.monotonic()))
                    while True:
                        data = await ws.recv(decode=False)
                        await self._carry_out(session.receive(data, self.clock.monotonic()))
                finally:
                    ticker.cancel()
        except _Reset as reset:
            return str(reset)
        except ConnectionClosed as exc:
            current = self._session
            if current is not None and current.close_reason:
                return current.close_reason
            return _describe_close(exc, cfg.domain)
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        finally:
            if self._session is not None and self._session.rtt is not None:
                self._rtt = self._session.rtt
            self._ws = self._session = None
        return "closed"  # pragma: no cover - the loop only ends by an exception

    async def _tick_loop(self, session: LinkSession) -> None:
        while True:
            await asyncio.sleep(self.settings.tick)
            try:
                await self._carry_out(session.tick(self.clock.monotonic()))
            except (_Reset, ConnectionClosed):
                return  # the reader sees the closed socket and reports the reason

    async def _carry_out(self, outputs: list[Output]) -> None:
        ws, session, mid = self._ws, self._session, self.config.member_id
        if ws is None or session is None:
            raise _Reset("not connected")
        for out in outputs:
            if isinstance(out, Send):
                await ws.send(encode(out.message), text=True)
            elif isinstance(out, EventReceived):
                self.events += 1
                applied = self._state.apply_event(mid, out.event)
                if isinstance(applied, NeedSnapshot):
                    log.info(
                        "member %s: %s; requesting a snapshot", self.config.domain, applied.reason
                    )
                    await self._carry_out(
                        session.request_snapshot(applied.reason, self.clock.monotonic())
                    )
                elif applied:
                    self._emit(applied)
            elif isinstance(out, SnapshotReceived):
                self.snapshots += 1
                self._emit(self._state.apply_snapshot(mid, out.snapshot))
                if self.link_state != "up":
                    self._up_at = self.clock.monotonic()
                    self._set("up")
                    await self._resend_pending(session)
            elif isinstance(out, ResultReceived):
                r = out.result
                self._resolve(CommandResult(r.id, "ok" if r.ok else "failed", r.reason))
            elif isinstance(out, LinkUp):
                self._version = out.version
            elif isinstance(out, SyncAckReceived):
                log.debug(
                    "member %s acked %s r%d", self.config.domain, out.ack.dataset, out.ack.revision
                )
                if self._on_sync_ack is not None:
                    self._on_sync_ack(mid, out.ack)
            elif isinstance(out, Close):
                log.warning(
                    "member %s (id %d): %s; resetting the link", self.config.domain, mid, out.reason
                )
                with contextlib.suppress(ConnectionClosed):
                    await ws.close(out.code, out.reason[:120])
                raise _Reset(out.reason)

    def _emit(self, deltas: list[Delta]) -> None:
        if deltas and self._on_delta is not None:
            try:
                self._on_delta(deltas)
            except Exception:  # a faulty consumer must not take the link down
                log.exception("delta consumer failed for member %s", self.config.domain)

    async def send_message(self, message: Message) -> None:
        """Send a sync (or another hub message) now; raises NotUp if the link is not up."""
        session = self._session
        if session is None or self.link_state != "up":
            raise NotUp(f"link to {self.config.domain} is {self.link_state}")
        await self._carry_out(session.send(message, self.clock.monotonic()))


def _describe_close(exc: ConnectionClosed, domain: str) -> str:
    if exc.sent is not None and exc.sent.code not in (1000, 1001):
        reason = f"closed by the hub: {exc.sent.code} {exc.sent.reason}".strip()
        log.warning("member %s: %s; resetting the link", domain, reason)
        return reason
    if exc.rcvd is not None:
        return f"closed by the member: {exc.rcvd.code} {exc.rcvd.reason}".strip()
    return "connection lost"


@functools.lru_cache(maxsize=8)
def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Verifying client context for wss:// links (certificate and host name checked)."""
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx
