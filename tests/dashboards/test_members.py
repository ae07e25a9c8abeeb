"""Members and number ranges through the API: every refusal the issue names."""

from __future__ import annotations

from tests.dashboards.conftest import MEMBER_PASSWORD, make_admin


def _chain(root, depth: int) -> list[dict]:
    out, parent = [], None
    for i in range(depth):
        r = root.create_member(parent, f"lvl{i + 1}")
        assert r.status_code == 201, r.text
        out.append(r.json())
        parent = out[-1]["id"]
    return out


def test_create_tree_and_list(root):
    prov, city = _chain(root, 2)
    assert prov["level"] == 1 and prov["level_name"] == "province"
    assert city["level"] == 2 and city["parent_id"] == prov["id"]
    assert "password" not in prov and "password_hash" not in prov
    tree = root.get("/members").json()["members"]
    assert tree[0]["id"] == prov["id"] and tree[0]["children"][0]["id"] == city["id"]
    flat = root.get("/members?flat=true").json()["members"]
    assert [m["id"] for m in flat] == [prov["id"], city["id"]]
    got = root.get(f"/members/{prov['id']}").json()
    assert got["children"][0]["domain"] == "lvl2.example.gov"


def test_depth_limit(root):
    chain = _chain(root, 5)
    r = root.create_member(chain[-1]["id"], "lvl6")
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "too_deep" and "at most 5 levels" in err["message"]


def test_bad_domain_refused(root):
    for bad in [
        "nodot",
        "-bad.example.gov",
        "bad-.example.gov",
        "a..b.gov",
        "x" * 64 + ".gov",
        "under_score.gov",
        "1.2.3.4",
    ]:
        r = root.post(
            "/members",
            {
                "parent_id": None,
                "domain": bad,
                "display_name": "P",
                "username": "p1",
                "password": MEMBER_PASSWORD,
            },
        )
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["error"]["code"] == "invalid_domain", bad


def test_domain_unique_case_insensitive(root):
    prov = root.create_member(None, "prov").json()
    r = root.post(
        "/members",
        {
            "parent_id": prov["id"],
            "domain": "PROV.Example.GOV",
            "display_name": "Dup",
            "username": "dup",
            "password": MEMBER_PASSWORD,
        },
    )
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "domain_taken"
    assert str(prov["id"]) in r.json()["error"]["message"]


def test_second_province_refused(root):
    root.create_member(None, "prov")
    r = root.create_member(None, "prov2")
    assert r.status_code == 409 and r.json()["error"]["code"] == "root_exists"


