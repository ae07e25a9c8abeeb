"""UDP, TCP and TLS listeners on asyncio (uvloop in production), thin over `Endpoint`.

The protocols here own only what needs a socket or a clock: reading datagrams
and streams, cutting streams with `StreamFramer`, answering keepalive pings,
the caps on open connections (in all and per source IP) and the rate of new
ones, both enforced on the TCP accept, before a TLS handshake (`TlsListener`),
the idle timeout (swept by the service), write backpressure, and one log line
per rejection with the source address, in the form fail2ban matches (see
docs/sip.md):

    SIP reject from 203.0.113.7:5060 transport=udp reason=rate-limit count=1 ...

Everything about what to answer is decided by `sip.endpoint.Endpoint`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, cast

from sip.endpoint import Endpoint, Rejection
from sip.errors import SipParseError
from sip.framing import PING, PONG, StreamFramer
from sip.guard import RateLimiter, RateSpec, RejectLog
from sip.redirect import Origin

log: Final = logging.getLogger("fedhub.sip")

UDP_BUFFER_BYTES: Final = 4 * 1024 * 1024
WRITE_HIGH_WATER: Final = 256 * 1024
LISTEN_BACKLOG: Final = 1024
HANDSHAKE_TIMEOUT: Final = 10.0
ACCEPT_RETRY_DELAY: Final = 0.1


@dataclass
class TransportContext:
    """State shared by all listeners of one service; the service mutates it on apply.

    A stream connection holds a slot from the moment it is accepted (before any
    TLS handshake) until it is lost: `max_connections` in all, and at most
    `max_connections_per_address` from one source IP, whatever the connection does
    (one kept open by keep-alive pings counts like any other). New connections
    spend a token of `connection_limiter`, per source IP, also before the handshake.
    """

    endpoint: Endpoint
    max_connections: int = 10_000
    max_connections_per_address: int = 100
    idle_timeout: float = 120.0
    clock: Callable[[], float] = time.monotonic
    connection_limiter: RateLimiter = field(
        default_factory=lambda: RateLimiter(RateSpec(rate=10.0, burst=50))
    )
    connections: set[StreamProtocol] = field(default_factory=set)
    handshakes: set[asyncio.Task[None]] = field(default_factory=set)
    _per_address: Counter[str] = field(default_factory=Counter)
    _errors: RejectLog = field(default_factory=RejectLog)

    def admit(self, conn: StreamProtocol) -> bool:
        """Give `conn` a slot if the caps and the connection rate allow; else log why."""
        origin = conn.origin
        if len(self.connections) >= self.max_connections:
            self.reject("connection-limit", f"{len(self.connections)} open", origin)
            return False
        here = self._per_address[origin.host]
        if here >= self.max_connections_per_address:
            self.reject("connection-limit", f"{here} open from this address", origin)
            return False
        if not self.connection_limiter.allow(origin.host, self.clock()):
            self.reject("rate-limit", "new connections over the rate limit", origin)
            return False
        self.connections.add(conn)
        self._per_address[origin.host] = here + 1
        return True

    def release(self, conn: StreamProtocol) -> None:
        """Free the slot of `conn` (idempotent)."""
        if conn in self.connections:
            self.connections.discard(conn)
            host = conn.origin.host
            left = self._per_address[host] - 1
            if left > 0:
                self._per_address[host] = left
            else:
                del self._per_address[host]

    def open_from(self, host: str) -> int:
        """Connections holding a slot for source IP `host`."""
        return self._per_address.get(host, 0)

    def abort_all(self) -> None:
        """Drop every connection and pending handshake (the service is stopping)."""
        for task in list(self.handshakes):
            task.cancel()
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        self.connections.clear()
        self._per_address.clear()

    def log_rejection(self, rejection: Rejection, origin: Origin) -> None:
        log.warning(
            "SIP reject from %s:%d transport=%s reason=%s count=%d %s",
            origin.host,
            origin.port,
            origin.transport,
            rejection.reason,
            rejection.count,
            rejection.detail,
        )

    def reject(self, reason: str, detail: str, origin: Origin) -> None:
        rejection = self.endpoint.reject(reason, detail, origin, self.clock())
        if rejection is not None:
            self.log_rejection(rejection, origin)

    def internal_error(self, origin: Origin) -> None:
        """A bug met a message: count it, log the traceback at most once a second."""
        self.endpoint.stats["internal-error"] += 1
        if self._errors.record("*", "internal", self.clock()) is not None:
            log.exception("SIP internal error on a message from %s:%d", origin.host, origin.port)

    def sweep_idle(self) -> int:
        """Close stream connections idle longer than `idle_timeout`; returns how many."""
        now = self.clock()
        idle = [c for c in self.connections if now - c.last_active > self.idle_timeout]
        for conn in idle:
            conn.close_idle()
        return len(idle)


class UdpProtocol(asyncio.DatagramProtocol):
    """One UDP socket: each datagram is one message, answered per RFC 3261 §18.2.2."""

    def __init__(self, ctx: TransportContext) -> None:
        self.ctx = ctx
        self.transport: asyncio.DatagramTransport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        ctx = self.ctx
        origin = Origin("udp", addr[0], addr[1])
        try:
            out = ctx.endpoint.handle(data, origin, ctx.clock())
            if out.data is not None and out.address is not None and self.transport is not None:
                self.transport.sendto(out.data, out.address)
        except Exception:
            ctx.internal_error(origin)
            return
        if out.rejection is not None:
            ctx.log_rejection(out.rejection, origin)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors from earlier sends (port unreachable…): nothing to do for a redirector.
        log.debug("UDP error: %s", exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class StreamProtocol(asyncio.Protocol):
    """One TCP or TLS connection: framed by Content-Length, answered on itself.

    A TCP connection is admitted (caps, connection rate) when it is made; a TLS
    one is admitted by `TlsListener` on the TCP accept, before its handshake, and
    arrives here `admitted` once the handshake is done."""

    def __init__(
        self, ctx: TransportContext, transport_name: str, admitted: Origin | None = None
    ) -> None:
        self.ctx = ctx
        self.name = transport_name
        self.transport: asyncio.Transport | None = None
        self.origin = admitted or Origin(transport_name, "0.0.0.0", 0)
        self.framer = StreamFramer(ctx.endpoint.limits)
        self.last_active = ctx.clock()
        self._admitted = admitted is not None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport = cast(asyncio.Transport, transport)
        ctx = self.ctx
        if not self._admitted:
            peer = transport.get_extra_info("peername") or ("0.0.0.0", 0)
            self.origin = Origin(self.name, str(peer[0]), int(peer[1]))
            if not ctx.admit(self):
                transport.abort()
                return
        elif self not in ctx.connections:  # the service stopped during the handshake
            transport.abort()
            return
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self.last_active = ctx.clock()
        ctx.endpoint.stats[f"connections.{self.name}"] += 1

    def data_received(self, data: bytes) -> None:
        transport, ctx = self.transport, self.ctx
        if transport is None or self not in ctx.connections:
            return
        self.last_active = now = ctx.clock()
        try:
            frames = self.framer.feed(data)
        except SipParseError as exc:
            ctx.reject("malformed", f"{exc.status} stream framing: {exc.detail}", self.origin)
            transport.abort()
            return
        for frame in frames:
            if frame is PING:  # keep-alives spend the source's tokens like any message
                if ctx.endpoint.limiter.allow(self.origin.host, now):
                    ctx.endpoint.stats["keepalive"] += 1
                    transport.write(PONG)
                else:
                    ctx.reject("rate-limit", "keep-alive over the rate limit", self.origin)
                continue
            try:
                out = ctx.endpoint.handle(cast(bytes, frame), self.origin, now)
            except Exception:
                ctx.internal_error(self.origin)
                transport.abort()
                return
            if out.data is not None:
                transport.write(out.data)
            if out.rejection is not None:
                ctx.log_rejection(out.rejection, self.origin)

    def pause_writing(self) -> None:
        # The peer does not read its answers: stop reading its requests until it does.
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None:
            self.transport.resume_reading()

    def close_idle(self) -> None:
        log.debug("closing idle %s connection from %s", self.name, self.origin.host)
        self.ctx.endpoint.stats["closed.idle"] += 1
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.ctx.release(self)


class TlsListener:
    """Accepts TLS connections itself, so that a connection is admitted (caps and
    connection rate per source IP) on the TCP accept, before any handshake work: a
    refused source costs one accept and one close. Admitted ones get their
    handshake (at most `HANDSHAKE_TIMEOUT`, or `idle_timeout` if shorter) and then
    a `StreamProtocol`."""

    def __init__(
        self, ctx: TransportContext, sock: socket.socket, ssl_context: ssl.SSLContext
    ) -> None:
        self._ctx = ctx
        self._sock = sock
        self._ssl = ssl_context
        self._task = asyncio.get_running_loop().create_task(
            self._accept_loop(), name="sip-tls-accept"
        )

    async def _accept_loop(self) -> None:
        loop = asyncio.get_running_loop()
        ctx = self._ctx
        while True:
            try:
                conn, addr = await loop.sock_accept(self._sock)
            except OSError as exc:  # out of descriptors or buffers: let the system recover
                log.warning("SIP TLS accept failed: %s", exc)
                await asyncio.sleep(ACCEPT_RETRY_DELAY)
                continue
            protocol = StreamProtocol(ctx, "tls", Origin("tls", str(addr[0]), int(addr[1])))
            if not ctx.admit(protocol):
                conn.close()
                continue
            task = loop.create_task(self._handshake(conn, protocol))
            ctx.handshakes.add(task)
            task.add_done_callback(ctx.handshakes.discard)

    async def _handshake(self, conn: socket.socket, protocol: StreamProtocol) -> None:
        ctx = self._ctx
        try:
            await asyncio.get_running_loop().connect_accepted_socket(
                lambda: protocol,
                conn,
                ssl=self._ssl,
                ssl_handshake_timeout=min(ctx.idle_timeout, HANDSHAKE_TIMEOUT),
            )
        except Exception as exc:  # timeout, bad ClientHello, peer gone: the socket is closed
            ctx.endpoint.stats["tls.handshake-failed"] += 1
            log.debug("TLS handshake with %s failed: %r", protocol.origin.host, exc)
            ctx.release(protocol)
        except BaseException:
            ctx.release(protocol)
            raise

    def close(self) -> None:
        self._task.cancel()
        self._sock.close()

    async def wait_closed(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def _socket(host: str, kind: int, port: int, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, kind)
    try:
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if kind == socket.SOCK_DGRAM:
            for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, option, UDP_BUFFER_BYTES)
                except OSError:
                    pass  # the kernel caps it at net.core.*mem_max; smaller still works
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        if kind == socket.SOCK_STREAM:
            sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def bind_sockets(
    host: str,
    udp_port: int | None,
    tcp_port: int | None,
    tls_port: int | None,
    *,
    reuse_port: bool = False,
) -> dict[str, socket.socket]:
    """Bound (and listening) sockets by transport for the ports that are not None
    (0: ephemeral). Bind before forking workers to let them share the sockets, the
    way Kamailio's children share theirs. On failure nothing stays bound."""
    wanted = (("udp", udp_port, socket.SOCK_DGRAM), ("tcp", tcp_port, socket.SOCK_STREAM),
              ("tls", tls_port, socket.SOCK_STREAM))  # fmt: skip
    out: dict[str, socket.socket] = {}
    try:
        for name, port, kind in wanted:
            if port is not None:
                out[name] = _socket(host, kind, port, reuse_port)
    except BaseException:
        for sock in out.values():
            sock.close()
        raise
    return out


