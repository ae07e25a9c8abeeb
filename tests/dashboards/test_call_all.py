"""One-click call over the demo federation with seeded failures (busy, no answer, offline)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.behaviour import Behaviour, CallOutcome
from emulator.federation import build_demo_federation
from emulator.member import cascade_venue_id
from tests.dashboards.livekit import Dash, Hub, dash, live_hub

pytestmark = pytest.mark.timeout(120)

SPECS = build_demo_federation(8, cities=3, counties=1, townships=1, villages=(1, 1))
QUICK_CALLS = Behaviour(
    latency=(0.01, 0.05),
    ring=(0.1, 0.3),
    p_busy=0.0,
    p_no_answer=0.0,
    p_offline=0.0,
    p_command_fail=0.0,
    stats_interval=0.0,
)


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    async with live_hub(tmp_path, SPECS, QUICK_CALLS) as h:
        await h.admin("root", "admin", None)
        await h.admin("cityops", "admin", "city1")
        yield h


def hang_up_every_cascade(hub: Hub) -> None:
    """Nobody is in the federation conference yet: every cascade link left."""
    members = hub.running.federation.members
    for spec in hub.specs:
        if spec.parent_key is not None:
            parent = members[spec.parent_key]
            conf = hub.spec(spec.parent_key).meeting
            parent.publish(parent.world.leave(conf, cascade_venue_id(spec.meeting), "hung up"))


async def finished(d: Dash, call_id: str) -> dict[int, dict]:
    """Read the dashboard's frames until the call's ``call_progress`` says done; returns
    every member as the frames of this run showed it last (the product's own stream,
    no polling)."""
    shown: dict[int, dict] = {}

    def progress(f: dict) -> bool:
        if f["type"] != "call_progress":
            return False
        assert f["call_id"] == call_id, f
        shown.update({m["member_id"]: m for m in f["members"]})
        return f["state"] == "done"

    await d.until(progress, 30, "the call's progress says done")
    return shown


async def read(http: httpx.AsyncClient, call_id: str, token: str) -> dict:
    r = await http.get(
        f"/api/v1/live/calls/{call_id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200, r.text
    return r.json()


async def links_until(hub: Hub, holds: Callable[[], bool], what: str) -> None:
    """Wait until ``holds()``, woken by the link manager's status events."""
    links = hub.services.links
    assert links is not None
    reached = asyncio.Event()

    def check(_member: int) -> None:
        if holds():
            reached.set()

    sub = links.manager.subscribe(check)
    try:
        check(0)
        await asyncio.wait_for(reached.wait(), 30)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None
    finally:
        sub.cancel()


async def linked_again(hub: Hub) -> None:
    """Wait until every link is up and in sync."""
    await links_until(hub, hub.converged, "every link up and in sync")


async def seen_down(hub: Hub, key: str) -> None:
    """Wait until the hub has noticed that a frozen member is down (its heartbeats went
    unanswered): until then its link still counts as up and in sync, and a recall
    started then would race that link's timeout."""
    links = hub.services.links
    assert links is not None
    link = links.manager.link(hub.ids[key])
    assert link is not None
    await links_until(hub, lambda: link.link_state != "up", f"the link to {key} down")


async def watch(d: Dash, member_id: int, conference: str) -> None:
    await d.send({"type": "subscribe", "id": "p", "member_id": member_id, "conference": conference})
    await d.until(lambda f: f["type"] == "snapshot", what="snapshot")


