"""``/ws/live``: the dashboard websocket.

Role: one connection's adapter onto the node's ``LiveHub`` (dashboards/livehub.py):
a reader (inbound frames, validated against ``dashboards.api.asyncapi.INBOUND``); the
hub runs a writer task for it only while it has frames, draining only its own queue
of the fan-out, so a slow dashboard never delays another and an idle one holds none.

Serving: the endpoint decides the handshake over ASGI; once it passes, it *adopts* the
connection when the server offers that (``ADOPT``, dashboards/live_socket.py, named by
``SERVER_OPTIONS``): its ASGI call ends and a websockets connection carries the
dashboard from then on, so no scope, Starlette ``WebSocket`` or middleware frame is
held per dashboard. Servers without it get the same reader over ASGI messages.

Handshake: the session cookie (browsers) or ``Authorization: Bearer fh_…``; no
credentials → 401, an ``Origin`` other than the hub's own → 403, an account that must
change its password → 403, a role other than ``admin`` → 403. Frames larger than
``max_frame`` close the connection with 1009, more than ``rate`` frames per second
(burst ``burst``) with 1008. Commands take the REST command route's path
(``dashboards.api.commands.perform``) and are audited the same way. The frames are
documented in docs/live-api.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.connection import Connection
from websockets.exceptions import ConnectionClosed

from dashboards.api.asyncapi import INBOUND
from dashboards.api.commands import audit_fields, perform
from dashboards.api.live import ADMINS_ONLY
from dashboards.auth import Principal, authenticate, require_password_changed, require_role
from dashboards.body import check_json
from dashboards.errors import ApiError, error_response
from dashboards.forwarded import client_ip, is_https
from dashboards.live_socket import ADOPT, immediate_writer
from dashboards.livehub import Close, LiveHub, LiveSettings, Send, WriteNow
from hub.controllist import ControlList, VenueFilter
from hub.federation import FederationError

log = logging.getLogger("fedhub.live")

CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009

SERVER_OPTIONS: dict[str, Any] = {
    # /ws/live is carried by websockets' own connection once its handshake passed
    # (dashboards/live_socket.py: about half the memory per dashboard of ASGI); any
    # other websocket path keeps the protocol uvicorn would choose.
    "ws": "dashboards.live_socket:LiveSocketProtocol",
    # Each frame of the fan-out is one shared text sent to hundreds of dashboards;
    # permessage-deflate would compress it again per connection (CPU per frame and
    # client) and hold a zlib context pair per connection (~40 KiB each, the largest
    # per-dashboard cost a browser would bring). The stream goes uncompressed.
    "ws_per_message_deflate": False,
    # Refuse absurd inbound frames before buffering them (uvicorn's default is 16 MiB
    # per connection); a frame over ``LiveSettings.max_frame`` characters is closed
    # with 1009 by the connection itself (UTF-8 takes up to 4 bytes a character).
    "ws_max_size": 4 * LiveSettings().max_frame,
}
"""uvicorn settings for the websocket (``fedhub serve``, the demo, the benchmarks)."""


# ---------------------------------------------------------------------------------------
# The endpoint
# ---------------------------------------------------------------------------------------


def own_origin(ws: WebSocket, trusted_proxies: frozenset[str]) -> str:
    """The hub's own origin as the browser names it: scheme://host[:port]."""
    secure = ws.scope.get("scheme") in ("https", "wss") or is_https(ws.scope, trusted_proxies)
    return f"{'https' if secure else 'http'}://{ws.headers.get('host', '')}".lower()


def same_origin(origin: str, own: str) -> bool:
    def norm(u: str) -> tuple[str, str, int | None]:
        p = urlsplit(u.strip().lower())
        try:
            port = p.port or (443 if p.scheme == "https" else 80)
        except ValueError:
            return ("", "", None)
        return (p.scheme, p.hostname or "", port)

    return norm(origin) == norm(own) and norm(own)[1] != ""


async def live_endpoint(ws: WebSocket) -> None:
    """The handshake's checks, then the connection: adopted by the server when it offers
    ``ADOPT`` (dashboards/live_socket.py, how ``fedhub serve`` runs), over ASGI if not."""
    services = ws.app.state.services
    hub: LiveHub | None = services.livehub
    config = services.config
    try:
        origin = ws.headers.get("origin")
        if origin is not None and not same_origin(origin, own_origin(ws, config.trusted_proxies)):
            raise ApiError(
                403, "foreign_origin", "this websocket accepts the hub's own origin only"
            )
        principal = await authenticate(ws, services)
        require_password_changed(principal)
        require_role(principal, ADMINS_ONLY)
        if hub is None:
            raise ApiError(404, "live_disabled", "this node does not serve the live hub")
    except ApiError as e:
        log.info(
            "refused /ws/live from %s: %s %s",
            client_ip(ws.scope, config.trusted_proxies),
            e.status,
            e.code,
        )
        await ws.send_denial_response(error_response(e))
        return
    conn = _Connection(hub, services, principal, client_ip(ws.scope, config.trusted_proxies))
    adopt = ws.scope.get("extensions", {}).get(ADOPT, {}).get("adopt")
    if adopt is not None:
        adopt(conn.serve_adopted)  # this ASGI call ends here; the server runs the rest
        return
    await ws.accept()
    await conn.serve_asgi(ws)


