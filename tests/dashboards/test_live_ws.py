"""/ws/live over real sockets: uvicorn on an ephemeral port, linked to the emulator."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect
from websockets.asyncio.connection import Connection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from dashboards.api.asyncapi import INBOUND
from emulator.activity import Activity, drive
from emulator.federation import build_demo_federation
from hub.conference import VenueStatus
from hub.controllist import VenueFilter
from tests.dashboards.livekit import PASSWORD, Hub, dash, live_hub, slow_socket, until

pytestmark = pytest.mark.timeout(120)

# province, 2 cities, and one county -> township -> village line under each city
SPECS = build_demo_federation(21, cities=2, counties=1, townships=1, villages=(1, 1))


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    async with live_hub(tmp_path, SPECS) as h:
        await h.admin("root", "admin", None)
        await h.admin("cityops", "admin", "city1")
        yield h


def sub(sid: str, hub: Hub, key: str = "prov", **filters: object) -> dict:
    frame = {"type": "subscribe", "id": sid, "member_id": hub.ids[key]}
    frame["conference"] = hub.spec(key).meeting
    if filters:
        frame["filters"] = filters
    return frame


async def raw_handshake(hub: Hub, request: bytes) -> bytes:
    """Send ``request`` as the raw bytes of an HTTP request; everything the hub answers
    until it closes the connection (it must close: a hang fails here)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)  # until the hub closes
    finally:
        writer.close()


UPGRADE = (
    b"GET /ws/live HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
)
KEY = b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"


async def test_a_malformed_upgrade_is_refused_before_the_app_and_closed(hub: Hub) -> None:
    # no key: not a websocket request, whoever sends it (the app would have said 401)
    answer = await raw_handshake(hub, UPGRADE + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    # a body websockets cannot take: answered or closed, never left hanging
    answer = await raw_handshake(hub, UPGRADE + KEY + b"Content-Length: 5\r\n\r\nhello")
    assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), answer


class AccessLines(logging.Handler):
    """Every line uvicorn's error/access logger writes, and an event per awaited text."""

    def __init__(self, awaited: str) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self.awaited, self.seen = awaited, asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(line := record.getMessage())
        if self.awaited in line:
            self.seen.set()


async def test_odd_header_bytes_and_query_strings_stay_harmless(hub: Hub) -> None:
    access = logging.getLogger("uvicorn.error")  # the server runs at "warning"
    lines = AccessLines('"WebSocket /ws/live?…" 401')
    level = access.level
    access.setLevel(logging.INFO)
    access.addHandler(lines)
    try:
        request = UPGRADE.replace(b"/ws/live", b"/ws/live?token=fh_secret-in-query")
        answer = await raw_handshake(hub, request + KEY + b"X-Name: \xe9\xff\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 401 "), answer  # refused by the app, not a 500
        await asyncio.wait_for(lines.seen.wait(), 10)  # the access line, query left out
    finally:
        access.removeHandler(lines)
        access.setLevel(level)
    assert not any("fh_secret" in line for line in lines.lines), lines.lines


async def test_handshake_refusals(hub: Hub) -> None:
    with pytest.raises(InvalidStatus) as e:
        async with dash(hub):
            pass
    assert e.value.response.status_code == 401
    assert b"unauthenticated" in e.value.response.body
    with pytest.raises(InvalidStatus) as e:
        async with dash(hub, "fh_not-a-token"):
            pass
    assert e.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as e:  # cross-site websocket hijacking
        async with dash(hub, hub.tokens["root"], origin="http://evil.example"):  # type: ignore[arg-type]
            pass
    assert e.value.response.status_code == 403 and b"foreign_origin" in e.value.response.body
    token = await hub.admin("newbie", "admin", None, must_change=True)
    with pytest.raises(InvalidStatus) as e:
        async with dash(hub, token):
            pass
    assert e.value.response.status_code == 403
    assert b"password_change_required" in e.value.response.body
    token = await hub.admin("aud", "auditor", None)
    with pytest.raises(InvalidStatus) as e:
        async with dash(hub, token):
            pass
    assert e.value.response.status_code == 403
    # the hub's own origin and a browser session cookie are welcome
    async with httpx.AsyncClient(base_url=hub.base) as http:
        r = await http.post("/api/v1/auth/login", json={"username": "root", "password": PASSWORD})
        assert r.status_code == 200, r.text
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    own = f"http://127.0.0.1:{hub.port}"
    async with dash(hub, headers={"Cookie": cookie}, origin=own) as d:  # type: ignore[arg-type]
        await d.send(sub("s", hub))
        assert (await d.recv())["type"] == "snapshot"