async def test_call_all_reports_each_failure_and_recall_brings_them_in(hub: Hub) -> None:
    members = hub.running.federation.members
    hang_up_every_cascade(hub)
    members["city1.county1.town1.village1"].call_answer = CallOutcome.BUSY
    members["city2.county1.town1"].call_answer = CallOutcome.NO_ANSWER
    members["city3"].frozen = True  # a member server that is down
    root = hub.tokens["root"]
    auth = {"Authorization": f"Bearer {root}"}
    prov, meeting = hub.ids["prov"], hub.spec("prov").meeting
    async with httpx.AsyncClient(base_url=hub.base) as http, dash(hub, root) as d:
        await watch(d, prov, meeting)
        r = await http.post(
            "/api/v1/live/call-all", json={"member_id": prov, "conference": meeting}, headers=auth
        )
        assert r.status_code == 202, r.text
        call_id = r.json()["call_id"]
        streamed = await finished(d, call_id)
        body = await read(http, call_id, root)
        assert body["state"] == "done"
        by_key = {k: m for k in hub.ids for m in body["members"] if m["member_id"] == hub.ids[k]}
        assert len(by_key) == len(SPECS)
        expect = {
            "prov": ("acknowledged", ""),
            "city1": ("acknowledged", ""),
            "city1.county1.town1.village1": ("failed", "busy"),
            "city2.county1.town1": ("failed", "no answer"),
            "city3": ("failed", "venue offline"),
        }
        for key, (status, reason) in expect.items():
            assert (by_key[key]["status"], by_key[key]["reason"]) == (status, reason), key
        assert by_key["city2.county1.town1.village1"]["status"] == "failed"
        assert by_key["city2.county1.town1.village1"]["reason"].startswith("not reached")
        assert by_key["city3.county1"]["reason"].startswith("not reached")
        assert by_key["city1.county1"]["venues"]["joined"] > 0
        assert set(by_key["city1"]["venues"]) >= {"joined", "ringing", "failed"}
        # the stream showed every member, as the API reads it at the end
        progress = [f for f in d.frames if f["type"] == "call_progress"]
        assert all(f["call_id"] == call_id and f["id"] == "p" for f in progress)
        assert {m: (v["status"], v["reason"]) for m, v in streamed.items()} == {
            m["member_id"]: (m["status"], m["reason"]) for m in body["members"]
        }
        # scope: a city admin neither sees this call nor calls the province
        city = {"Authorization": f"Bearer {hub.tokens['cityops']}"}
        assert (await http.get(f"/api/v1/live/calls/{call_id}", headers=city)).status_code == 404
        r = await http.post(
            "/api/v1/live/call-all", json={"member_id": prov, "conference": meeting}, headers=city
        )
        assert r.status_code == 403
        # fix the faults, then re-call the failed ones with one request
        members["city1.county1.town1.village1"].call_answer = None
        members["city2.county1.town1"].call_answer = None
        await seen_down(hub, "city3")
        members["city3"].frozen = False
        await linked_again(hub)
        r = await http.post(f"/api/v1/live/calls/{call_id}/recall", headers=auth)
        assert r.status_code == 202 and r.json() == {"call_id": call_id}
        again = await finished(d, call_id)
        # the recall dialled exactly the members that were not in, and brought them in
        assert set(again) == {m for m, v in streamed.items() if v["status"] != "acknowledged"}
        assert {m["status"] for m in again.values()} == {"acknowledged"}, {
            m: (v["domain"], v["status"], v["reason"]) for m, v in again.items()
        }
        body = await read(http, call_id, root)
        assert {m["status"] for m in body["members"]} == {"acknowledged"}, body
        tree = hub.services.livehub.reader.cascade_tree(prov, meeting)  # type: ignore[union-attr]
        assert tree is not None and {n.member_id for n in tree.walk()} == set(hub.ids.values())
        assert all(n.link in (None, "joined") for n in tree.walk())


async def test_the_call_is_audited_before_it_dials(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 202 waits only for the call's audit record: the call's own writes (journal,
    sync acknowledgements) come after it, so they cannot hold the answer back."""
    hang_up_every_cascade(hub)
    audit, livehub = hub.services.audit, hub.services.livehub
    assert livehub is not None
    record, when_audited = audit.record, {}

    async def record_then_look(**kw: Any) -> None:
        await record(**kw)
        if kw["action"] == "live.call_all":  # written: has the call started?
            call_id = kw["details"]["call_id"]
            when_audited[call_id] = call_id in livehub.calls.calls

    monkeypatch.setattr(audit, "record", record_then_look)
    root = hub.tokens["root"]
    prov, meeting = hub.ids["prov"], hub.spec("prov").meeting
    async with httpx.AsyncClient(base_url=hub.base) as http, dash(hub, root) as d:
        await watch(d, prov, meeting)
        r = await http.post(
            "/api/v1/live/call-all",
            json={"member_id": prov, "conference": meeting},
            headers={"Authorization": f"Bearer {root}"},
        )
        assert r.status_code == 202, r.text
        streamed = await finished(d, r.json()["call_id"])
    assert when_audited == {r.json()["call_id"]: False}  # not started when audited
    assert len(streamed) == len(SPECS)  # then it ran
    assert {m["status"] for m in streamed.values()} == {"acknowledged"}


async def test_call_chosen_members_and_refusals(hub: Hub) -> None:
    hang_up_every_cascade(hub)
    root = {"Authorization": f"Bearer {hub.tokens['root']}"}
    prov, meeting = hub.ids["prov"], hub.spec("prov").meeting
    async with httpx.AsyncClient(base_url=hub.base) as http, dash(hub, hub.tokens["root"]) as d:
        await watch(d, prov, meeting)
        chosen = [hub.ids["city2"], hub.ids["city2.county1"]]
        r = await http.post(
            "/api/v1/live/call-all",
            json={"member_id": prov, "conference": meeting, "members": chosen},
            headers=root,
        )
        assert r.status_code == 202
        call_id = r.json()["call_id"]
        streamed = await finished(d, call_id)
        assert sorted(streamed) == sorted([prov, *chosen])
        assert {m["status"] for m in streamed.values()} == {"acknowledged"}
        body = await read(http, call_id, hub.tokens["root"])
        assert sorted(m["member_id"] for m in body["members"]) == sorted([prov, *chosen])
        assert {m["status"] for m in body["members"]} == {"acknowledged"}
        r = await http.post(
            "/api/v1/live/call-all",
            json={"member_id": prov, "conference": "999999999"},
            headers=root,
        )
        assert r.status_code == 404
        r = await http.post(
            "/api/v1/live/call-all",
            json={"member_id": hub.ids["city1"], "conference": meeting, "members": [prov]},
            headers=root,
        )
        assert r.status_code == 422
        assert (await http.get("/api/v1/live/calls/nope", headers=root)).status_code == 404
