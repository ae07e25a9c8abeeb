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
            "sip_host": "sip.c1.example.gov",
            "password": "N3w-Member-pw",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["domain"] == "c1.example.gov" and r.json()["sip_host"] == "sip.c1.example.gov"
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
    r = ops.create_member(county["id"], "town1", domain="town1.city1.example.gov")
    assert r.status_code == 201, r.text
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


BAD_LINK_URLS = [
    ("wss://city.example.gov:70000/fed/link", "port must be a number in 1..65535"),
    ("wss://city.example.gov:443/fed/link/../../internal", "no dot segments"),
    ("wss://city.example.gov:443/fed/link?x=1", "must not have a query"),
    ("wss://user:pw@city.example.gov:443/fed/link", "must not hold credentials"),
]


def test_bad_link_urls_refused_on_create_and_update(root):
    """The link layer's rule (controllers.config.normalise_link_url) is the API's rule."""
    (prov,) = _chain(root, 1)
    good = "wss://lvl1.example.gov:443/fed/link"
    bind = {"server_url": good, "confirm_wipe": True}
    assert root.post(f"/members/{prov['id']}/bind", bind).status_code == 200
    for n, (url, reason) in enumerate(BAD_LINK_URLS):
        r = root.create_member(prov["id"], f"bad{n}", server_url=url)
        assert r.status_code == 422, (url, r.text)
        err = r.json()["error"]
        assert err["code"] == "invalid_server_url" and reason in err["message"], err
        assert err["details"] == {"field": "server_url"}
        r = root.patch(f"/members/{prov['id']}", {"server_url": url, "remark": "changed"})
        assert r.status_code == 422, (url, r.text)
        assert reason in r.json()["error"]["message"]
    flat = root.get("/members?flat=true").json()["members"]
    assert [m["id"] for m in flat] == [prov["id"]]  # nothing created
    assert flat[0]["server_url"] == good and flat[0]["remark"] == ""  # nothing changed


def test_link_url_stored_normalised(root):
    (prov,) = _chain(root, 1)
    r = root.create_member(prov["id"], "city", server_url="WSS://City.Example.GOV/fed/link/")
    assert r.status_code == 201, r.text
    assert r.json()["server_url"] == "wss://city.example.gov:443/fed/link"
    city = r.json()["id"]
    bind = {"server_url": "ws://LOCALHOST:9000/fed/link/c.example/", "confirm_wipe": True}
    r = root.post(f"/members/{city}/bind", bind)
    assert r.status_code == 200, r.text
    stored = root.get(f"/members/{city}").json()["server_url"]
    assert stored == "ws://localhost:9000/fed/link/c.example"
    r = root.patch(f"/members/{city}", {"server_url": None})  # unbinding stays possible
    assert r.status_code == 200 and r.json()["server_url"] is None


def test_next_free_number_specific_type_overrides_general(root, client):
    prov, city = _chain(root, 2)
    mid = city["id"]
    for body in (
        {"type": "general_meeting", "start": "4000", "end": "4999"},
        {"type": "vmr", "start": "7100", "end": "7199"},
    ):
        assert root.post(f"/members/{mid}/ranges", body).status_code == 201
    r = root.get(f"/members/{mid}/next-free?type=vmr")
    assert r.status_code == 200, r.text
    assert r.json()["number"] == "7100" and r.json()["range"]["type"] == "vmr"
    # no instant_meeting range of its own: the general one answers
    r = root.get(f"/members/{mid}/next-free?type=instant_meeting")
    assert r.json()["number"] == "4000" and r.json()["range"]["type"] == "general_meeting"
    # once it has its own, the specific type wins
    r = root.post(
        f"/members/{mid}/ranges", {"type": "instant_meeting", "start": "6500", "end": "6599"}
    )
    assert r.status_code == 201
    assert root.get(f"/members/{mid}/next-free?type=instant_meeting").json()["number"] == "6500"
    # system accounts never fall back
    r = root.get(f"/members/{mid}/next-free?type=system_account")
    assert r.status_code == 404 and r.json()["error"]["code"] == "no_free_number"
    for bad in ("", "?type=phone", "?type=" + "x" * 40):
        r = root.get(f"/members/{mid}/next-free{bad}")
        assert r.status_code == 422, bad
    # scoped like every member route
    ops = make_admin(client, "c2ops", "admin", root.create_member(prov["id"], "c2").json()["id"])
    r = ops.get(f"/members/{mid}/next-free?type=vmr")
    assert r.status_code == 403 and r.json()["error"]["code"] == "outside_scope"
    doc = root.get("/openapi.json").json()
    op = doc["paths"]["/api/v1/members/{member_id}/next-free"]["get"]
    assert [p["name"] for p in op["parameters"]] == ["member_id", "type"]


# -- trust boundaries: a scoped admin cannot reach outside its subtree through data -----