async def test_snapshot_and_deltas_equal_the_state_after_a_long_random_run(hub: Hub) -> None:
    members = list(hub.running.federation.members.values())
    async with dash(hub, hub.tokens["root"]) as d:
        await d.send(sub("all", hub))
        await d.send(sub("joined", hub, status=["joined"], members=[hub.ids["city2"]]))
        snap = await d.until(lambda f: f["type"] == "snapshot" and f["id"] == "all")
        assert snap["seq"] == 1 and snap["tree"]["member_id"] == hub.ids["prov"]
        assert len(list(_walk(snap["tree"]))) == len(SPECS)
        assert d.screens["all"] == hub.truth()
        activity = asyncio.get_running_loop().create_task(
            drive(members, Activity.flood(400), seed=5)
        )
        seen = 0
        while seen < 60:  # a long random run: many deltas, joins, leaves, mutes, stats
            f = await d.recv(60)  # generous: CI machines can be very busy
            seen += f["type"] == "delta"
        activity.cancel()
        with pytest.raises(asyncio.CancelledError):
            await activity
        await d.drain_until(lambda: d.screens["all"] == hub.truth(), 60, "the full list")
        city2 = hub.services.federation
        view = await city2.current()
        f = VenueFilter.build(view.federation, None, [hub.ids["city2"]], ["joined"])
        await d.drain_until(lambda: d.screens["joined"] == hub.truth(f=f), 60, "filtered")
        assert d.screens["joined"] and all(
            v["status"] == "joined" and v["member_id"] != hub.ids["city1"]
            for v in d.screens["joined"].values()
        )
        assert max(d.seq.values()) > 10


def _walk(tree: dict):
    yield tree
    for c in tree["children"]:
        yield from _walk(c)


async def test_scope_a_city_admin_sees_only_its_subtree(hub: Hub) -> None:
    async with dash(hub, hub.tokens["cityops"]) as d:
        await d.send(sub("prov", hub))
        err = await d.recv()
        assert err["type"] == "error" and err["id"] == "prov" and err["code"] == "not_found"
        await d.send(sub("p2", hub, "prov", members=[hub.ids["city1"]]))
        assert (await d.recv())["code"] == "not_found"
        await d.send(sub("sib", hub, "city2"))
        outside = await d.recv()
        await d.send({**sub("gone", hub, "city1"), "conference": "999999999"})
        assert (await d.recv())["code"] == "not_found"
        await d.send({**sub("nobody", hub, "city2"), "member_id": 99999})
        unknown = await d.recv()
        # outside the scope and unknown: one answer (only the echoed member id differs)
        assert set(outside) == set(unknown) == {"type", "id", "code", "message"}
        assert outside["code"] == unknown["code"] == "not_found"
        assert outside["message"].replace(str(hub.ids["city2"]), "M") == unknown["message"].replace(
            "99999", "M"
        )
        await d.send(sub("mine", hub, "city1"))
        snap = await d.until(lambda f: f["type"] == "snapshot")
        assert {n["member_id"] for n in _walk(snap["tree"])} <= {
            hub.ids[k] for k in hub.ids if k.startswith("city1")
        }
        await d.drain_until(lambda: d.screens["mine"] == hub.truth("city1"), what="own list")
        assert {v["member_id"] for v in d.screens["mine"].values()} <= {
            hub.ids[k] for k in hub.ids if k.startswith("city1")
        }
        assert not [f for f in d.frames if f["type"] == "snapshot" and f["id"] != "mine"]


