"""The redirect service's lifecycle: settings, listeners, certificate, live changes.

The composition root builds one `RedirectService`, calls `await start(settings)`,
feeds it routes with `update_table(table)` whenever members or number ranges
change, and `await apply(settings)` whenever the admin edits the redirect
settings: limits change in place, a new address or port rebinds the listeners,
a replaced certificate is picked up by the next handshakes. Nothing needs a
restart. `await stop()` closes every socket. `ports` tells which ports were bound
(port 0 asks for an ephemeral one, for tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import ssl
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sip.endpoint import Endpoint
from sip.guard import RateSpec
from sip.message import Limits
from sip.redirect import EMPTY_TABLE, RedirectPolicy, RoutingTable
from sip.tls import ensure_certificate, files_stamp, server_context
from sip.transport import Listeners, TransportContext, bind_sockets, open_listeners

log: Final = logging.getLogger("fedhub.sip")


def _check_port(name: str, port: int | None) -> None:
    if port is not None and not 0 <= port <= 65535:
        raise ValueError(f"{name} must be 0-65535 (0: ephemeral) or None (off), not {port}")


@dataclass(frozen=True)
class RedirectSettings:
    """What the admin sets for the redirect service, plus its protective limits.

    A port of None turns that listener off; TLS also needs `cert_dir`, where the
    platform's certificate lives as sip.crt/sip.key (self-signed on first start).
    `rate` is messages (keep-alive pings included) per second per source IP,
    `burst` the bucket size; `connection_rate`/`connection_burst` the same for new
    TCP/TLS connections, checked before any TLS handshake. At most
    `max_connections` stream connections are open, `max_connections_per_address`
    of them from one source IP. A rate of 0 turns that limit off.
    """

    enabled: bool = True
    name: str = "redirect"
    node: str = ""
    host: str = "0.0.0.0"
    udp_port: int | None = 5060
    tcp_port: int | None = 5060
    tls_port: int | None = 5061
    cert_dir: Path | None = None
    rate: float = 50.0
    burst: int = 100
    max_connections: int = 10_000
    max_connections_per_address: int = 100
    connection_rate: float = 10.0
    connection_burst: int = 50
    idle_timeout: float = 120.0
    max_message_size: int = 65_535
    contact_expires: int = 3600
    register_tls_only: bool = False

    def __post_init__(self) -> None:
        if not self.name.strip() or any(c in self.name + self.node for c in "\r\n\x00"):
            raise ValueError("name must be non-empty and name/node one line each")
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            raise ValueError(f"host must be an IP address to bind, not {self.host!r}") from None
        _check_port("udp_port", self.udp_port)
        _check_port("tcp_port", self.tcp_port)
        _check_port("tls_port", self.tls_port)
        RateSpec(self.rate, self.burst)
        RateSpec(self.connection_rate, self.connection_burst)
        if self.max_connections < 1 or self.max_connections_per_address < 1:
            raise ValueError("max_connections and max_connections_per_address must be >= 1")
        if not self.idle_timeout > 0:
            raise ValueError("idle_timeout must be positive")
        if not 1_024 <= self.max_message_size <= 1_048_576:
            raise ValueError("max_message_size must be 1024..1048576")
        RedirectPolicy(contact_expires=self.contact_expires)

    @property
    def tls_enabled(self) -> bool:
        return self.tls_port is not None and self.cert_dir is not None

    def binding(self) -> tuple[object, ...]:
        """What, when it changes, needs the sockets rebound."""
        return (
            self.enabled,
            self.host,
            self.udp_port,
            self.tcp_port,
            self.tls_port if self.tls_enabled else None,
            self.cert_dir,
        )


class RedirectService:
    """The SIP redirector of one node. Methods must be called from its event loop."""

    def __init__(
        self,
        table: RoutingTable = EMPTY_TABLE,
        *,
        clock: Callable[[], float] = time.monotonic,
        reuse_port: bool = False,
        sockets: dict[str, socket.socket] | None = None,
    ) -> None:
        """`sockets` (from `sip.transport.bind_sockets`) are used by the first start
        instead of binding: pre-forked workers share them. `reuse_port` sets
        SO_REUSEPORT on the sockets this service binds itself."""
        self.endpoint = Endpoint(table)
        self._ctx = TransportContext(self.endpoint, clock=clock)
        self._reuse_port = reuse_port
        self._inherited = sockets
        self._settings: RedirectSettings | None = None
        self._listeners: Listeners | None = None
        self._ssl: ssl.SSLContext | None = None
        self._cert: tuple[Path, Path] | None = None
        self._cert_stamp: tuple[float, float, int, int] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def settings(self) -> RedirectSettings | None:
        return self._settings

    @property
    def running(self) -> bool:
        return self._listeners is not None

    @property
    def ports(self) -> dict[str, int]:
        """Bound ports by transport ('udp', 'tcp', 'tls'); empty when not listening."""
        return dict(self._listeners.ports) if self._listeners else {}

    @property
    def stats(self) -> Counter[str]:
        """A copy of the counters: received, answered.<status>, rejected.<reason>, …"""
        return Counter(self.endpoint.stats)

    @property
    def open_connections(self) -> int:
        """Stream connections holding a slot (TLS ones from accept, before the handshake)."""
        return len(self._ctx.connections)

    def open_connections_from(self, host: str) -> int:
        return self._ctx.open_from(host)

    def sweep_idle(self) -> int:
        """Close the connections idle longer than `idle_timeout` now (the service also
        does it periodically); returns how many."""
        return self._ctx.sweep_idle()

    def update_table(self, table: RoutingTable) -> None:
        """Route with `table` from the next message on (logged at INFO: the line tells
        an operator, and a test, that a change has reached this process)."""
        self.endpoint.table = table
        log.info("SIP redirect: routes updated, %d member servers", len(table.servers))

    async def start(self, settings: RedirectSettings) -> None:
        async with self._lock:
            if self._settings is not None:
                raise RuntimeError("already started; use apply() to change settings")
            await self._start(settings)

    async def stop(self) -> None:
        async with self._lock:
            await self._stop()
            self._settings = None

    async def apply(self, settings: RedirectSettings) -> None:
        """Switch to `settings` without a restart (starts the service if needed)."""
        async with self._lock:
            old = self._settings
            if old is None or old.binding() != settings.binding():
                await self._stop()
                await self._start(settings)
                return
            self._configure(settings)
            self._settings = settings
            self.reload_certificate()

    def reload_certificate(self) -> bool:
        """Load the certificate files again if they changed; True if reloaded.
        Existing connections keep their session; new handshakes use the new pair."""
        if self._ssl is None or self._cert is None:
            return False
        stamp = files_stamp(*self._cert)
        if stamp == self._cert_stamp:
            return False
        self._ssl.load_cert_chain(*self._cert)
        self._cert_stamp = stamp
        log.info("SIP redirect: TLS certificate reloaded from %s", self._cert[0])
        return True

    def _configure(self, settings: RedirectSettings) -> None:
        endpoint = self.endpoint
        endpoint.policy = RedirectPolicy(
            contact_expires=settings.contact_expires,
            register_tls_only=settings.register_tls_only,
        )
        endpoint.limits = Limits(max_message_size=settings.max_message_size)
        endpoint.limiter.configure(RateSpec(settings.rate, settings.burst))
        ctx = self._ctx
        ctx.max_connections = settings.max_connections
        ctx.max_connections_per_address = settings.max_connections_per_address
        ctx.connection_limiter.configure(
            RateSpec(settings.connection_rate, settings.connection_burst)
        )
        ctx.idle_timeout = settings.idle_timeout

    def _tls_context(self, settings: RedirectSettings) -> ssl.SSLContext | None:
        if not settings.tls_enabled or settings.cert_dir is None:
            if settings.tls_port is not None:
                log.warning("SIP redirect %s: no cert_dir, TLS listener off", settings.name)
            return None
        names = (settings.node,) if settings.node else ()
        self._cert = ensure_certificate(settings.cert_dir, names=names)
        self._cert_stamp = files_stamp(*self._cert)
        self._ssl = server_context(*self._cert)
        return self._ssl

    async def _start(self, settings: RedirectSettings) -> None:
        self._configure(settings)
        if not settings.enabled:
            self._settings = settings
            log.info("SIP redirect %s: disabled", settings.name)
            return
        ctx = self._tls_context(settings)
        sockets, self._inherited = self._inherited, None
        if sockets is None:
            sockets = bind_sockets(
                settings.host,
                settings.udp_port,
                settings.tcp_port,
                settings.tls_port if ctx is not None else None,
                reuse_port=self._reuse_port,
            )
        self._listeners = await open_listeners(self._ctx, sockets, ctx)
        self._settings = settings  # only once bound, so a failed start can be retried
        self._sweeper = asyncio.create_task(self._sweep(), name="sip-idle-sweeper")
        log.info(
            "SIP redirect %s listening on %s %s",
            settings.name,
            settings.host,
            " ".join(f"{t}={p}" for t, p in self._listeners.ports.items()),
        )

    async def _stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self._listeners is not None:
            await self._listeners.close()
            self._listeners = None
        self._ctx.abort_all()
        self._ssl = self._cert = self._cert_stamp = None

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(max(0.05, min(5.0, self._ctx.idle_timeout / 4)))
            self._ctx.sweep_idle()