@dataclass
class Listeners:
    """The listeners of one service start; `close()` releases them all."""

    udp: asyncio.DatagramTransport | None = None
    udp_protocol: UdpProtocol | None = None
    tcp: asyncio.Server | None = None
    tls: TlsListener | None = None
    ports: dict[str, int] = field(default_factory=dict)

    async def close(self) -> None:
        if self.udp is not None:
            self.udp.close()
        for server in (self.tcp, self.tls):
            if server is not None:
                server.close()
        for server in (self.tcp, self.tls):
            if server is not None:
                await server.wait_closed()
        if self.udp_protocol is not None:  # the socket is released one loop turn later
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.udp_protocol.closed), 2.0)
        self.udp = self.tcp = self.tls = self.udp_protocol = None
        self.ports = {}


async def open_listeners(
    ctx: TransportContext,
    sockets: dict[str, socket.socket],
    ssl_context: ssl.SSLContext | None,
) -> Listeners:
    """Serve on `sockets` (from `bind_sockets`); 'tls' only with an `ssl_context`.
    On failure, the sockets are closed and the error raised."""
    loop = asyncio.get_running_loop()
    out = Listeners()
    try:
        if "udp" in sockets:
            sock = sockets["udp"]
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: UdpProtocol(ctx), sock=sock
            )
            out.udp, out.udp_protocol = transport, protocol
            out.ports["udp"] = int(sock.getsockname()[1])
        if "tcp" in sockets:
            out.tcp = await loop.create_server(
                lambda: StreamProtocol(ctx, "tcp"), sock=sockets["tcp"]
            )
            out.ports["tcp"] = int(sockets["tcp"].getsockname()[1])
        if "tls" in sockets and ssl_context is not None:
            out.tls = TlsListener(ctx, sockets["tls"], ssl_context)
            out.ports["tls"] = int(sockets["tls"].getsockname()[1])
    except BaseException:
        await out.close()
        for sock in sockets.values():
            sock.close()
        raise
    return out
