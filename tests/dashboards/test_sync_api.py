"""Binding and sync over a real link: a bound emulated member server gets its data."""

from __future__ import annotations

import dataclasses
import time

import httpx
import pytest

from emulator.federation import build_demo_federation, serve_federation
from tests.dashboards.conftest import make_admin

PASSWORD = "Dev1ce-Secret!"


@pytest.fixture
def hub_config(hub_config):
    """The emulated members listen on 127.0.0.1, which links may dial only when allowed."""
    return dataclasses.replace(hub_config, link_networks=("127.0.0.1/32", "::1/128"))


def _wait(fn, timeout: float = 30.0):
    """Poll a condition (the hub and the emulator run on the TestClient's loop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {fn.__doc__ or fn}")


def test_binding_wipes_then_syncs_and_changes_follow(root, client):
    specs = build_demo_federation(seed=5, cities=1, counties=1, townships=1, villages=(1, 1))[:2]
    running = client.portal.call(lambda: serve_federation(specs, "127.0.0.1", 0, seed=5))
    try:
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
                },
            )
            assert r.status_code == 201, r.text
            ids[spec.key] = r.json()["id"]
        city_spec = specs[1]
        city = ids[city_spec.key]
        accounts_range = city_spec.range_of("system_account")
        for spec in specs:  # the hub trusts a member's conferences only inside its ranges
            for rng in spec.ranges:
                r = root.post(
                    f"/members/{ids[spec.key]}/ranges",
                    {"type": rng.type, "start": rng.start, "end": rng.end},
                )
                assert r.status_code == 201, r.text
        first = accounts_range.number(1)
        body = {"kind": "user", "number": first, "name": "alice", "password": PASSWORD}
        assert root.post(f"/members/{city}/accounts", body).status_code == 201
        member = running.federation.members[city_spec.key]
        assert "local-admin" in member.data.items("user_accounts")

        # the first full push goes in parts of one small frame each, over the real link
        client.app.state.services.sync.max_frame = 600
        url = running.urls[city_spec.key]
        r = root.post(f"/members/{city}/bind", {"server_url": url, "confirm_wipe": False})
        assert r.status_code == 409 and r.json()["error"]["code"] == "confirm_wipe"
        assert root.get(f"/members/{city}").json()["server_url"] is None
        r = root.post(f"/members/{city}/bind", {"server_url": url, "confirm_wipe": True})
        assert r.status_code == 200, r.text

        def got_alice() -> bool:
            """the member server holds alice and nothing of its own"""
            held = member.data.items("user_accounts")
            return [a["name"] for a in held.values()] == ["alice"]

        _wait(got_alice)
        _wait(lambda: member.data.items("federation") and member.data.items("numbers"))
        domains = {i["domain"] for i in member.data.items("federation").values()}
        assert domains == {s.domain for s in specs}
        assert client.app.state.services.sync.frames_sent > client.app.state.services.sync.pushes
        second = accounts_range.number(2)
        body = {"kind": "user", "number": second, "name": "bob", "password": PASSWORD}
        assert root.post(f"/members/{city}/accounts", body).status_code == 201
        _wait(lambda: len(member.data.items("user_accounts")) == 2)  # on change, unasked

        def in_step():
            """the hub's sync status shows the member in step"""
            datasets = root.get(f"/members/{city}/sync").json()["datasets"]
            return not any(d["pending"] for d in datasets.values()) and datasets

        status = _wait(in_step)
        assert root.get("/sync/unsynced").json()["members"] == []
        assert status["user_accounts"]["acked_version"] == status["user_accounts"]["version"] == 2
        assert status["user_accounts"]["last_success"] and not status["user_accounts"]["last_error"]

        # dry run after the member lost its data (the hub cannot know yet): changes nothing
        client.portal.call(lambda: _lose(member))
        r = root.post(f"/members/{city}/sync", {"dry_run": True, "datasets": ["user_accounts"]})
        assert r.status_code == 200 and r.json()["dry_run"]
        assert r.json()["datasets"]["user_accounts"]["upserts"] == 0  # in step, as far as known
        assert member.data.items("user_accounts") == {}
        # a manual sync asks; the member says it lost everything and gets it all again
        r = root.post(f"/members/{city}/sync", {"datasets": ["user_accounts"]})
        assert r.status_code == 200 and r.json()["datasets"]["user_accounts"]["push"] == "sent"
        _wait(lambda: len(member.data.items("user_accounts")) == 2)

        # single sign-on: a one-time link to the member server's admin page
        r = root.post(f"/members/{city}/sso")
        assert r.status_code == 200, r.text
        link = r.json()["url"]
        page = httpx.get(link)
        assert page.status_code == 200 and "Signed in from the federation hub" in page.text
        assert member.sso_signed_in == ["admin"]
        assert httpx.get(link).status_code == 403  # replayed
        assert root.post(f"/members/{ids['prov']}/sso").status_code == 409  # not bound

        city_ops = make_admin(client, "cityops", "admin", city)
        assert city_ops.post(f"/members/{ids['prov']}/sso").status_code == 403
        assert city_ops.post(f"/members/{city}/sso").status_code == 200
        assert city_ops.post(f"/members/{ids['prov']}/sync", {}).status_code == 403
        assert city_ops.get(f"/members/{ids['prov']}/sync").status_code == 403
        assert city_ops.get(f"/members/{city}/sync").status_code == 200
        auditor = make_admin(client, "aud", "auditor", None)
        binds = auditor.get("/audit?action=member.bind").json()["entries"]
        assert [e["result"] for e in binds] == ["ok", "refused"]
        signs = auditor.get("/audit?action=member.sso").json()["entries"]
        assert [e["result"] for e in signs] == ["ok", "refused", "refused", "ok"]
        assert all("token" not in str(e["details"]) for e in signs)
    finally:
        client.portal.call(running.close)


