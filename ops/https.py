"""Serving the hub over HTTPS with a certificate that can change while it runs.

uvicorn builds its own SSLContext from files once; here the context is ours
(`sip.tls.server_context`, a `ReloadableContext`) and handed to uvicorn through a
`Config` subclass, so an imported certificate reaches new connections at once:
in-process imports call the store's listeners, and every 5 s the server's tick
looks whether another process (``fedhub cert import``) replaced the files.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from typing import Any

import uvicorn

from ops.certs import CertificateStore
from sip.tls import server_context

CHECK_EVERY_TICKS = 50  # uvicorn ticks every 0.1 s: look at the files every 5 s


def web_context(store: CertificateStore) -> ssl.SSLContext:
    """The web server's context on the store's current pair (self-signed on first
    start); it follows every change of the store."""
    ctx = server_context(*store.ensure())
    ctx.set_alpn_protocols(["http/1.1"])
    store.on_change(lambda cert, key: ctx.load_cert_chain(cert, key))
    return ctx


class TlsConfig(uvicorn.Config):
    """A uvicorn config whose SSL context is the one given, not one built from files."""

    def __init__(self, app: Any, *, ssl_context: ssl.SSLContext | None, **kw: Any):
        super().__init__(app, **kw)
        self._ssl_context = ssl_context
        self._loading = False

    @property
    def is_ssl(self) -> bool:  # for uvicorn's "running on https://…" line
        return (self._ssl_context is not None and not self._loading) or super().is_ssl

    def load(self) -> None:
        self._loading = True  # uvicorn's load() would build a context from files
        try:
            super().load()
        finally:
            self._loading = False
        if self._ssl_context is not None:
            self.ssl = self._ssl_context


class HubServer(uvicorn.Server):
    """uvicorn's server, looking at the certificate files on its tick, and telling
    ``on_ready`` once the app has started and the socket listens (not before)."""

    def __init__(
        self,
        config: uvicorn.Config,
        certificates: CertificateStore | None,
        on_ready: Callable[[], None] | None = None,
    ):
        super().__init__(config)
        self.certificates = certificates
        self.on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and not self.should_exit and self.on_ready is not None:
            self.on_ready()

    async def on_tick(self, counter: int) -> bool:
        if self.certificates is not None and counter % CHECK_EVERY_TICKS == 0:
            self.certificates.notify_if_changed()
        return await super().on_tick(counter)


def hub_server(
    app: Any,
    *,
    host: str,
    port: int,
    certificates: CertificateStore | None,
    https: bool = True,
    on_ready: Callable[[], None] | None = None,
    **kw: Any,
) -> HubServer:
    """A server for `app`: HTTPS on the store's certificate unless `https` is False."""
    ctx = web_context(certificates) if https and certificates is not None else None
    config = TlsConfig(app, ssl_context=ctx, host=host, port=port, **kw)
    return HubServer(config, certificates if ctx is not None else None, on_ready)