def _federation(root, client):
    """prov ─┬─ city1 ── county1      prov holds 100000–199999, city1 120000–129999,
    └─ city2                  city2 130000–139999 (all given by the top)."""
    ids = {}
    ids["prov"] = root.create_member(None, "prov", sip_host="127.0.0.1", sip_port=5071).json()["id"]
    for name, parent in (("city1", "prov"), ("city2", "prov"), ("county1", "city1")):
        r = root.create_member(
            ids[parent], name, domain=f"{name}.prov.example.gov", sip_host="127.0.0.1"
        )
        assert r.status_code == 201, r.text
        ids[name] = r.json()["id"]
    for name, start, end in (
        ("prov", "100000", "119999"),
        ("prov", "140000", "199999"),
        ("city1", "120000", "129999"),
        ("city2", "130000", "139999"),
    ):
        body = {"type": "general_meeting", "start": start, "end": end, "remark": f"{name} secret"}
        r = root.post(f"/members/{ids[name]}/ranges", body)
        assert r.status_code == 201, r.text
    admins = {
        name: make_admin(client, f"{name}ops", "admin", ids[name])
        for name in ("prov", "city1", "county1")
    }
    return ids, admins


def _routes(client, number: str) -> int | None:
    """Which member the SIP redirector sends ``number`` to, from the hub's current view."""
    from ops.redirect import routing_table

    services = client.app.state.services
    view = client.portal.call(services.federation.current)
    server = routing_table(view).by_number(number)
    return None if server is None else server.member_id


def _owner(api, number: str) -> int | None:
    r = api.get(f"/numbers/{number}")
    assert r.status_code in (200, 404), r.text
    return r.json()["member_id"] if r.status_code == 200 else None


