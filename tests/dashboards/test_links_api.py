"""Members bound through the API get linked; unbinding or deleting drops the link."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from dashboards.endpoint import Api as Endpoints
from emulator.federation import build_demo_federation, serve_federation
from hub.conference import CascadeRef, Conference, ConferenceKind, Snapshot, Venue, VenueStatus
from hub.trust import Relation
from tests.dashboards.conftest import make_admin


@pytest.fixture
def hub_config(hub_config):
    """The emulated members listen on 127.0.0.1, which links may dial only when allowed
    (127.0.0.2, also loopback, stays refused)."""
    return dataclasses.replace(hub_config, link_networks=("127.0.0.1/32", "::1/128"))


def _on_loop(client, fn):
    """Run ``fn`` on the app's event loop (where the live state lives)."""

    async def run():
        return fn()

    return client.portal.call(run)


async def _next_change(services, within: float) -> None:
    """Return at the next change of any link or of the live state (or after ``within``)."""
    changed = asyncio.Event()
    subs = [services.links.manager.subscribe(lambda *_: changed.set())]
    subs.append(services.live.subscribe(lambda *_: changed.set()))
    try:
        await asyncio.wait_for(changed.wait(), within)
    except TimeoutError:
        pass
    finally:
        for sub in subs:
            sub.cancel()


def _wait(client, fn, timeout: float = 20.0):
    """``fn()`` once it is truthy, re-checked at each change the hub reports."""
    services = client.app.state.services
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("condition not reached")
        client.portal.call(_next_change, services, remaining)


def _register(root, specs, urls) -> dict[str, int]:
    """Create the emulated members with their number ranges, bound to their servers."""
    ids: dict[str, int] = {}
    for spec in specs:
        r = root.post(
            "/members",
            {
                "parent_id": ids.get(spec.parent_key),
                "domain": spec.domain,
                "display_name": spec.display_name,
                "username": spec.username,
                "password": spec.password,
                "server_url": urls[spec.key],
            },
        )
        assert r.status_code == 201, r.text
        ids[spec.key] = r.json()["id"]
        for rng in spec.ranges:
            body = {"type": rng.type, "start": rng.start, "end": rng.end}
            r = root.post(f"/members/{ids[spec.key]}/ranges", body)
            assert r.status_code == 201, r.text
    return ids


def test_bound_members_are_linked(root, client):
    specs = build_demo_federation(seed=3, cities=1, counties=1, townships=1, villages=(1, 1))[:2]
    running = client.portal.call(lambda: serve_federation(specs, "127.0.0.1", 0, seed=3))
    try:
        prov_spec, city_spec = specs
        ids = _register(root, specs, running.urls)

        def links_up():
            links = root.get("/links").json()["links"]
            return len(links) == 2 and all(x["state"] == "up" for x in links) and links

        links = _wait(client, links_up)
        assert {x["member_id"] for x in links} == set(ids.values())
        summary = _wait(
            client, lambda: (s := root.get("/live/summary").json())["total"]["conferences"] and s
        )
        assert summary["total"]["members"] == 2
        confs = root.get(f"/live/members/{ids['prov']}/conferences").json()["conferences"]
        assert confs and confs[0]["venues"]

        # a scoped admin sees only its subtree's links
        city_ops = make_admin(client, "cityops", "admin", ids[city_spec.key])
        assert [x["member_id"] for x in city_ops.get("/links").json()["links"]] == [
            ids[city_spec.key]
        ]
        assert city_ops.get(f"/live/members/{ids['prov']}/conferences").status_code == 403

        # wrong credentials: the link reports the refusal instead of coming up
        r = root.patch(f"/members/{ids[city_spec.key]}", {"password": "Wrong-Pass-99"})
        assert r.status_code == 200

        def refused():
            link = [
                x
                for x in root.get("/links").json()["links"]
                if x["member_id"] == ids[city_spec.key]
            ]
            return link and link[0]["state"] != "up" and link[0]["last_error"]

        assert (
            "auth" in str(_wait(client, refused)).lower()
            or "credential" in str(_wait(client, refused)).lower()
        )

        # unbinding drops the link and its live state
        r = root.patch(f"/members/{ids[city_spec.key]}", {"server_url": None})
        assert r.status_code == 200
        _wait(
            client,
            lambda: [x["member_id"] for x in root.get("/links").json()["links"]] == [ids["prov"]],
        )
    finally:
        client.portal.call(running.close)


