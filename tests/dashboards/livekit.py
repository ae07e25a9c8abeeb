"""A real hub (uvicorn on an ephemeral port) linked to an emulated federation, in one loop.

For the live websocket and one-click call tests: the emulator serves every member on a
loopback port, storage holds the same members bound to it, the hub links to them, and
dashboards connect to ``/ws/live`` over real sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from websockets.asyncio.client import ClientConnection, connect

from dashboards.app import create_app
from dashboards.live_ws import SERVER_OPTIONS
from dashboards.services import HubConfig, Services
from emulator.behaviour import Behaviour
from emulator.federation import RunningFederation, serve_federation
from emulator.spec import EmulatedMemberSpec
from hub.cascade import CascadeState
from hub.controllist import ControlList, VenueFilter
from ops.hub import bootstrap, build_services
from storage.admins import Role
from tests.controllers.linkkit import FAST, QUICK
from tests.support.live_server import free_port

PASSWORD = "Live-Hub-Pass1"


async def until(check: Any, within: float = 10.0, what: str = "") -> None:
    """Wait until ``check()`` holds, re-checking every 20 ms; fail after ``within`` s.

    For conditions that span processes and sockets (a server up, links in sync), which
    no single object here reports as events."""
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while not check():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.02)


@dataclasses.dataclass
class Hub:
    services: Services
    running: RunningFederation
    specs: list[EmulatedMemberSpec]
    ids: dict[str, int]  # emulator key -> member id
    port: int
    tokens: dict[str, str]  # username -> bearer token
    server: uvicorn.Server

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/live"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spec(self, key: str) -> EmulatedMemberSpec:
        return next(s for s in self.specs if s.key == key)

    async def admin(self, username: str, role: str, member_key: str | None, **kw: Any) -> str:
        """Create an account and return a bearer token for it."""
        svc = self.services
        admin = await svc.admins.create(
            username,
            FAST.hash(PASSWORD),
            Role(role),
            None if member_key is None else self.ids[member_key],
            password_change_required=kw.get("must_change", False),
        )
        secret, _ = await svc.tokens.create(admin.id, "test")
        self.tokens[username] = secret
        return secret

    def truth(self, key: str = "prov", f: VenueFilter | None = None) -> dict[tuple, dict]:
        """The control list computed from the emulator's own worlds (not the hub's state)."""
        state = CascadeState()
        for spec in self.specs:
            mid = self.ids[spec.key]
            state.bind_member(mid, spec.domain)
            state.apply_snapshot(mid, self.running.federation.members[spec.key].world.snapshot())
        cl = ControlList(state, self.ids[key], self.spec(key).meeting)
        f = f or VenueFilter()
        return {k: orjson.loads(orjson.dumps(v)) for k, v in cl.venues.items() if f.admits(v)}

    def converged(self) -> bool:
        links = self.services.links
        assert links is not None
        live = self.services.live
        assert live is not None
        return links.manager.all_up() and all(live.in_sync(i) for i in self.ids.values())


async def register(
    services: Services, specs: list[EmulatedMemberSpec], urls: dict[str, str]
) -> dict[str, int]:
    """Store the members (parents first) bound to ``urls``, with cheap link hashes."""
    ids: dict[str, int] = {}
    for spec in specs:
        m = await services.federation.create_member(
            None,
            parent_id=ids[spec.parent_key] if spec.parent_key else None,
            domain=spec.domain,
            display_name=spec.display_name,
            username=spec.username,
            password_hash=FAST.hash(spec.password),
            server_url=urls[spec.key],
        )
        ids[spec.key] = m.id
        for r in spec.ranges:
            await services.federation.add_range(None, m.id, type=r.type, start=r.start, end=r.end)
    return ids


@contextlib.asynccontextmanager
async def live_hub(
    tmp: Path,
    specs: list[EmulatedMemberSpec],
    behaviour: Behaviour | None = None,
    **config: Any,
) -> AsyncIterator[Hub]:
    running = await serve_federation(specs, behaviour=behaviour or Behaviour.instant())
    cfg = HubConfig(data_dir=tmp, db_url=f"sqlite+aiosqlite:///{tmp / 'hub.db'}", **config)
    services = build_services(cfg)
    assert services.links is not None and services.livehub is not None
    services.links.manager.settings = QUICK
    await bootstrap(services)
    ids = await register(services, specs, running.urls)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(services),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            **SERVER_OPTIONS,  # as `fedhub serve` runs: /ws/live on its own protocol
        )
    )
    serving = asyncio.get_running_loop().create_task(server.serve())
    hub = Hub(services, running, specs, ids, port, {}, server)
    try:
        await until(lambda: server.started or serving.done(), 30, "uvicorn started")
        assert not serving.done()
        await until(hub.converged, 30, "every link up and in sync")
        yield hub
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(serving, 15)
        await running.close()


class Dash:
    """One dashboard over a real socket: what it sent and what its screen shows."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self.screens: dict[str, dict[tuple, dict]] = {}
        self.seq: dict[str, int] = {}
        self.trees: dict[str, Any] = {}

    async def send(self, frame: Any) -> None:
        await self.ws.send(
            frame if isinstance(frame, str | bytes) else orjson.dumps(frame).decode()
        )

    def feed(self, f: dict[str, Any]) -> None:
        self.frames.append(f)
        if f["type"] not in ("snapshot", "delta"):
            return
        sid = f["id"]
        if f["type"] == "snapshot":
            self.screens[sid] = {}
        else:
            assert f["seq"] == self.seq[sid] + 1, (sid, f["seq"], self.seq[sid])
        self.seq[sid] = f["seq"]
        if "tree" in f:
            self.trees[sid] = f["tree"]
        screen = self.screens[sid]
        for r in f.get("removed", ()):
            screen.pop((r["member_id"], r["conference"], r["id"]), None)
        for v in f["venues"]:
            screen[(v["member_id"], v["conference"], v["id"])] = v

    async def recv(self, within: float = 30.0) -> dict[str, Any]:
        f = orjson.loads(await asyncio.wait_for(self.ws.recv(), within))
        self.feed(f)
        return f

    async def until(self, check: Any, within: float = 30.0, what: str = "") -> dict[str, Any]:
        """Read frames until ``check(frame)`` holds for one; returns it."""
        end = asyncio.get_running_loop().time() + within
        while True:
            left = end - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what or check}")
            f = await self.recv(left)
            if check(f):
                return f

    async def drain_until(self, check: Any, within: float = 30.0, what: str = "") -> None:
        """Read frames until ``check()`` (on the screen state) holds."""
        end = asyncio.get_running_loop().time() + within
        while not check():
            left = end - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what or check}")
            with contextlib.suppress(TimeoutError):
                await self.recv(min(left, 0.2))


@contextlib.asynccontextmanager
async def dash(
    hub: Hub, token: str | None = None, *, headers: dict[str, str] | None = None, **kw: Any
) -> AsyncIterator[Dash]:
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    async with connect(hub.ws_url, additional_headers=h, **kw) as ws:
        yield Dash(ws)


def slow_socket(port: int) -> socket.socket:
    """A client socket with a tiny receive buffer: it backs up as soon as it stops reading."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    return s
