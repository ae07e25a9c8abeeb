"""Commands stay in scope in their arguments too (issue 9): a `call` naming a number held
by a member outside the caller's subtree is refused, without saying whose it is."""

from __future__ import annotations

from tests.dashboards.conftest import make_admin


def test_call_with_a_number_outside_the_scope_is_refused(client, root):
    prov = root.create_member(None, "prov", domain="prov.example.gov").json()
    city1 = root.create_member(prov["id"], "city1", domain="city1.prov.example.gov").json()
    city2 = root.create_member(prov["id"], "city2", domain="city2.prov.example.gov").json()
    for member, start, end in (
        (prov, "500000", "500999"),
        (city1, "510000", "510999"),
        (city2, "520000", "520999"),
    ):
        r = root.post(
            f"/members/{member['id']}/ranges",
            {"type": "general_meeting", "start": start, "end": end},
        )
        assert r.status_code == 201, r.text
    city_admin = make_admin(client, "city1ops", "admin", city1["id"])

    def call(number: str):
        return city_admin.post(
            f"/live/members/{city1['id']}/commands",
            {"kind": "call", "conference": "510001", "args": {"number": number}},
        )

    for foreign in ("520001", "500001"):  # another city's meeting, the province's
        r = call(foreign)
        assert r.status_code == 403, r.text
        err = r.json()["error"]
        assert err["code"] == "outside_scope"
        # says whose it is not: no member id, domain or name
        assert "member" not in err["message"] and "prov" not in err["message"], err
        assert err["details"] == {} or "member_id" not in err["details"], err
    # its own numbers and numbers nobody holds pass the scope check (no link here: 404)
    for ok in ("510002", "999"):
        r = call(ok)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_linked", r.text
    # the province's admin may call any of them
    r = root.post(
        f"/live/members/{city1['id']}/commands",
        {"kind": "call", "conference": "510001", "args": {"number": "520001"}},
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_linked", r.text