class _Connection:
    """One dashboard: its reader loop and its commands (the hub runs its writer)."""

    __slots__ = ("_inflight", "_last", "_tokens", "cid", "close", "hub", "ip", "me", "services")

    def __init__(self, hub: LiveHub, services: Any, principal: Principal, ip: str) -> None:
        self.hub, self.services, self.me, self.ip = hub, services, principal, ip
        self.cid = 0
        self._tokens = float(hub.settings.burst)
        self._last = hub.clock()
        self._inflight: set[asyncio.Task[None]] | None = None  # made by the first command
        self.close: Close | None = None

    async def serve_adopted(self, conn: Connection) -> None:
        """Over the websockets connection the server handed over (``ADOPT``)."""

        async def send(head: bytes, body: bytes) -> None:
            await conn.send(head + body, text=True)

        with contextlib.suppress(ConnectionClosed):
            await self._serve(conn, send, conn.close, immediate_writer(conn))

    async def serve_asgi(self, ws: WebSocket) -> None:
        """Over ASGI messages (a server without ``ADOPT``)."""

        async def frames() -> AsyncIterator[str | bytes]:
            while True:
                msg = await ws.receive()
                if msg["type"] == "websocket.disconnect":
                    return
                text = msg.get("text")
                yield text if text is not None else (msg.get("bytes") or b"")

        async def send(head: bytes, body: bytes) -> None:
            await ws.send({"type": "websocket.send", "text": (head + body).decode()})

        with contextlib.suppress(WebSocketDisconnect):
            await self._serve(frames(), send, ws.close)

    async def _serve(
        self,
        frames: AsyncIterable[str | bytes],
        send: Send,
        close: Close,
        write_now: WriteNow | None = None,
    ) -> None:
        self.close = close
        self.cid = self.hub.open(send, close, write_now)
        try:
            await self._reader(frames)
        finally:
            for task in list(self._inflight or ()):
                task.cancel()
            self.hub.close(self.cid)

    async def _reader(self, frames: AsyncIterable[str | bytes]) -> None:
        s = self.hub.settings
        assert self.close is not None
        async for data in frames:
            if len(data) > s.max_frame:
                await self.close(CLOSE_TOO_BIG, f"frames are limited to {s.max_frame} bytes")
                return
            if not self._take_token():
                await self.close(CLOSE_POLICY, f"more than {s.rate:g} frames per second")
                return
            if not isinstance(data, str):
                self._error(None, "bad_frame", "send JSON text frames")
                continue
            self._handle(data)

    def _take_token(self) -> bool:
        s, now = self.hub.settings, self.hub.clock()
        self._tokens = min(float(s.burst), self._tokens + (now - self._last) * s.rate)
        self._last = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def _error(self, frame_id: object, code: str, message: str) -> None:
        fid = frame_id if isinstance(frame_id, str) and len(frame_id) <= 64 else None
        self.hub.reply(self.cid, {"type": "error", "id": fid, "code": code, "message": message})

    def _handle(self, text: str) -> None:
        try:
            frame = orjson.loads(text)
        except orjson.JSONDecodeError as e:
            return self._error(None, "bad_frame", f"not JSON: {e}")
        if not isinstance(frame, dict):
            return self._error(None, "bad_frame", "a frame is a JSON object with a type")
        kind, fid = frame.get("type"), frame.get("id")
        schema = INBOUND.get(kind) if isinstance(kind, str) else None
        if schema is None:
            known = ", ".join(sorted(INBOUND))
            return self._error(fid, "unknown_type", f"type must be one of {known}")
        try:
            check_json(frame, schema)
        except ApiError as e:
            return self._error(fid, "invalid_frame", e.message)
        if kind == "subscribe":
            self._spawn(self._subscribe(frame))
        elif kind == "unsubscribe":
            if not self.hub.fanout.unsubscribe(self.cid, str(fid)):
                self._error(fid, "unknown_subscription", f"no subscription {fid!r} is open")
        else:
            if len(self._inflight or ()) >= self.hub.settings.commands_in_flight:
                return self._error(fid, "busy", "too many commands in flight; wait for results")
            self._spawn(self._command(frame))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        if self._inflight is None:
            self._inflight = set()
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _subscribe(self, f: dict[str, Any]) -> None:
        filters = f.get("filters", {})
        try:
            view = await self.services.federation.current()
            fed = view.federation
            if f["member_id"] not in fed or not fed.is_within(self.me.scope, f["member_id"]):
                return self._unseen(f)  # the same answer as for a conference not running
            vf = VenueFilter.build(
                fed,
                self.me.scope,
                filters.get("members"),
                filters.get("status"),
                filters.get("muted"),
                filters.get("camera_on"),
            )
        except FederationError as e:
            return self._error(f["id"], e.code, e.message)
        refusal = self.hub.fanout.subscribe(self.cid, f["id"], f["member_id"], f["conference"], vf)
        if refusal is not None and refusal.code == "not_found":
            return self._unseen(f)
        if refusal is not None:
            return self._error(f["id"], refusal.code, refusal.message)
        self.hub.wake(self.cid)

    def _unseen(self, f: dict[str, Any]) -> None:
        """One refusal for a conference the caller may not watch, whether the member is
        outside its scope, unknown, or does not run it: no answer tells them apart."""
        self._error(
            f["id"],
            "not_found",
            f"member {f['member_id']} runs no conference {f['conference']!r} you may watch",
        )

    # -- commands ------------------------------------------------------------------------

    async def _command(self, f: dict[str, Any]) -> None:
        fut, new = self.hub.remembered(self.me.admin.id, f["id"])
        if new:
            try:
                fut.set_result(await self._execute(f))
            except Exception as e:  # never leave a remembered command unanswered
                log.exception("command %s failed", f["id"])
                fut.set_result(
                    [self._result(f["id"], "failed", f"internal error: {type(e).__name__}")]
                )
        for frame in await asyncio.shield(fut):
            self.hub.reply(self.cid, frame)

    @staticmethod
    def _result(cid: str, status: str, reason: str, **extra: object) -> dict[str, Any]:
        return {"type": "result", "id": cid, "status": status, "reason": reason, **extra}

    async def _execute(self, f: dict[str, Any]) -> list[dict[str, Any]]:
        cid = f["id"]
        if "venues" in f or "selection" in f:
            if f["kind"] in ("layout", "call") or "venue" in f:
                return [
                    self._result(
                        cid,
                        "failed",
                        "invalid_frame: selections take venue commands and no 'venue'",
                    )
                ]
            targets = await self._selection(f)
            if isinstance(targets, str):
                return [self._result(cid, "failed", targets)]
            if not targets:
                return [self._result(cid, "failed", "the selection holds no venue in your scope")]
            results = await asyncio.gather(*(self._one(f, t, len(targets)) for t in targets))
            return list(results)
        return [await self._one(f, (f["member_id"], f["conference"], f.get("venue", "")), 0)]

    async def _selection(self, f: dict[str, Any]) -> list[tuple[int, str, str]] | str:
        view = await self.services.federation.current()
        fed = view.federation
        try:
            fed.require_within(self.me.scope, f["member_id"])
        except FederationError as e:
            return f"{e.code}: {e.message}"
        allowed = VenueFilter.build(fed, self.me.scope)
        listed = ControlList(self.hub.reader, f["member_id"], f["conference"])
        if not listed.exists:
            return f"not_found: member {f['member_id']} runs no conference {f['conference']!r} now"
        if f.get("selection") == "all":
            return [k for k, v in listed.venues.items() if allowed.admits(v)]
        wanted = {(r["member_id"], r["conference"], r["id"]) for r in f["venues"]}
        return [k for k in wanted if k in listed.venues and allowed.admits(listed.venues[k])] + [
            k for k in wanted if k not in listed.venues
        ]

    async def _one(
        self, f: dict[str, Any], target: tuple[int, str, str], of: int
    ) -> dict[str, Any]:
        mid, conference, venue = target
        body: dict[str, Any] = {"kind": f["kind"], "conference": conference}
        body["id"] = f["id"] if not of else _sub_id(f["id"], target)
        if venue:
            body["venue"] = venue
        for k in ("args", "deadline_s"):
            if k in f:
                body[k] = f[k]
        extra: dict[str, object] = (
            {"venue": {"member_id": mid, "conference": conference, "id": venue}, "of": of}
            if of
            else {}
        )
        target_text, details = audit_fields(mid, body)
        details["via"] = "ws"
        try:
            out = await perform(self.services, self.me.scope, mid, body, details)
        except FederationError as e:
            await self._audit(target_text, "refused", f"{e.code}: {e.message}", details)
            return self._result(f["id"], "failed", f"{e.code}: {e.message}", **extra)
        except ApiError as e:
            await self._audit(target_text, "refused", f"{e.code}: {e.message}", details)
            return self._result(f["id"], "failed", f"{e.code}: {e.message}", **extra)
        await self._audit(target_text, "ok", "", details)
        return self._result(f["id"], out["status"], out["reason"], **extra)

    async def _audit(
        self, target: str, result: str, reason: str, details: dict[str, object]
    ) -> None:
        p = self.me
        try:
            await self.services.audit.record(
                action="command",
                result=result,
                admin_id=p.admin.id,
                admin_name=p.label,
                member_id=p.admin.member_id,
                source_ip=self.ip,
                target=target,
                reason=reason,
                details=details,
            )
        except Exception:
            log.exception("could not write the audit log for a live command")


def _sub_id(command_id: str, target: tuple[int, str, str]) -> str:
    """The member-link command id of one venue of a selection (stable, ≤ 64 chars)."""
    digest = hashlib.blake2s(repr(target).encode(), digest_size=6).hexdigest()
    return f"{command_id[:51]}-{digest}"


def live_route() -> WebSocketRoute:
    return WebSocketRoute("/ws/live", live_endpoint)