async def test_bad_frames_get_errors_and_the_connection_stays(hub: Hub) -> None:
    async with dash(hub, hub.tokens["root"]) as d:
        bad = [
            "not json",
            "[1, 2]",
            '{"no": "type"}',
            '{"type": "dance", "id": "x"}',
            '{"type": "subscribe", "id": "s1"}',
            '{"type": "subscribe", "id": "s1", "member_id": "1", "conference": "1"}',
            '{"type": "subscribe", "id": "s1", "member_id": 1, "conference": "1", "extra": 1}',
            '{"type": "command", "id": "c1", "member_id": 1, "conference": "1", "kind": "explode"}',
            '{"type": "unsubscribe", "id": "never"}',
            '{"type": "subscribe", "id": "s\\u0000", "member_id": 1, "conference": "1"}',
        ]
        for raw in bad:
            await d.send(raw)
            f = await d.recv()
            assert f["type"] == "error" and f["code"] and f["message"], raw
        await d.send(b"\x00binary")
        assert (await d.recv())["code"] == "bad_frame"
        await d.send(sub("ok", hub))
        assert (await d.recv())["type"] == "snapshot"  # still connected and served


async def test_frame_size_and_rate_limits_close_the_connection(hub: Hub) -> None:
    async with dash(hub, hub.tokens["root"]) as d:
        await d.send('{"type":"unsubscribe","id":"' + "x" * 70_000 + '"}')
        with pytest.raises(ConnectionClosed) as e:
            await d.recv()
        assert e.value.rcvd is not None and e.value.rcvd.code == 1009
    async with dash(hub, hub.tokens["root"]) as d:
        for i in range(200):
            try:
                await d.send({"type": "unsubscribe", "id": f"n{i}"})
            except ConnectionClosed:
                break
        with pytest.raises(ConnectionClosed) as e:
            while True:
                await d.recv()
        assert e.value.rcvd is not None and e.value.rcvd.code == 1008


def _venue(hub: Hub, key: str, status: str = "joined") -> tuple[str, str]:
    m = hub.running.federation.members[key]
    conf = hub.spec(key).meeting
    for v in m.world.snapshot().conferences:
        if v.number == conf:
            for venue in v.venues:
                if venue.cascade is None and venue.status == status:
                    return conf, venue.id
    raise AssertionError("no such venue")


async def test_commands_one_result_idempotent_audited(hub: Hub) -> None:
    conf, venue = _venue(hub, "city1.county1")
    mid = hub.ids["city1.county1"]
    member = hub.running.federation.members["city1.county1"]
    muted = member.world.venue(conf, venue).muted  # type: ignore[union-attr]
    kind = "unmute" if muted else "mute"
    cmd = {"type": "command", "id": "cmd-1", "member_id": mid, "conference": conf}
    cmd |= {"venue": venue, "kind": kind, "deadline_s": 5}
    async with dash(hub, hub.tokens["root"]) as d:
        await d.send(sub("s", hub))
        # the snapshot first: a result is a reply and may otherwise overtake it
        await d.until(lambda f: f["type"] == "snapshot")
        await d.send(cmd)
        r1 = await d.until(lambda f: f["type"] == "result")
        assert r1 == {"type": "result", "id": "cmd-1", "status": "ok", "reason": ""}
        await d.drain_until(lambda: d.screens["s"][(mid, conf, venue)]["muted"] is not muted)
        await d.send(cmd)  # the same id again: the first result, no second action
        assert await d.until(lambda f: f["type"] == "result") == r1
    async with dash(hub, hub.tokens["cityops"]) as d:  # a city admin: its own subtree only
        await d.send({**cmd, "id": "cmd-2", "member_id": hub.ids["city2"]})
        r = await d.until(lambda f: f["type"] == "result")
        assert r["status"] == "failed" and r["reason"].startswith("outside_scope")
    entries = [
        e
        for e in await _audit(hub)
        if e.action == "command" and e.details.get("id") in ("cmd-1", "cmd-2")
    ]
    assert sorted((e.details["id"], e.result) for e in entries) == [
        ("cmd-1", "ok"),
        ("cmd-2", "refused"),
    ]
    assert entries[0].details.get("via") == "ws"