def _store_link_url(client, member_id: int, url: str) -> None:
    """Store ``url`` past the API (which refuses it): a row written before the rule."""
    store = client.app.state.services.federation
    client.portal.call(store.update_member, None, member_id, {"server_url": url})


def test_unusable_link_url_is_reported(root, client):
    prov = root.create_member(None, "prov").json()
    _store_link_url(client, prov["id"], "ws://10.1.2.3:9000/fed/link")
    links = root.get("/links").json()["links"]
    assert links == [
        {
            "member_id": prov["id"],
            "state": "misconfigured",
            "last_error": f"member {prov['id']}: plain ws:// is allowed on loopback only",
        }
    ]


def test_commands_reach_the_member_and_get_one_result(root, client):
    specs = build_demo_federation(seed=4, cities=1, counties=1, townships=1, villages=(1, 1))[:2]
    running = client.portal.call(lambda: serve_federation(specs, "127.0.0.1", 0, seed=4))
    try:
        ids = _register(root, specs, running.urls)
        prov = ids["prov"]
        _wait(client, lambda: all(x["state"] == "up" for x in root.get("/links").json()["links"]))

        def joined_venue():
            for conf in root.get(f"/live/members/{prov}/conferences").json()["conferences"]:
                for v in conf["venues"]:
                    if v["status"] == "joined" and not v["muted"] and not v.get("cascade"):
                        return conf["number"], v["id"]
            return None

        number, venue = _wait(client, joined_venue)
        body = {
            "id": "cmd-1",
            "kind": "mute",
            "conference": number,
            "venue": venue,
            "deadline_s": 10,
        }
        r = root.post(f"/live/members/{prov}/commands", body)
        assert r.status_code == 200, r.text
        if r.json()["status"] == "ok":

            def muted():
                confs = root.get(f"/live/members/{prov}/conferences").json()["conferences"]
                return any(v["id"] == venue and v["muted"] for c in confs for v in c["venues"])

            _wait(client, muted)
        else:  # the emulator may be set to fail some commands: then it says why
            assert r.json()["status"] == "failed" and r.json()["reason"]
        again = root.post(f"/live/members/{prov}/commands", body).json()
        assert again == r.json()  # same id: the first result, not a second action
        r = root.post(
            f"/live/members/{prov}/commands",
            {"kind": "mute", "conference": "999999999", "venue": "nope"},
        )
        assert r.status_code == 200 and r.json()["status"] == "failed" and r.json()["reason"]
        r = root.post(f"/live/members/{prov}/commands", {"kind": "explode", "conference": number})
        assert r.status_code == 422
        city_ops = make_admin(client, "cityops2", "admin", ids[specs[1].key])
        r = city_ops.post(
            f"/live/members/{prov}/commands", {"kind": "mute", "conference": number, "venue": venue}
        )
        assert r.status_code == 403
        aud = make_admin(client, "aud9", "auditor", None)
        entries = aud.get("/audit?action=command").json()["entries"]
        assert any(e["details"].get("status") in ("ok", "failed") for e in entries)
        assert (
            root.post("/live/members/999/commands", {"kind": "mute", "conference": "1"}).status_code
            == 404
        )
    finally:
        client.portal.call(running.close)


def test_scoped_admins_see_generic_link_errors(root, client):
    prov = root.create_member(None, "prov", server_url="ws://127.0.0.2:9/fed/link").json()

    def refused():
        (link,) = root.get("/links").json()["links"]
        return link["error_kind"] == "destination" and link

    link = _wait(client, refused)
    assert "127.0.0.2" in link["last_error"] and "not in the allowed" in link["last_error"]
    assert link["connects"] == 0
    ops = make_admin(client, "provops", "admin", prov["id"])
    (seen,) = ops.get("/links").json()["links"]
    assert seen["last_error"] == "the link destination is not allowed by the hub's settings"
    assert "127.0.0.2" not in str(seen["last_error"])


