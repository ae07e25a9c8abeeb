"""The emulator's listening side: many member servers behind one loopback port.

Role: accepts hub links on ``/fed/link/<member-domain>`` (or ``/fed/link``, where the
member is picked by the username in the hub's hello), runs one ``MemberLinkSession``
per connection and wires it to its ``EmulatedMember``. One ticker task serves every
connection's timers and the members' call statistics, so thousands of members cost
two tasks per connection (reader, writer) and nothing per idle member.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import time
from collections import deque
from collections.abc import Iterable
from http import HTTPStatus
from ssl import SSLContext
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from controllers.config import is_loopback
from controllers.messages import SnapshotMessage, encode
from controllers.sso import SSO_PATH, SsoError
from emulator import link
from emulator.member import EmulatedMember

log = logging.getLogger("fedhub.emulator")
LINK_PATH = "/fed/link"


class Connection:
    """One hub link: an ordered outbound queue drained by a writer task."""

    def __init__(self, ws: ServerConnection, session: link.MemberLinkSession | None) -> None:
        self.ws = ws
        self.session = session
        self._queue: deque[bytes | link.Close] = deque()
        self._wake = asyncio.Event()

    @property
    def up(self) -> bool:
        return self.session is not None and self.session.up

    @property
    def backlog(self) -> int:
        return len(self._queue)

    def enqueue(self, data: bytes | link.Close) -> None:
        self._queue.append(data)
        self._wake.set()

    async def writer(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                item = self._queue.popleft()
                if isinstance(item, link.Close):
                    await self.ws.close(item.code, item.reason[:120])
                    return
                await self.ws.send(item, text=True)


class EmulatorServer:
    """Serves the given members on ``host:port`` (loopback only; port 0 picks one)."""

    def __init__(
        self,
        members: Iterable[EmulatedMember],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_frame: int = 8 * 1024 * 1024,
        idle_timeout: float = 30.0,
        tick: float = 0.5,
        ssl: SSLContext | None = None,
    ) -> None:
        if not is_loopback(host):
            raise ValueError(f"the emulator listens on loopback only, not {host!r}")
        self.members = {m.spec.domain: m for m in members}
        self._by_username = {m.spec.username: m for m in self.members.values()}
        self.host, self.port = host, port
        self.max_frame, self.idle_timeout, self.tick = max_frame, idle_timeout, tick
        self.ssl = ssl
        self.connections: set[Connection] = set()
        self._server: Server | None = None
        self._ticker: asyncio.Task[None] | None = None

    def url_for(self, domain: str) -> str:
        scheme = "wss" if self.ssl is not None else "ws"
        return f"{scheme}://{self.host}:{self.port}{LINK_PATH}/{domain}"

    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._route,
            max_size=self.max_frame,
            ping_interval=None,
            compression=None,
            close_timeout=1.0,
            backlog=4096,
            server_header=None,
            ssl=self.ssl,
        )
        sock = next(iter(self._server.sockets))
        self.port = sock.getsockname()[1]
        self._ticker = asyncio.create_task(self._tick_loop(), name="emulator-ticker")

    async def stop(self) -> None:
        """Close the port and every link (as if the server process died)."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._server is not None:
            self._server.close(close_connections=True)
            await self._server.wait_closed()
        for member in self.members.values():
            member.outlets.clear()

    async def __aenter__(self) -> EmulatorServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- connections -----------------------------------------------------------------

    def _route(self, conn: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0].rstrip("/")
        if path == LINK_PATH:
            return None
        if path.startswith(SSO_PATH + "/"):
            return self._sign_in(conn, path[len(SSO_PATH) + 1 :], request.path)
        if path.startswith(LINK_PATH + "/") and path[len(LINK_PATH) + 1 :] in self.members:
            return None
        return conn.respond(HTTPStatus.NOT_FOUND, "no such member link\n")

    def _sign_in(self, conn: ServerConnection, domain: str, target: str) -> Response:
        """Single sign-on from the hub: a valid token opens the (minimal) admin page."""
        member = self.members.get(domain)
        if member is None:
            return conn.respond(HTTPStatus.NOT_FOUND, "no such member\n")
        query = parse_qs(urlsplit(target).query)
        token = (query.get("token") or [""])[0]
        try:
            sign_in = member.sso.verify(token, member.wall())
        except SsoError as exc:
            log.info("member %s refused a sign-in: %s", domain, exc)
            member.sso_refused += 1
            return conn.respond(HTTPStatus.FORBIDDEN, "sign-in refused\n")
        member.sso_signed_in.append(sign_in.admin)
        page = (
            "<!doctype html><meta charset=utf-8><title>Administration</title>"
            f"<h1>{html.escape(member.spec.display_name)}</h1>"
            f"<p>Signed in from the federation hub as <b>{html.escape(sign_in.admin)}</b>.</p>"
            f"<p>Accounts held: {len(member.data.items('user_accounts'))}</p>"
        )
        response = conn.respond(HTTPStatus.OK, page)
        response.headers["Content-Type"] = "text/html; charset=utf-8"
        response.headers["Cache-Control"] = "no-store"
        return response

    def _member_for(self, path: str, first: bytes) -> EmulatedMember | None:
        path = path.split("?", 1)[0].rstrip("/")
        if path != LINK_PATH:
            return self.members.get(path[len(LINK_PATH) + 1 :])
        if len(self.members) == 1:
            return next(iter(self.members.values()))
        try:  # pick by the hello's username; anything odd is left to the session
            username = orjson.loads(first).get("username")
        except (orjson.JSONDecodeError, AttributeError):
            return None
        return self._by_username.get(username) if isinstance(username, str) else None

    async def _handle(self, ws: ServerConnection) -> None:
        conn = Connection(ws, None)
        writer = asyncio.create_task(conn.writer())
        member: EmulatedMember | None = None
        try:
            first = await ws.recv(decode=False)
            member = self._member_for(ws.request.path if ws.request else "", first)
            if member is None:
                await ws.close(1008, "no such member")
                return
            conn.session = link.MemberLinkSession(
                domain=member.spec.domain,
                epoch=member.world.epoch,
                authenticator=member.authenticator,
                now=time.monotonic(),
                max_frame=self.max_frame,
                idle_timeout=self.idle_timeout,
            )
            self.connections.add(conn)
            member.outlets.add(conn)
            data = first
            while True:
                if not member.frozen:
                    self._carry_out(member, conn, conn.session.receive(data, time.monotonic()))
                if conn.session.closed:
                    await writer
                    return
                data = await ws.recv(decode=False)
        except ConnectionClosed:
            pass
        finally:
            self.connections.discard(conn)
            if member is not None:
                member.outlets.discard(conn)
            writer.cancel()

    def _carry_out(
        self, member: EmulatedMember, conn: Connection, outputs: list[link.Output]
    ) -> None:
        for out in outputs:
            if isinstance(out, link.Send):
                conn.enqueue(encode(out.message))
            elif isinstance(out, link.SnapshotWanted):
                conn.enqueue(encode(SnapshotMessage(member.world.snapshot())))
            elif isinstance(out, link.CommandReceived):
                member.on_command(out.command)
            elif isinstance(out, link.SyncReceived):
                member.on_sync(out.sync)
            elif isinstance(out, link.Close):
                log.info("link to %s closed: %s", member.spec.domain, out.reason)
                conn.enqueue(out)
            # link.Authenticated: conn.up now holds; events flow to it from here on

    async def _tick_loop(self) -> None:
        next_stats: dict[str, float] = {}
        while True:
            await asyncio.sleep(self.tick)
            now = time.monotonic()
            for conn in list(self.connections):
                if conn.session is not None:
                    member = self.members[conn.session.domain]
                    self._carry_out(member, conn, conn.session.tick(now))
            for domain, member in self.members.items():
                interval = member.behaviour.stats_interval
                if interval <= 0 or member.frozen or not member.outlets:
                    continue
                due = next_stats.setdefault(domain, now + interval * member.rng.random())
                if now >= due:
                    next_stats[domain] = now + interval
                    member.tick_stats()
