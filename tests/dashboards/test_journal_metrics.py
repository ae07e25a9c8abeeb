"""The live journal and /metrics of a real hub linked to the emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from dashboards.app import create_app
from emulator.federation import build_demo_federation
from tests.dashboards.livekit import Hub, live_hub, until

pytestmark = pytest.mark.timeout(120)

SPECS = build_demo_federation(31, cities=2, counties=1, townships=1, villages=(1, 1))


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    async with live_hub(tmp_path, SPECS) as h:
        await h.admin("root", "admin", None)
        await h.admin("cityops", "admin", "city1")
        yield h


def bearer(hub: Hub, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {hub.tokens[who]}"}


async def test_journal_answers_what_happened_between_two_times(hub: Hub) -> None:
    county = hub.ids["city1.county1"]
    conf = hub.spec("city1.county1").meeting
    member = hub.running.federation.members["city1.county1"]
    venue = next(v for v in member.world.snapshot().conferences[0].venues if v.status == "joined")
    t1 = datetime.now(UTC) - timedelta(seconds=1)
    async with httpx.AsyncClient(base_url=hub.base) as http:
        body = {"id": "j-1", "kind": "unmute" if venue.muted else "mute"}
        body |= {"conference": conf, "venue": venue.id, "deadline_s": 5}
        r = await http.post(
            f"/api/v1/live/members/{county}/commands", json=body, headers=bearer(hub, "root")
        )
        assert r.status_code == 200 and r.json()["status"] == "ok"
        hub.running.federation.members["city2"].frozen = True  # a link goes down

        async def entries(who: str = "root", **q: object) -> list[dict]:
            params = {k: str(v) for k, v in q.items()}
            r = await http.get("/api/v1/live/journal", params=params, headers=bearer(hub, who))
            assert r.status_code == 200, r.text
            return r.json()["entries"]

        t2 = datetime.now(UTC) + timedelta(seconds=30)
        window = {"since": t1.isoformat(), "until": t2.isoformat()}
        got: list[dict] = []

        async def journaled() -> bool:
            nonlocal got
            got = await entries(member_id=county, conference=conf, **window)
            return any(e["kind"] == "venue" and e["subject"] == venue.id for e in got)

        end = datetime.now(UTC) + timedelta(seconds=15)
        while not await journaled():
            assert datetime.now(UTC) < end, got
        kinds = {(e["kind"], e["subject"]) for e in got}
        assert ("command", venue.id) in kinds
        change = next(e for e in got if e["kind"] == "venue" and e["subject"] == venue.id)
        assert change["data"]["muted"] is not venue.muted and change["seq"] > 0
        command = next(e for e in got if e["kind"] == "command")
        assert command["data"]["status"] == "ok" and command["data"]["id"] == "j-1"
        # before T1 nothing of it
        early = await entries(member_id=county, conference=conf, until=t1.isoformat())
        assert all(e["kind"] != "command" for e in early)
        # the frozen member's link going down is journaled too
        city2 = hub.ids["city2"]
        await until(lambda: hub.services.livehub.links_up().get(city2) is False, 20, "city2 down")  # type: ignore[union-attr]
        links = await entries(member_id=city2, kind="link")
        assert links and links[0]["data"] == {"up": False}
        # scope: a city admin reads its subtree only
        r = await http.get(
            "/api/v1/live/journal",
            params={"member_id": str(hub.ids["prov"])},
            headers=bearer(hub, "cityops"),
        )
        assert r.status_code == 403
        mine = await entries("cityops", **window)
        city1 = {hub.ids[k] for k in hub.ids if k.startswith("city1")}
        assert mine and {e["member_id"] for e in mine} <= city1
        r = await http.get(
            "/api/v1/live/journal", params={"kind": "x"}, headers=bearer(hub, "root")
        )
        assert r.status_code == 422
        hub.running.federation.members["city2"].frozen = False


async def test_metrics_text_format_and_access(hub: Hub) -> None:
    async with httpx.AsyncClient(base_url=hub.base) as http:
        r = await http.get("/metrics")  # loopback: allowed by default
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        text = r.text
        assert f'fedhub_links{{state="up"}} {len(SPECS)}.0' in text
        for name in (
            "fedhub_events_in_total",
            "fedhub_frames_out_total",
            "fedhub_queue_drops_total",
            "fedhub_resnapshots_total",
            "fedhub_dashboards_connected",
            "fedhub_command_seconds_bucket",
            "fedhub_call_all_seconds_bucket",
        ):
            assert name in text, name
        r = await http.patch(
            "/api/v1/settings/live", json={"metrics_access": "token"}, headers=bearer(hub, "root")
        )
        assert r.status_code == 200, r.text
        assert (await http.get("/metrics")).status_code == 401
        assert (await http.get("/metrics", headers=bearer(hub, "cityops"))).status_code == 403
        assert (await http.get("/metrics", headers=bearer(hub, "root"))).status_code == 200
        r = await http.patch(
            "/api/v1/settings/live", json={"metrics_access": "x"}, headers=bearer(hub, "root")
        )
        assert r.status_code == 422
        r = await http.patch(
            "/api/v1/settings/live",
            json={"metrics_access": "loopback"},
            headers=bearer(hub, "cityops"),
        )
        assert r.status_code == 403
        r = await http.patch(
            "/api/v1/settings/live",
            json={"metrics_access": "loopback"},
            headers=bearer(hub, "root"),
        )
        assert r.status_code == 200
    # a peer that is not loopback is refused
    remote = TestClient(create_app(hub.services), client=("203.0.113.9", 40000))
    r = remote.get("/metrics")
    assert r.status_code == 403 and r.json()["error"]["code"] == "metrics_loopback_only"