async def _lose(member) -> None:
    member.data.lose_everything()


def test_a_member_change_cannot_bind_a_server_without_the_wipe_confirmation(root, client):
    prov = root.create_member(None, "prov").json()
    city = root.create_member(prov["id"], "city").json()
    url = "ws://127.0.0.1:9/fed/link"
    r = root.patch(f"/members/{city['id']}", {"server_url": url, "remark": "bound?"})
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "bind_required" and f"/members/{city['id']}/bind" in err["message"]
    assert "confirm_wipe" in err["message"]
    after = root.get(f"/members/{city['id']}").json()
    assert after["server_url"] is None and after["remark"] == ""  # nothing changed
    r = root.post(f"/members/{city['id']}/bind", {"server_url": url, "confirm_wipe": True})
    assert r.status_code == 200 and r.json()["server_url"] == url
    other = "ws://127.0.0.1:10/fed/link"  # rebinding elsewhere is binding too
    r = root.patch(f"/members/{city['id']}", {"server_url": other})
    assert r.status_code == 422 and r.json()["error"]["code"] == "bind_required"
    same = root.patch(f"/members/{city['id']}", {"server_url": url, "remark": "kept"})
    assert same.status_code == 200 and same.json()["remark"] == "kept"  # no binding: allowed
    r = root.patch(f"/members/{city['id']}", {"server_url": None})  # unbinding
    assert r.status_code == 200 and r.json()["server_url"] is None
    auditor = make_admin(client, "aud", "auditor", None)
    updates = auditor.get("/audit?action=member.update").json()["entries"]
    assert [e["result"] for e in updates] == ["ok", "ok", "refused", "refused"]


def test_bound_members_whose_data_is_unsynced_are_pointed_out(root, client):
    """A member whose data did not reach its server yet cannot show up in federation
    conferences: the hub lists it, with the data sets missing, within the caller's scope."""
    prov = root.create_member(None, "prov").json()
    city = root.create_member(prov["id"], "city").json()
    town = root.create_member(prov["id"], "town").json()
    url = "ws://127.0.0.1:9/fed/link"  # nobody answers there: the data cannot go
    r = root.post(f"/members/{city['id']}/bind", {"server_url": url, "confirm_wipe": True})
    assert r.status_code == 200, r.text
    (listed,) = root.get("/sync/unsynced").json()["members"]
    assert listed["member_id"] == city["id"] and listed["display_name"] == city["display_name"]
    assert "federation" in listed["datasets"] and "numbers" in listed["datasets"]
    status = root.get(f"/members/{city['id']}/sync").json()["datasets"]
    assert status["federation"]["pending"] and status["federation"]["acked_version"] == 0
    # the status shows the versions as stored now, not as of the sync's next round
    assert status["federation"]["version"] >= 1 and status["numbers"]["version"] >= 0
    r = root.post(f"/members/{prov['id']}/ranges", {"type": "vmr", "start": "5000", "end": "5099"})
    assert r.status_code == 201, r.text
    after = root.get(f"/members/{city['id']}/sync").json()["datasets"]
    assert after["numbers"]["version"] > status["numbers"]["version"]
    town_ops = make_admin(client, "townops", "admin", town["id"])
    assert town_ops.get("/sync/unsynced").json()["members"] == []  # outside its scope
