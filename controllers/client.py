"""The asyncio side of one member link: a thin pump around ``LinkDriver``.

Role: owns what the pure driver cannot — the socket, the tasks, the futures callers
await. It resolves the member's host and checks every address against the allowed
destinations before dialling, feeds frames and the time of the one injected clock
into the driver, waits (never longer than the driver's next deadline) and carries out
what the driver returns: send a frame, close the socket, resolve a command's future.
Everything else — live state, snapshots after a gap, command deadlines and resends,
when the link is up, backoff — is decided in ``controllers.driver``.

A connection attempt that ends by a bug is logged with its traceback, reported in the
link's status (``internal_errors``, ``last_error``) and retried with backoff: the link
task never dies silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import random
import socket
import ssl
import uuid
from collections.abc import Callable, Coroutine, Mapping
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from controllers.clock import Clock
from controllers.config import IPAddress, LinkSettings, MemberLinkConfig
from controllers.driver import (
    CommandDone,
    CommandResult,
    DriverOutput,
    ErrorKind,
    LinkDriver,
    LinkState,
)
from controllers.messages import ArgValue, CommandKind, Message, SyncAck, encode
from controllers.outputs import Close, Send
from controllers.session import SyncAckReceived
from hub.live import LiveSink
from hub.logtext import untrusted

log = logging.getLogger("fedhub.link")

__all__ = ["CommandResult", "LinkClient", "LinkState"]


class LinkClient:
    """Keeps one member link up until ``stop()``; see the module docstring."""

    def __init__(
        self,
        config: MemberLinkConfig,
        *,
        live: LiveSink,
        settings: LinkSettings,
        clock: Clock,
        rng: random.Random | None = None,
        on_change: Callable[[int], None] | None = None,
        on_sync_ack: Callable[[int, SyncAck], None] | None = None,
    ) -> None:
        self.config, self.settings, self.clock = config, settings, clock
        self._on_sync_ack = on_sync_ack
        self._live = live
        self._on_change = on_change or _ignore
        self.driver = LinkDriver(
            config, live=live, settings=settings, now=clock.monotonic(), rng=rng
        )
        self._futures: dict[str, asyncio.Future[CommandResult]] = {}
        self._ws: ClientConnection | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._waiter: asyncio.Future[None] | None = None

    @property
    def link_state(self) -> LinkState:
        return self.driver.state

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        if not self._tasks:
            self._stopping = False
            self._tasks = [self._spawn(self._run, "link"), self._spawn(self._timers, "timers")]

    def _spawn(
        self, work: Callable[[], Coroutine[Any, Any, None]], role: str
    ) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(
            work(), name=f"link-{self.config.member_id}-{role}"
        )
        task.add_done_callback(functools.partial(self._ended, work, role))
        return task

    def _ended(
        self, work: Callable[[], Coroutine[Any, Any, None]], role: str, task: asyncio.Task[None]
    ) -> None:
        """A link task never ends on its own: one that died is reported and restarted."""
        if self._stopping or task.cancelled() or task not in self._tasks:
            return
        error = task.exception()
        log.error(
            "member %s: link %s task ended (%r); restarting it",
            self.config.domain,
            role,
            error,
            exc_info=error,
        )
        bug = error or RuntimeError("ended")
        if role == "link":  # the connection went with it
            self._ws = None
            self.driver.crashed(bug, self.clock.monotonic())
        else:
            self.driver.report_bug(bug)
        self._tasks = [t for t in self._tasks if t is not task] + [self._spawn(work, role)]
        self._changed()

    async def stop(self) -> None:
        """Close the link for good; waiting commands fail with "link stopped"."""
        self._stopping = True
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:  # never let one link's bug abort a configuration change
                log.exception("link task of member %s failed", self.config.domain)
        await self._carry_out(self.driver.stop(self.clock.monotonic()))
        for future in self._futures.values():  # pragma: no cover - the driver resolved all
            if not future.done():
                future.set_result(CommandResult("-", "failed", "link stopped"))
        self._futures.clear()

    def status(self) -> dict[str, object]:
        """JSON-able status for the API (``last_error`` in full: see ``GENERIC_ERRORS``)."""
        d, mid = self.driver, self.config.member_id
        epoch, seq = self._live.position(mid)
        session = d.session
        rtt = session.rtt if session is not None and session.rtt is not None else d.rtt
        since = self.clock.time() - (self.clock.monotonic() - d.changed_at)
        return {
            "member_id": mid,
            "domain": self.config.domain,
            "url": self.config.url,
            "state": d.state,
            "since": since,
            "last_error": d.last_error,
            "error_kind": d.error_kind,
            "rtt_ms": None if rtt is None else round(rtt * 1000, 2),
            "protocol_version": d.version,
            "epoch": epoch,
            "seq": seq,
            "in_sync": self._live.in_sync(mid),
            "connects": d.connects,
            "snapshots": d.snapshots,
            "events": d.events,
            "pending_commands": d.pending_count,
            "internal_errors": d.internal_errors,
        }

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
        waiting = self._futures.get(cid)
        if waiting is not None:
            return await asyncio.shield(waiting)
        cid, outputs = self.driver.submit(
            kind, conference, venue, args, deadline, cid, now=self.clock.monotonic()
        )
        for out in outputs:
            if isinstance(out, CommandDone) and out.result.id == cid:
                return out.result  # refused at once (invalid, or the link cannot carry it in time)
        future: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
        self._futures[cid] = future
        self._wake()  # the timer loop may now have an earlier deadline
        await self._carry_out(outputs)
        return await asyncio.shield(future)

    async def send_message(self, message: Message) -> None:
        """Send a sync (or another hub message) now; raises NotUp if the link is not up."""
        await self._carry_out(self.driver.send_message(message, self.clock.monotonic()))

    # -- the link ----------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                delay = await self._connect_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("member %s: link attempt failed on a bug", self.config.domain)
                self._ws = None
                delay = self.driver.crashed(exc, self.clock.monotonic())
            self._changed()
            log.info(
                "member %s link down (%s); retry in %.2f s",
                self.config.domain,
                untrusted(self.driver.last_error),
                delay,
            )
            await asyncio.sleep(delay)

    async def _connect_once(self) -> float:
        """One dial and the connection's life; returns the backoff before the next."""
        d, s, cfg, clock = self.driver, self.settings, self.config, self.clock
        key = d.dialing(clock.monotonic())
        if key is None:
            return d.disconnected(None, clock.monotonic())
        parts = urlsplit(cfg.url)
        host, port = parts.hostname or "", parts.port or 0
        try:
            addresses = await _resolve(host, port)
        except OSError as exc:
            return d.disconnected(_describe(exc), clock.monotonic(), "unreachable")
        refusal = s.destination_refusal(addresses)
        if refusal is not None:
            log.warning("member %s not dialled: %s", cfg.domain, refusal)
            return d.disconnected(refusal, clock.monotonic(), "destination")
        reason: str | None = None
        kind: ErrorKind = "closed"
        try:
            async with connect(
                cfg.url,
                host=str(addresses[0]),
                port=port,
                ssl=_tls_context(s.ca_file) if parts.scheme == "wss" else None,
                max_size=s.max_frame,
                ping_interval=None,
                compression=None,
                open_timeout=s.handshake_timeout,
                close_timeout=s.close_timeout,
                proxy=None,
                user_agent_header="fedhub-link/1",
            ) as ws:
                self._ws = ws
                try:
                    await self._carry_out(d.connected(key, clock.monotonic()))
                    self._wake()
                    self._changed()
                    while d.session is not None and not d.session.closed:
                        data = await ws.recv(decode=False)
                        state = d.state
                        outputs = d.receive(data, clock.monotonic())
                        if outputs:
                            await self._carry_out(outputs)
                            self._changed()
                        elif d.state != state:
                            self._changed()
                        # counters alone (events, RTT) are reported at the next tick
                finally:
                    self._ws = None
        except ConnectionClosed as exc:
            reason = _describe_close(exc, cfg.domain)
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            reason, kind = _describe(exc), "unreachable"
        return d.disconnected(reason, clock.monotonic(), kind)

    def _changed(self) -> None:
        try:
            self._on_change(self.config.member_id)
        except Exception:  # an observer's bug must not take the link down
            log.exception("link observer failed for member %s", self.config.domain)

    async def _timers(self) -> None:
        """Tick the driver when its next deadline comes (or earlier, when woken).

        The driver decides every deadline from the injected clock; the event loop is
        only asked to wait that long."""
        clock, loop = self.clock, asyncio.get_running_loop()
        while True:
            now = clock.monotonic()
            at = self.driver.next_timer(now)
            if at is None or at > now:
                waiter: asyncio.Future[None] = loop.create_future()
                self._waiter = waiter
                timer = None if at is None else loop.call_later(at - now, _release, waiter)
                try:
                    await waiter
                finally:
                    self._waiter = None
                    if timer is not None:
                        timer.cancel()
            try:
                await self._carry_out(self.driver.tick(clock.monotonic()))
            except Exception:
                log.exception("member %s: link timers failed", self.config.domain)
            self._changed()

    def _wake(self) -> None:
        """The driver may have an earlier deadline now: let the timer loop look again."""
        _release(self._waiter)

    async def _carry_out(self, outputs: list[DriverOutput]) -> None:
        for out in outputs:
            if isinstance(out, Send):
                ws = self._ws
                if ws is not None:  # else the connection is gone; the driver resends
                    with contextlib.suppress(ConnectionClosed):
                        await ws.send(encode(out.message), text=True)
            elif isinstance(out, CommandDone):
                future = self._futures.pop(out.result.id, None)
                if future is not None and not future.done():
                    future.set_result(out.result)
            elif isinstance(out, SyncAckReceived):
                if self._on_sync_ack is not None:
                    self._on_sync_ack(self.config.member_id, out.ack)
            elif isinstance(out, Close):
                log.warning(
                    "member %s (id %d): %s; resetting the link",
                    self.config.domain,
                    self.config.member_id,
                    untrusted(out.reason),
                )
                ws = self._ws
                if ws is not None:
                    with contextlib.suppress(ConnectionClosed):
                        await ws.close(out.code, out.reason[:120])


def _ignore(member_id: int) -> None:
    pass


def _release(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


async def _resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an IP literal is itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for *_, sockaddr in infos:
        addr = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if addr not in addresses:
            addresses.append(addr)
    if not addresses:
        raise OSError(f"{host} has no address")
    return addresses


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _describe_close(exc: ConnectionClosed, domain: str) -> str:
    if exc.sent is not None and exc.sent.code not in (1000, 1001):
        reason = f"closed by the hub: {exc.sent.code} {exc.sent.reason}".strip()
        log.warning("member %s: %s; resetting the link", domain, untrusted(reason))
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