async def _audit(hub: Hub) -> list:
    from storage.audit import AuditQuery

    return list(await hub.services.audit.query(AuditQuery(limit=500)))


async def test_a_frozen_member_times_out_and_its_venues_turn_stale(hub: Hub) -> None:
    conf, venue = _venue(hub, "city2.county1.town1")
    key = "city2.county1.town1"
    mid = hub.ids[key]
    async with dash(hub, hub.tokens["root"]) as d:
        await d.send(sub("s", hub))
        await d.until(lambda f: f["type"] == "snapshot")
        hub.running.federation.members[key].frozen = True
        cmd = {"type": "command", "id": "t-1", "member_id": mid, "conference": conf}
        await d.send(cmd | {"venue": venue, "kind": "mute", "deadline_s": 0.3})
        r = await d.until(lambda f: f["type"] == "result")
        assert r["status"] == "timeout" and r["reason"]
        await d.drain_until(
            lambda: all(v["stale"] for k, v in d.screens["s"].items() if k[0] == mid),
            what="stale venues",
        )
        node = next(n for n in _walk(d.trees["s"]) if n["member_id"] == mid)
        assert node["stale"] is True
        assert not any(v["stale"] for k, v in d.screens["s"].items() if k[0] != mid)
        hub.running.federation.members[key].frozen = False
        await d.drain_until(
            lambda: not any(v["stale"] for v in d.screens["s"].values()), what="back up"
        )


async def test_a_link_going_down_marks_its_venues_stale_as_the_manager_reports_it(
    hub: Hub,
) -> None:
    """No poll in between: when the link manager tells its listeners a link left ``up``
    the fan-out already holds that member stale (the hub's listener ran first), and
    the dashboard's next frame shows it; back up, the same the other way."""
    key = "city2.county1"
    mid = hub.ids[key]
    live, links = hub.services.livehub, hub.services.links
    assert live is not None and links is not None
    manager = links.manager
    seen: dict[bool, bool | None] = {}
    moved = asyncio.Event()

    def after_the_hub(member_id: int) -> None:
        link = manager.link(member_id)
        if member_id == mid and link is not None:
            up = link.link_state == "up"
            if up not in seen and (False in seen) == up:  # first down, then up
                seen[up] = live.links_up().get(mid)  # what the hub holds at this moment
                moved.set()

    watch = manager.subscribe(after_the_hub)
    try:
        async with dash(hub, hub.tokens["root"]) as d:
            await d.send(sub("s", hub))
            await d.until(lambda f: f["type"] == "snapshot")
            hub.running.federation.members[key].frozen = True
            await asyncio.wait_for(moved.wait(), 30)
            assert seen == {False: False}, "stale when the manager reported the link down"
            await d.drain_until(
                lambda: all(v["stale"] for k, v in d.screens["s"].items() if k[0] == mid),
                what="stale venues",
            )
            moved.clear()
            hub.running.federation.members[key].frozen = False
            await asyncio.wait_for(moved.wait(), 30)
            assert seen[True] is True, "fresh again when the manager reported it up"
            await d.drain_until(
                lambda: not any(v["stale"] for v in d.screens["s"].values()), what="back up"
            )
    finally:
        watch.cancel()