def test_bad_link_urls_are_reported_and_never_stop_the_links(root, client):
    prov = root.create_member(None, "prov").json()
    city = root.create_member(prov["id"], "city").json()
    _store_link_url(client, prov["id"], "ws://127.0.0.1:70000/fed/link")
    _store_link_url(client, city["id"], "ws://127.0.0.1:9/fed/link/../../internal/admin")
    links = {x["member_id"]: x for x in root.get("/links").json()["links"]}
    assert links[prov["id"]]["state"] == "misconfigured"
    assert "port must be a number in 1..65535" in links[prov["id"]]["last_error"]
    assert "no dot segments" in links[city["id"]]["last_error"]
    bind = {"server_url": "ws://127.0.0.1:9/fed/link", "confirm_wipe": True}
    r = root.post(f"/members/{prov['id']}/bind", bind)
    assert r.status_code == 200

    def relinked():
        links = {x["member_id"]: x for x in root.get("/links").json()["links"]}
        return links[prov["id"]]["state"] != "misconfigured" and links[prov["id"]]

    assert relinked()["url"] == "ws://127.0.0.1:9/fed/link"


def _chain(n: int, domain: str) -> tuple[Conference, ...]:
    def conf(number: int, *venues: Venue) -> Conference:
        return Conference(str(number), f"M{number}", ConferenceKind.VMR, "auto", 1.0, venues)

    links = [
        conf(k, Venue(f"l{k}", "L", VenueStatus.JOINED, cascade=CascadeRef(domain, str(k + 1))))
        for k in range(1000, 1000 + n - 1)
    ]
    return (*links, conf(1000 + n - 1))


class TrustAll:
    """Rules that believe every claim: what the hub did before members were checked."""

    def holds(self, member_id, number):
        return True

    def relation(self, member_id, domain):
        return Relation.CHILD


def test_federation_trees_are_bounded_and_answer_json(root, client):
    """Conferences chained by self-cascades (300 in the attack; 150 stay within the
    per-member limit and still nest deeper than orjson's 254) once made this a
    plain-text 500 for everyone. Even when such claims get in, the trees stop at five
    levels; with the real rules they are refused outright."""
    prov = root.create_member(None, "prov").json()
    live = client.app.state.services.live

    def feed(rules):
        live.set_rules(rules)
        live.bind_member(prov["id"], prov["domain"])
        return live.apply_snapshot(prov["id"], Snapshot(1, 0, _chain(150, prov["domain"])))

    assert _on_loop(client, lambda: feed(TrustAll())) is None
    r = root.get("/live/federation-conferences")
    assert r.status_code == 200, r.text
    (tree,) = r.json()["conferences"]
    depth = 1
    while tree["children"]:
        (tree,) = tree["children"]
        depth += 1
    assert depth == 5 and tree["cut"] is True
    r = root.post(f"/members/{prov['id']}/ranges", {"type": "vmr", "start": "1000", "end": "1999"})
    assert r.status_code == 201
    refusal = _on_loop(
        client, lambda: live.apply_snapshot(prov["id"], Snapshot(2, 0, _chain(3, prov["domain"])))
    )
    assert refusal is not None and "neither a child nor the parent" in refusal.reason


def test_a_result_that_cannot_be_encoded_is_a_json_500(client):
    endpoints = Endpoints()

    @endpoints.route("GET", "/deep", summary="nested too deep", tag="test", public=True)
    async def deep(ctx):
        node: dict = {}
        for _ in range(300):
            node = {"child": node}
        return node

    app = Starlette(routes=endpoints.routes(client.app.state.services))
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/api/v1/deep")
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "internal_error"


def test_member_conferences_come_in_pages(root, client):
    prov = root.create_member(None, "prov").json()
    r = root.post(f"/members/{prov['id']}/ranges", {"type": "vmr", "start": "1000", "end": "1999"})
    assert r.status_code == 201
    live = client.app.state.services.live

    def feed():
        live.bind_member(prov["id"], prov["domain"])
        confs = tuple(Conference(str(n), f"M{n}", ConferenceKind.VMR) for n in range(1000, 1045))
        return live.apply_snapshot(prov["id"], Snapshot(1, 0, confs))

    assert _on_loop(client, feed) is None
    first = root.get(f"/live/members/{prov['id']}/conferences").json()
    assert first["total"] == 45 and len(first["conferences"]) == 20
    assert first["next_offset"] == 20 and first["conferences"][0]["number"] == "1000"
    last = root.get(f"/live/members/{prov['id']}/conferences?offset=40&limit=50").json()
    assert [c["number"] for c in last["conferences"]] == [str(n) for n in range(1040, 1045)]
    assert last["next_offset"] is None
    r = root.get(f"/live/members/{prov['id']}/conferences?limit=1000")
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input"