def test_scoped_admin_cannot_take_numbers_for_its_own_member(root, client):
    """The attack: a city admin gave its own city every 11-digit (or 4-digit) number, and
    INVITEs meant for others went to that city."""
    ids, admins = _federation(root, client)
    city = admins["city1"]
    for start, end in (("00000000000", "99999999999"), ("0000", "9999"), ("125000", "125999")):
        r = city.post(
            f"/members/{ids['city1']}/ranges",
            {"type": "general_meeting", "start": start, "end": end},
        )
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "not_delegated"
    assert [x["start"] for x in root.get(f"/members/{ids['city1']}/ranges").json()["ranges"]] == [
        "120000"
    ]
    for number in ("55555555555", "5555"):
        assert _owner(root, number) is None and _routes(client, number) is None
    # nor from free space or from another line, for a member below it either
    r = city.post(
        f"/members/{ids['county1']}/ranges", {"type": "vmr", "start": "0000", "end": "9999"}
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_delegated"


def test_numbers_are_delegated_top_down_and_the_deepest_holder_answers(root, client):
    ids, admins = _federation(root, client)
    prov, city = admins["prov"], admins["city1"]
    # the province admin gives out of the province's block only
    r = prov.post(
        f"/members/{ids['city2']}/ranges", {"type": "vmr", "start": "150000", "end": "150999"}
    )
    assert r.status_code == 201, r.text
    r = prov.post(
        f"/members/{ids['city2']}/ranges", {"type": "vmr", "start": "300000", "end": "300099"}
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_delegated"
    # the city admin sub-allocates from its city's block to its children
    r = city.post(
        f"/members/{ids['county1']}/ranges", {"type": "vmr", "start": "121000", "end": "121999"}
    )
    assert r.status_code == 201, r.text
    county_range = r.json()["id"]
    expected = {
        "121500": ids["county1"],
        "125000": ids["city1"],
        "150500": ids["city2"],
        "160000": ids["prov"],
        "200000": None,
    }
    for number, member in expected.items():
        assert _owner(root, number) == member, number
        assert _routes(client, number) == member, number
    # next-free skips what the city gave away
    used = root.get(f"/members/{ids['city1']}/next-free?type=general_meeting").json()
    assert used["number"] == "120000"
    # taking numbers back: from above only, and not while sub-allocated
    r = city.delete(f"/members/{ids['city1']}/ranges/{_range_id(root, ids['city1'], '120000')}")
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_delegated"
    r = root.delete(f"/members/{ids['city1']}/ranges/{_range_id(root, ids['city1'], '120000')}")
    assert r.status_code == 409 and r.json()["error"]["code"] == "range_in_use"
    assert city.delete(f"/members/{ids['county1']}/ranges/{county_range}").status_code == 204
    assert _owner(root, "121500") == ids["city1"] and _routes(client, "121500") == ids["city1"]


def _range_id(api, member_id: int, start: str) -> int:
    ranges = api.get(f"/members/{member_id}/ranges").json()["ranges"]
    return next(r["id"] for r in ranges if r["start"] == start)


def test_range_size_cap_for_scoped_admins(root, client):
    ids, admins = _federation(root, client)
    assert root.get("/settings/numbering").json() == {"max_scoped_range": 100_000}
    r = admins["prov"].patch("/settings/numbering", {"max_scoped_range": 10})
    assert r.status_code == 403
    assert root.patch("/settings/numbering", {"max_scoped_range": 0}).status_code == 422
    r = root.patch("/settings/numbering", {"max_scoped_range": 500})
    assert r.status_code == 200 and r.json() == {"max_scoped_range": 500}
    body = {"type": "vmr", "start": "140000", "end": "140999"}
    r = admins["prov"].post(f"/members/{ids['city2']}/ranges", body)
    assert r.status_code == 422 and r.json()["error"]["code"] == "range_too_large"
    assert r.json()["error"]["details"] == {"size": 1000, "limit": 500}
    body["end"] = "140499"
    assert admins["prov"].post(f"/members/{ids['city2']}/ranges", body).status_code == 201
    # the federation-wide admin is not capped
    body = {"type": "vmr", "start": "200000", "end": "299999"}
    assert root.post(f"/members/{ids['city2']}/ranges", body).status_code == 201


def test_domains_follow_the_tree(root, client):
    ids, admins = _federation(root, client)
    prov, city = admins["prov"], admins["city1"]
    # prov.example.gov's admin: only under prov.example.gov
    for domain in ("city4.example.gov", "city4.prov.example.gov.evil.com", "prov.example.gov"):
        r = prov.create_member(ids["prov"], "city4", domain=domain)
        assert r.status_code == 403, (domain, r.text)
        assert r.json()["error"]["code"] == "domain_outside_scope"
    assert (
        prov.create_member(ids["prov"], "city4", domain="city4.prov.example.gov").status_code == 201
    )
    # a county admin below city1 cannot take a city's future domain, nor rename to it
    county = make_admin(client, "county1ops2", "admin", ids["county1"])
    r = county.patch(f"/members/{ids['county1']}", {"domain": "city5.prov.example.gov"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "domain_outside_scope"
    r = city.patch(f"/members/{ids['county1']}", {"domain": "c1.city1.prov.example.gov"})
    assert r.status_code == 200, r.text
    # existing members keep theirs; other fields stay editable
    odd = root.create_member(ids["city1"], "odd", domain="elsewhere.example.org")
    assert odd.status_code == 201  # the federation-wide admin may set any
    r = city.patch(
        f"/members/{odd.json()['id']}", {"remark": "kept", "domain": "elsewhere.example.org"}
    )
    assert r.status_code == 200 and r.json()["domain"] == "elsewhere.example.org"
    assert root.get(f"/members/{ids['county1']}").json()["domain"] == "c1.city1.prov.example.gov"


def test_clashes_outside_the_scope_say_only_taken(root, client):
    ids, admins = _federation(root, client)
    city = admins["city1"]
    # a domain under city1's, held (by the top's choice) by a member of city2's subtree
    r = root.create_member(ids["city2"], "hidden", domain="x.city1.prov.example.gov")
    assert r.status_code == 201
    hidden = r.json()
    r = city.create_member(ids["city1"], "county9", domain="x.city1.prov.example.gov")
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "domain_taken"
    assert err["message"] == "domain 'x.city1.prov.example.gov' is already taken"
    assert err["details"] == {"domain": "x.city1.prov.example.gov"}
    r = city.create_member(ids["city1"], "hidden", domain="y.city1.prov.example.gov")
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "username_taken" and err["details"] == {"username": "hidden"}
    assert str(hidden["id"]) not in err["message"] and "Hidden" not in err["message"]
    # a number clash with another city's range: no id, name, remark or range
    r = city.post(
        f"/members/{ids['county1']}/ranges", {"type": "vmr", "start": "130000", "end": "130010"}
    )
    assert r.status_code == 409, r.text
    err = r.json()["error"]
    assert err["code"] == "range_conflict"
    assert err["message"] == "range 130000–130010 (vmr) overlaps numbers that are already taken"
    assert err["details"] == {"start": "130000", "end": "130010", "type": "vmr"}
    for secret in ("139999", "city2", "secret", "member", "general_meeting"):
        assert secret not in r.text, secret
    # inside its scope the answer still names the range it hits
    ok = city.post(
        f"/members/{ids['county1']}/ranges", {"type": "vmr", "start": "121000", "end": "121999"}
    )
    assert ok.status_code == 201
    r = city.post(
        f"/members/{ids['county1']}/ranges", {"type": "vmr", "start": "121500", "end": "121500"}
    )
    assert r.status_code == 409 and "121000" in r.json()["error"]["message"]
    r = city.create_member(ids["city1"], "county2", domain="county1.prov.example.gov")
    assert r.status_code == 403  # not under city1's domain: refused before any clash
    r = admins["prov"].create_member(ids["prov"], "dup", domain="county1.prov.example.gov")
    assert r.status_code == 409 and str(ids["county1"]) in r.json()["error"]["message"]