async def test_an_idle_dashboard_holds_no_writer_task(hub: Hub) -> None:
    live = hub.services.livehub
    assert live is not None
    async with dash(hub, hub.tokens["root"]) as d:
        await d.send(sub("s", hub))
        await d.until(lambda f: f["type"] == "snapshot")
        (outlet,) = live._outlets.values()
        await until(lambda: outlet.writer is None, 10, "the writer ended with its queue")
        await d.send({"type": "unsubscribe", "id": "nope"})  # a reply starts one again
        err = await d.until(lambda f: f["type"] == "error")
        assert err["code"] == "unknown_subscription"
        await until(lambda: outlet.writer is None, 10, "and it ended again")
    await until(lambda: live.connections == 0, 10, "the connection forgotten")


async def test_an_open_dashboard_is_carried_by_websockets_own_connection(hub: Hub) -> None:
    """Past the handshake the ASGI call has ended: no Starlette WebSocket (nor its scope)
    stays alive for the connection, which a websockets connection carries instead."""
    async with dash(hub, hub.tokens["root"]) as d:
        await d.send(sub("s", hub))
        await d.until(lambda f: f["type"] == "snapshot")
        gc.collect()
        objects = gc.get_objects()
        mine = d.ws.local_address[:2]  # other tests' sockets may still await collection
        assert not [o for o in objects if isinstance(o, WebSocket) and o.client == mine]
        assert [o for o in objects if type(o) is Connection]  # the client's is a subclass
        await d.send({"type": "unsubscribe", "id": "nope"})  # and it still reads frames
        assert (await d.until(lambda f: f["type"] == "error"))["code"] == "unknown_subscription"


async def test_other_websocket_paths_keep_uvicorns_protocol(hub: Hub) -> None:
    with pytest.raises(InvalidStatus) as e:  # Starlette's answer to an unrouted websocket
        async with connect(f"ws://127.0.0.1:{hub.port}/ws/nowhere"):
            pass
    assert e.value.response.status_code == 403


async def test_a_stopping_server_closes_open_dashboards_with_1012(hub: Hub) -> None:
    async with dash(hub, hub.tokens["root"]) as d:
        await d.send(sub("s", hub))
        await d.until(lambda f: f["type"] == "snapshot")
        hub.server.should_exit = True
        with pytest.raises(ConnectionClosed) as e:
            await d.drain_until(lambda: False, 30, "the close")
        assert e.value.rcvd is not None and e.value.rcvd.code == 1012


async def test_selection_all_in_scope_one_result_per_venue(hub: Hub) -> None:
    async with dash(hub, hub.tokens["cityops"]) as d:
        frame = {"type": "command", "id": "sel-1", "member_id": hub.ids["city1"]}
        frame |= {"conference": hub.spec("city1").meeting, "kind": "mute", "selection": "all"}
        await d.send(frame)
        listed = hub.truth("city1")
        results = [await d.until(lambda f: f["type"] == "result") for _ in listed]
        assert {
            (r["venue"]["member_id"], r["venue"]["conference"], r["venue"]["id"]) for r in results
        } == set(listed)
        assert all(r["of"] == len(listed) and r["id"] == "sel-1" for r in results)
        by_status = {k: listed[k]["status"] for k in listed}
        for r in results:
            k = (r["venue"]["member_id"], r["venue"]["conference"], r["venue"]["id"])
            assert (r["status"] == "ok") == (by_status[k] == VenueStatus.JOINED.value), r
        frame |= {
            "id": "sel-2",
            "member_id": hub.ids["prov"],
            "conference": hub.spec("prov").meeting,
        }
        await d.send(frame)
        r = await d.until(lambda f: f["type"] == "result")
        assert r["status"] == "failed" and r["reason"].startswith("outside_scope")


