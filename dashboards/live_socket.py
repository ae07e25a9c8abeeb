"""The server side of ``/ws/live``: uvicorn's websocket protocol class for the hub.

Role: ``SERVER_OPTIONS["ws"]`` (dashboards/live_ws.py) names ``LiveSocketProtocol``,
so every websocket upgrade uvicorn parses comes here with its transport and request
bytes. ``/ws/live`` is answered here; any other path is forwarded untouched to the
protocol uvicorn would have chosen itself (``ws="auto"``: websockets-sansio today).

Why: a dashboard is an idle connection most of the time, and the hub holds hundreds.
Over ASGI each one keeps, for its whole life, uvicorn's protocol object with its
message queue, ping timers and a copy of the request headers, the ASGI scope,
Starlette's ``WebSocket`` and a suspended coroutine frame in every middleware and
routing layer, and a task running all that: about twice what websockets' own server
holds per connection (tracemalloc, docs/live-api.md "Serving"). Here the ASGI app
still decides the handshake, and only the handshake: Starlette's routing runs
``live_endpoint``, whose refusals are its own HTTP denial responses (401/403 with our
JSON body); on success the endpoint *adopts* the connection through the scope
extension ``ADOPT`` and returns. The ASGI call ends there, and with it the scope,
Starlette's objects and the middleware frames. This protocol then answers 101 and
runs the adopted handler on a ``websockets.asyncio.connection.Connection`` over the
same transport: the connection websockets' own server uses (keepalive pings, flow
control, closing handshake, ``max_size`` → 1009), at that server's cost.

TLS is the transport's business: uvicorn made it with the certificate of the moment
(ops/https.py swaps it for new connections), and nothing here looks at certificates.
permessage-deflate is never offered on ``/ws/live`` (``SERVER_OPTIONS`` explains why).
Without this protocol (Starlette's test client, another ASGI server) the endpoint
finds no ``ADOPT`` in its scope and serves the connection over plain ASGI.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus
from typing import Any, cast
from urllib.parse import unquote

from uvicorn.config import Config
from uvicorn.protocols.utils import get_local_addr, get_remote_addr, is_ssl
from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol
from uvicorn.server import ServerState
from websockets.asyncio.connection import Connection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol

log = logging.getLogger("fedhub.live")
access = logging.getLogger("uvicorn.error")  # where uvicorn's websocket protocols log
wire = logging.getLogger("fedhub.live.wire")
"""websockets' own logger for /ws/live: never below INFO, where it would write every
request header (cookies, bearer tokens) and frame."""
wire.setLevel(logging.INFO)

LIVE_PATH = "/ws/live"
"""The one path this protocol serves itself."""

ADOPT = "fedhub.adopt"
"""ASGI scope extension: ``scope["extensions"][ADOPT]["adopt"](handler)`` during the
handshake takes the connection over; ``handler(connection)`` runs once it is open."""

CLOSE_RESTART = 1012
"""Close code when the server shuts down (what uvicorn's own protocols send)."""

Handler = Callable[[Connection], Awaitable[None]]


class HandshakeError(RuntimeError):
    """The app answered the ``/ws/live`` handshake in a way this protocol does not serve."""


class LiveSocketProtocol(asyncio.Protocol):
    """One upgraded connection: ``/ws/live`` adopted, anything else forwarded."""

    __slots__ = (
        "app_state",
        "closing",
        "config",
        "connection",
        "inner",
        "lost",
        "pending",
        "response",
        "server_state",
        "started",
        "transport",
    )

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not config.loaded:
            config.load()
        self.config = config
        self.server_state = server_state
        self.app_state = app_state
        self.transport: asyncio.Transport | None = None
        self.inner: asyncio.Protocol | None = None  # another path: uvicorn's protocol
        self.connection: Connection | None = None  # /ws/live once it is open
        self.pending: list[bytes] = []  # bytes that came during the handshake
        self.response: Response | None = None  # the 101, once the app adopts
        self.started = False  # the request came: its bytes after it wait in pending
        self.lost = False
        self.closing: asyncio.Task[None] | None = None

    # -- asyncio.Protocol (until the connection is handed over) ------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.inner is not None:
            self.inner.data_received(data)
        elif self.started:
            self.pending.append(data)  # a frame before our 101 (or after a refusal)
        else:
            self.started = True
            self._start(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.inner is not None:
            self.inner.connection_lost(exc)
            return
        self.lost = True
        self.server_state.connections.discard(self)

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    def shutdown(self) -> None:
        """uvicorn is stopping: close an open ``/ws/live`` with 1012, drop a handshake."""
        if self.connection is not None:
            if self.closing is None:
                conn = self.connection
                self.closing = asyncio.get_running_loop().create_task(
                    conn.close(CLOSE_RESTART, "the hub is restarting")
                )
        elif self.transport is not None:
            self.transport.close()

    # -- the handshake ---------------------------------------------------------------------

    def _start(self, data: bytes) -> None:
        """The request uvicorn parsed, as bytes: route it by its path."""
        assert self.transport is not None
        protocol = ServerProtocol(max_size=self.config.ws_max_size, logger=wire)
        protocol.receive_data(data)
        events = protocol.events_received()
        request = events[0] if events else None
        if not isinstance(request, Request):  # websockets cannot serve it on any path
            self.transport.write(b"".join(protocol.data_to_send()))  # its 4xx, if any
            self.transport.close()
            access.info('%s - "WebSocket" 400 (%s)', self._client(), protocol.handshake_exc)
            return
        raw_path = request.path.partition("?")[0]
        if unquote(raw_path) != LIVE_PATH:
            assert AutoWebSocketsProtocol is not None  # websockets is installed: we use it
            self.inner = inner = AutoWebSocketsProtocol(
                config=self.config, server_state=self.server_state, app_state=self.app_state
            )
            inner.connection_made(self.transport)
            inner.data_received(data)
            return
        response = protocol.accept(request)  # a valid websocket request, before the app
        if response.status_code != 101:
            protocol.send_response(response)
            self.transport.write(b"".join(protocol.data_to_send()))
            self.transport.close()
            access.info(
                '%s - "WebSocket %s" %d', self._client(), _shown(request), response.status_code
            )
            return
        self.response = response
        # nothing more is read until the app decides: no frame piles up meanwhile
        self.transport.pause_reading()
        self.server_state.connections.add(self)  # type: ignore[arg-type]
        task = asyncio.get_running_loop().create_task(self._serve(protocol, request))
        self.server_state.tasks.add(task)
        task.add_done_callback(self.server_state.tasks.discard)

    async def _serve(self, protocol: ServerProtocol, request: Request) -> None:
        """The connection's one task: the app's handshake, then the adopted handler."""
        try:
            handler = await self._handshake(protocol, request)
            if handler is None or self.lost:
                return
            client = self._client()
            conn = self._open(protocol)
            access.info('%s - "WebSocket %s" [accepted]', client, _shown(request))
            del request, protocol  # the headers are no longer needed: not kept for hours
            try:
                await handler(conn)
            except Exception:
                log.exception("the /ws/live handler failed")
                await conn.close(1011)
            else:
                await conn.close()
        finally:
            self.server_state.connections.discard(self)
            self.pending = []
            if self.connection is None and self.transport is not None:
                self.transport.close()  # never adopted: whatever the app sent, it ends here

    async def _handshake(self, protocol: ServerProtocol, request: Request) -> Handler | None:
        """Run the ASGI app on the handshake: its handler if it adopted the connection,
        None if it answered (a denial response, a close, an error: already sent)."""
        assert self.transport is not None
        adopted: list[Handler] = []
        answer: list[Any] = []  # status, headers, then body parts
        connected = False

        async def receive() -> dict[str, Any]:
            nonlocal connected
            if connected:
                raise HandshakeError(f"{LIVE_PATH} serves only its handshake over ASGI")
            connected = True
            return {"type": "websocket.connect"}

        async def send(message: dict[str, Any]) -> None:
            kind = message["type"]
            if kind == "websocket.http.response.start":
                answer[:] = [message["status"], list(message.get("headers", ()))]
            elif kind == "websocket.http.response.body" and answer:
                answer.append(message.get("body", b""))
                if not message.get("more_body", False):
                    self._respond(protocol, answer[0], answer[1], b"".join(answer[2:]))
            elif kind == "websocket.close" and not answer:
                answer[:] = [403, []]
                self._respond(protocol, 403, [], b"")
            else:
                raise HandshakeError(
                    f"{LIVE_PATH} is adopted through the {ADOPT!r} extension, not {kind!r}"
                )

        client = self._client()
        try:
            await self.config.loaded_app(self._scope(request, adopted.append), receive, send)
        except Exception:
            log.exception("the /ws/live handshake failed")
            if not answer:
                self._respond(protocol, 500, [], b"")
            access.info('%s - "WebSocket %s" %d', client, _shown(request), 500)
            return None
        if answer or not adopted:
            if not answer:
                answer[:] = [500]
                self._respond(protocol, 500, [], b"")
            access.info('%s - "WebSocket %s" %d', client, _shown(request), answer[0])
            return None
        return adopted[0]

    def _client(self) -> str:
        """The peer as uvicorn's access lines show it: ``host:port``."""
        addr = get_remote_addr(self.transport) if self.transport is not None else None
        return f"{addr[0]}:{addr[1]}" if addr else ""

    def _scope(self, request: Request, adopt: Callable[[Handler], None]) -> dict[str, Any]:
        """The ASGI websocket scope of the handshake (what uvicorn's protocols build)."""
        assert self.transport is not None
        raw_path, _, query = request.path.partition("?")
        root = self.config.root_path
        return {
            "type": "websocket",
            "asgi": {"version": self.config.asgi_version, "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": "wss" if is_ssl(self.transport) else "ws",
            "server": get_local_addr(self.transport),
            "client": get_remote_addr(self.transport),
            "root_path": root,
            "path": root + unquote(raw_path),
            "raw_path": (root + raw_path).encode("ascii"),
            "query_string": query.encode("ascii"),
            "headers": [
                (k.lower().encode("ascii"), v.encode("latin-1", "surrogateescape"))
                for k, v in request.headers.raw_items()
            ],
            "subprotocols": [],
            "state": self.app_state.copy(),
            "extensions": {"websocket.http.response": {}, ADOPT: {"adopt": adopt}},
        }

    def _respond(
        self, protocol: ServerProtocol, status: int, headers: list[Any], body: bytes
    ) -> None:
        """Send an HTTP answer instead of the upgrade, and close."""
        assert self.transport is not None
        if self.lost:
            return
        pairs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]
        names = {k.lower() for k, _ in pairs}
        for k, v in self.server_state.default_headers:
            if k.decode("latin-1") not in names:
                pairs.append((k.decode("latin-1"), v.decode("latin-1")))
        if "content-length" not in names:
            pairs.append(("Content-Length", str(len(body))))
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        protocol.send_response(Response(status, phrase, Headers(pairs), body))
        self.transport.write(b"".join(protocol.data_to_send()))
        self.transport.close()

    def _open(self, protocol: ServerProtocol) -> Connection:
        """Answer 101 and hand the transport to a websockets connection."""
        assert self.transport is not None and self.response is not None
        transport, response, self.response = self.transport, self.response, None
        for k, v in self.server_state.default_headers:
            name = k.decode("latin-1")
            if name.lower() != "date":
                response.headers[name] = v.decode("latin-1")
        protocol.send_response(response)
        conn = Connection(
            protocol,
            ping_interval=self.config.ws_ping_interval,
            ping_timeout=self.config.ws_ping_timeout,
        )
        conn.connection_made(transport)
        transport.set_protocol(conn)
        self.transport = None  # the connection owns it now
        self.connection = conn
        transport.resume_reading()
        conn.send_data()
        if self.pending:
            conn.data_received(b"".join(self.pending))
            self.pending = []
        conn.start_keepalive()
        return conn


def _shown(request: Request) -> str:
    """The request's path for the access log: its query string (which a careless client
    may fill with a token) is left out."""
    path, query, _ = request.path.partition("?")
    return path + ("?…" if query else "")


WRITE_AT_ONCE = 1 << 20
"""Bytes ``write_now`` hands a socket at most in one call (a larger first frame, a
snapshot, goes whole): what a dashboard that stops reading can make the hub hold in
its socket's buffer beyond websockets' write limit, before ``Connection.send`` waits."""


def immediate_writer(conn: Connection) -> Callable[[Sequence[tuple[bytes, bytes]]], int] | None:
    """A synchronous writer of whole text frames for ``conn``, or None if it cannot have one.

    The fan-out's frames are a small head of their own and a body shared by hundreds of
    dashboards (``hub.fanout.OutFrame``). ``Connection.send`` would join, frame and copy
    each one and suspend per frame; this writes the frame header, the head and the
    shared body with one ``writelines`` (on plain TCP under uvloop one ``writev``: the
    body is not copied; TLS encrypts it per connection anyway), at once. It writes only
    while the connection is open, sends no fragmented message and its socket's buffer
    is not over websockets' write limit (``conn.paused``), and at most
    ``WRITE_AT_ONCE`` bytes; it returns how many frames it wrote, and the caller sends
    the rest with ``Connection.send``, which waits for the buffer to drain. Whole frames
    only, as websockets itself writes them, so they never interleave with its pings or
    its close frame. A connection with an extension (permessage-deflate, never
    negotiated on ``/ws/live``) would need its frames encoded: it gets no writer.
    """
    if conn.protocol.extensions:
        return None

    def write_now(frames: Sequence[tuple[bytes, bytes]]) -> int:
        if (
            conn.protocol.state is not State.OPEN
            or conn.paused
            or conn.send_in_progress is not None
            or conn.transport.is_closing()  # aborted: asyncio would drop writes silently
        ):
            return 0
        parts: list[bytes] = []
        size = taken = 0
        for head, body in frames:
            if taken and size >= WRITE_AT_ONCE:
                break
            parts.append(_text_header(len(head) + len(body)) + head)
            if body:
                parts.append(body)
            size += len(head) + len(body)
            taken += 1
        try:
            conn.transport.writelines(parts)
        except (OSError, RuntimeError):  # the transport closed under us: the reader sees it
            return 0
        return taken

    return write_now


def _text_header(size: int) -> bytes:
    """RFC 6455 header of an unmasked, final text frame carrying ``size`` bytes."""
    if size < 126:
        return struct.pack("!BB", 0x81, size)
    if size < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, size)
    return struct.pack("!BBQ", 0x81, 127, size)