def test_member_password_policy(root):
    r = root.post(
        "/members",
        {
            "parent_id": None,
            "domain": "p.example.gov",
            "display_name": "P",
            "username": "p",
            "password": "123456",
        },
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "weak_password"
    assert "123456" not in r.text


def test_update_member(root):
    prov, city = _chain(root, 2)
    r = root.patch(
        f"/members/{city['id']}",
        {
            "display_name": "City One",
            "domain": "c1.example.gov",
            "server_url": "ws://127.0.0.1:9000/fed/link",
            "password": "N3w-Member-pw",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["domain"] == "c1.example.gov" and r.json()["server_url"].startswith("ws://")
    r = root.patch(f"/members/{city['id']}", {"domain": "lvl1.example.gov"})
    assert r.status_code == 409
    assert root.get(f"/members/{city['id']}").json()["domain"] == "c1.example.gov"
    assert root.patch(f"/members/{city['id']}", {}).status_code == 422
    assert root.patch("/members/999999", {"remark": "x"}).status_code == 404


def test_delete_refusals_and_cascade(root):
    prov, city, county = _chain(root, 3)
    r = root.delete(f"/members/{city['id']}")
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "has_children" and "cascade" in err["message"]
    r = root.post(
        f"/members/{county['id']}/ranges", {"type": "vmr", "start": "3000", "end": "3999"}
    )
    assert r.status_code == 201
    r = root.delete(f"/members/{county['id']}")
    assert r.status_code == 409 and r.json()["error"]["code"] == "has_bound_data"
    assert "1 number ranges" in r.json()["error"]["message"]
    # nothing was lost by the refusals
    assert len(root.get("/members?flat=true").json()["members"]) == 3
    r = root.delete(f"/members/{city['id']}?cascade=true")
    assert r.status_code == 204
    assert [m["id"] for m in root.get("/members?flat=true").json()["members"]] == [prov["id"]]
    assert root.get("/numbers/3500").status_code == 404
    # the freed range can be given to someone else now
    r = root.post(f"/members/{prov['id']}/ranges", {"type": "vmr", "start": "3000", "end": "3999"})
    assert r.status_code == 201


def test_outside_subtree_refused(root, client):
    prov = root.create_member(None, "prov").json()
    c1 = root.create_member(prov["id"], "city1").json()
    c2 = root.create_member(prov["id"], "city2").json()
    county = root.create_member(c1["id"], "county1").json()
    ops = make_admin(client, "c1ops", "admin", c1["id"])
    tree = ops.get("/members").json()["members"]
    assert [m["id"] for m in tree] == [c1["id"]]
    assert [m["id"] for m in tree[0]["children"]] == [county["id"]]
    for r in [
        ops.get(f"/members/{c2['id']}"),
        ops.get(f"/members/{prov['id']}"),
        ops.patch(f"/members/{c2['id']}", {"remark": "x"}),
        ops.delete(f"/members/{c2['id']}"),
        ops.create_member(c2["id"], "intruder"),
        ops.create_member(None, "newprov"),
        ops.post(f"/members/{c2['id']}/ranges", {"type": "vmr", "start": "1", "end": "2"}),
        ops.get(f"/members/{c2['id']}/ranges"),
    ]:
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "outside_scope"
    assert ops.delete(f"/members/{c1['id']}").status_code == 403  # its own root
    assert ops.create_member(county["id"], "town1").status_code == 201
    assert root.get(f"/members/{c2['id']}").json()["remark"] == ""


def test_ranges_overlap_refused_with_reason(root):
    prov, city = _chain(root, 2)
    r = root.post(
        f"/members/{prov['id']}/ranges",
        {"type": "general_meeting", "start": "1000", "end": "1999", "remark": "prov meetings"},
    )
    assert r.status_code == 201
    rid = r.json()["id"]
    assert r.json()["size"] == 1000
    r = root.post(f"/members/{city['id']}/ranges", {"type": "vmr", "start": "1500", "end": "2500"})
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "range_conflict"
    assert (
        "1000" in err["message"]
        and "1999" in err["message"]
        and "general_meeting" in err["message"]
    )
    assert err["details"]["member_id"] == prov["id"] if "member_id" in err["details"] else True
    # same member, different type: also refused
    r = root.post(f"/members/{prov['id']}/ranges", {"type": "vmr", "start": "1999", "end": "1999"})
    assert r.status_code == 409
    # same digits, other length: no overlap
    r = root.post(
        f"/members/{city['id']}/ranges", {"type": "vmr", "start": "01000", "end": "01999"}
    )
    assert r.status_code == 201
    # bad ranges
    for body in [
        {"type": "vmr", "start": "20", "end": "10"},
        {"type": "vmr", "start": "100", "end": "1000"},
    ]:
        r = root.post(f"/members/{city['id']}/ranges", body)
        assert r.status_code == 422, body
        assert r.json()["error"]["code"] in ("invalid_range",)
    for body in [
        {"type": "phone", "start": "1", "end": "2"},
        {"type": "vmr", "start": "1a", "end": "2"},
        {"type": "vmr", "start": "1" * 16, "end": "2" * 16},
        {"type": "vmr", "start": "1"},
    ]:
        r = root.post(f"/members/{city['id']}/ranges", body)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input", body
    ranges = root.get(f"/members/{prov['id']}/ranges").json()["ranges"]
    assert [x["id"] for x in ranges] == [rid]
    assert root.delete(f"/members/{city['id']}/ranges/{rid}").status_code == 404
    assert root.delete(f"/members/{prov['id']}/ranges/{rid}").status_code == 204
    assert root.get(f"/members/{prov['id']}/ranges").json()["ranges"] == []


def test_resolve_number(root, client):
    prov, city = _chain(root, 2)
    root.post(
        f"/members/{city['id']}/ranges",
        {"type": "scheduled_meeting", "start": "8000", "end": "8999"},
    )
    r = root.get("/numbers/8123")
    assert r.status_code == 200
    assert r.json()["member_id"] == city["id"] and r.json()["type"] == "scheduled_meeting"
    assert root.get("/numbers/7999").status_code == 404
    assert root.get("/numbers/08123").status_code == 404
    assert root.get("/numbers/12ab").status_code == 422
    ops = make_admin(client, "provsibling", "admin", prov["id"])
    assert ops.get("/numbers/8123").status_code == 200
    county = root.create_member(city["id"], "county").json()
    low = make_admin(client, "countyops", "admin", county["id"])
    assert low.get("/numbers/8123").status_code == 404  # owned above its scope


def test_changes_survive_a_restart(hub_config, root, client):
    from starlette.testclient import TestClient

    from ops.hub import create_hub_app

    prov = root.create_member(None, "prov").json()
    root.post(f"/members/{prov['id']}/ranges", {"type": "vmr", "start": "5000", "end": "5999"})
    with TestClient(create_hub_app(hub_config)) as c2:
        from tests.dashboards.conftest import NEW_ADMIN_PASSWORD, Api

        a = Api(c2)
        assert a.login("admin", NEW_ADMIN_PASSWORD).status_code == 200
        assert a.get("/numbers/5500").json()["member_id"] == prov["id"]
        # a change made by this second node is seen by the first (shared revision)
        r = a.create_member(prov["id"], "city9")
        assert r.status_code == 201
    flat = root.get("/members?flat=true").json()["members"]
    assert "city9.example.gov" in [m["domain"] for m in flat]