async def test_asyncapi_document_publishes_the_enforced_schemas(hub: Hub) -> None:
    async with httpx.AsyncClient(base_url=hub.base) as http:
        doc = (await http.get("/api/v1/asyncapi.json")).json()
    assert doc["asyncapi"] == "3.0.0" and doc["channels"]["live"]["address"] == "/ws/live"
    for name, schema in INBOUND.items():
        assert doc["components"]["messages"][name]["payload"] == orjson.loads(orjson.dumps(schema))
    assert {"snapshot", "delta", "result", "error", "call_progress"} <= set(
        doc["components"]["messages"]
    )


async def test_a_slow_client_is_resnapshotted_and_fast_ones_are_not(tmp_path: Path) -> None:
    from hub.fanout import FanoutSettings

    async with live_hub(tmp_path, SPECS) as hub:
        live = hub.services.livehub
        assert live is not None
        live.fanout.settings = FanoutSettings(queue_frames=8, resnapshots_per_minute=100)
        token = await hub.admin("root", "admin", None)
        members = list(hub.running.federation.members.values())
        async with dash(hub, token) as fast1, dash(hub, token) as fast2:
            async with dash(hub, token, sock=slow_socket(hub.port), max_queue=1) as slow:
                for d in (fast1, fast2):
                    await d.send(sub("s", hub))
                    await d.until(lambda f: f["type"] == "snapshot")
                # the slow one watches the same conference 16 times over: it backs up sooner
                for i in range(16):
                    await slow.send(sub("s" if i == 0 else f"s{i}", hub))
                activity = asyncio.get_running_loop().create_task(
                    drive(members, Activity.flood(1500), seed=9)
                )
                try:
                    # the slow one does not read; the fast ones keep up meanwhile
                    await until(
                        lambda: live.fanout.counters.overflows > 0, 30, "the slow client behind"
                    )
                    for _ in range(20):
                        await fast1.recv()
                        await fast2.recv()
                finally:
                    activity.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await activity
                await slow.drain_until(
                    lambda: (
                        [f["id"] for f in slow.frames if f["type"] == "snapshot"].count("s") >= 2
                    ),
                    what="a fresh snapshot",
                )
                for d in (fast1, fast2, slow):
                    await d.drain_until(lambda d=d: d.screens["s"] == hub.truth(), what="converged")
                snaps = [f for f in slow.frames if f["type"] == "snapshot" and f["id"] == "s"]
                assert snaps[1]["seq"] > snaps[0]["seq"]
            for d in (fast1, fast2):
                assert [f["type"] for f in d.frames].count("snapshot") == 1


async def test_hanging_up_a_cascade_link_ends_that_branch_and_a_call_brings_it_back(
    hub: Hub,
) -> None:
    prov, meeting = hub.ids["prov"], hub.spec("prov").meeting
    branch = {hub.ids[k] for k in hub.ids if k.startswith("city2")}
    async with dash(hub, hub.tokens["root"]) as d:
        await d.send(sub("s", hub))
        snap = await d.until(lambda f: f["type"] == "snapshot")
        node = next(n for n in snap["tree"]["children"] if n["member_id"] == hub.ids["city2"])
        assert node["link"] == "joined" and node["venue"]
        cmd = {"type": "command", "member_id": prov, "conference": meeting, "venue": node["venue"]}
        await d.send(cmd | {"id": "end-1", "kind": "hang_up"})
        r = await d.until(lambda f: f["type"] == "result")
        assert r["status"] == "ok", r
        await d.drain_until(
            lambda: not any(k[0] in branch for k in d.screens["s"]), what="branch gone"
        )
        city2 = next(n for n in d.trees["s"]["children"] if n["member_id"] == hub.ids["city2"])
        assert city2["link"] == "not_joined"  # still in the tree, to be called back
        assert d.screens["s"] == hub.truth()
        await d.send(cmd | {"id": "back-1", "kind": "call"})
        r = await d.until(lambda f: f["type"] == "result")
        assert r["status"] == "ok", r
        await d.drain_until(lambda: d.screens["s"] == hub.truth(), what="branch back")
        assert any(k[0] in branch for k in d.screens["s"])
