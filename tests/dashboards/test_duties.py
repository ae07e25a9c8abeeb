"""Separation of duties through the API: no role can come to hold another role's powers.

The rule table (docs/api.md, "Trust model"), cell by cell: security and auditor accounts
change only from the shell; an admin-role password set by a security admin needs a
second person before it logs in; a cascade never deletes a security or auditor account
and names every account it does delete.
"""

from __future__ import annotations

import pytest

from tests.dashboards.conftest import Api, make_admin

PW = "Secur1ty-Pass"


@pytest.fixture
def tree(root):
    prov = root.create_member(None, "prov").json()
    city = root.create_member(prov["id"], "city1").json()
    county = root.create_member(city["id"], "county1").json()
    return {"prov": prov["id"], "city": city["id"], "county": county["id"]}


def _id(api: Api) -> int:
    return int(api.get("/auth/session").json()["admin"]["id"])


@pytest.mark.parametrize("role", ["security", "auditor"])
def test_security_cannot_create_security_or_auditor_accounts(root, client, role):
    sec = make_admin(client, "sec", "security", None)
    r = sec.post("/admins", {"username": "x", "password": PW, "role": role, "member_id": None})
    assert r.status_code == 403 and r.json()["error"]["code"] == "shell_required"
    assert "x" not in [a["username"] for a in sec.get("/admins").json()["admins"]]


@pytest.mark.parametrize("role", ["security", "auditor"])
@pytest.mark.parametrize(
    "change",
    [{"password": "Taken-Over-1"}, {"unlock": True}, {"disabled": True}, {"approve": True}],
    ids=["reset", "unlock", "disable", "approve"],
)
def test_security_cannot_change_security_or_auditor_accounts(root, client, role, change):
    sec = make_admin(client, "sec", "security", None)
    other = make_admin(client, "other", role, None)
    oid = _id(other)
    r = sec.patch(f"/admins/{oid}", change)
    assert r.status_code == 403 and r.json()["error"]["code"] == "shell_required"
    assert sec.delete(f"/admins/{oid}").status_code == 403
    # the account is untouched: its session lives, its password is still its own
    assert other.get("/auth/session").status_code == 200
    assert Api(client).login("other", PW).status_code == 200
    assert Api(client).login("other", "Taken-Over-1").status_code == 401


def test_reading_the_log_as_the_auditor_is_out_of_reach(root, client):
    """The attack from the issue: reset the auditor's password, then read as it."""
    sec = make_admin(client, "sec", "security", None)
    aud = make_admin(client, "aud", "auditor", None)
    assert sec.patch(f"/admins/{_id(aud)}", {"password": "Mine-Now-123"}).status_code == 403
    thief = Api(client)
    assert thief.login("aud", "Mine-Now-123").status_code == 401
    assert thief.get("/audit").status_code == 401


def test_a_security_admin_cannot_make_itself_an_operator(root, client, tree):
    """Create an admin-role account (or reset one): it cannot log in until a second
    security admin approves; the one who set the password cannot approve it."""
    sec = make_admin(client, "sec", "security", None)
    r = sec.post(
        "/admins",
        {"username": "puppet", "password": PW, "role": "admin", "member_id": tree["city"]},
    )
    assert r.status_code == 201 and r.json()["pending_approval"] is True
    pid = r.json()["id"]
    puppet = Api(client)
    r = puppet.login("puppet", PW)
    assert r.status_code == 403 and r.json()["error"]["code"] == "approval_pending"
    assert puppet.get("/members").status_code == 401
    r = sec.patch(f"/admins/{pid}", {"approve": True})
    assert r.status_code == 403 and r.json()["error"]["code"] == "second_person_required"
    # a second security admin, scoped below the account's member, cannot see it to approve
    county_sec = make_admin(client, "csec", "security", tree["county"])
    assert county_sec.patch(f"/admins/{pid}", {"approve": True}).status_code == 404
    # one whose scope covers it can
    city_sec = make_admin(client, "citysec", "security", tree["city"])
    r = city_sec.patch(f"/admins/{pid}", {"approve": True})
    assert r.status_code == 200 and r.json()["pending_approval"] is False
    assert puppet.login("puppet", PW).status_code == 200
    # a reset by the first security admin makes it wait again; setting and approving in
    # one request is no second person either
    assert sec.patch(f"/admins/{pid}", {"password": "Reset-Pass-77"}).status_code == 200
    assert Api(client).login("puppet", "Reset-Pass-77").json()["error"]["code"] == (
        "approval_pending"
    )
    r = city_sec.patch(f"/admins/{pid}", {"password": "Other-Pass-88", "approve": True})
    assert r.status_code == 403 and r.json()["error"]["code"] == "second_person_required"
    assert city_sec.patch(f"/admins/{pid}", {"approve": True}).status_code == 200
    assert Api(client).login("puppet", "Reset-Pass-77").status_code == 200


def test_account_work_that_hands_out_no_credential_stays_with_one_person(root, client):
    sec = make_admin(client, "sec", "security", None)
    op = make_admin(client, "op", "admin", None, "Operat0r-Pass")
    oid = _id(op)
    for i in range(5):
        Api(client).login("op", f"wrong{i}")
    assert sec.patch(f"/admins/{oid}", {"unlock": True}).json()["locked_until"] is None
    assert sec.patch(f"/admins/{oid}", {"disabled": True}).json()["disabled"] is True
    assert sec.patch(f"/admins/{oid}", {"disabled": False}).json()["disabled"] is False
    assert Api(client).login("op", "Operat0r-Pass").status_code == 200
    assert sec.delete(f"/admins/{oid}").status_code == 204


def test_other_roles_cannot_manage_accounts(root, client):
    aud = make_admin(client, "aud", "auditor", None)
    target = _id(make_admin(client, "op", "admin", None))
    for who in (root, aud):
        assert who.get("/admins").status_code == 403
        assert who.patch(f"/admins/{target}", {"disabled": True}).status_code == 403
        assert who.delete(f"/admins/{target}").status_code == 403
        body = {"username": "y", "password": PW, "role": "admin", "member_id": None}
        assert who.post("/admins", body).status_code == 403


def test_cascade_refuses_to_delete_security_or_auditor_accounts(root, client, tree):
    make_admin(client, "county-aud", "auditor", tree["county"])
    r = root.delete(f"/members/{tree['city']}?cascade=true")
    assert r.status_code == 409 and r.json()["error"]["code"] == "has_protected_accounts"
    assert r.json()["error"]["details"]["accounts"][0]["role"] == "auditor"
    assert root.get(f"/members/{tree['county']}").status_code == 200  # nothing went
    assert Api(client).login("county-aud", PW).status_code == 200


def test_cascade_names_every_account_it_deletes(root, client, tree):
    ops = [
        make_admin(client, "city-op", "admin", tree["city"]),
        make_admin(client, "county-op", "admin", tree["county"]),
    ]
    ids = sorted(_id(o) for o in ops)
    assert root.delete(f"/members/{tree['city']}?cascade=true").status_code == 204
    assert all(o.get("/auth/session").status_code == 401 for o in ops)
    aud = make_admin(client, "aud", "auditor", None)
    [entry] = [
        e for e in aud.get("/audit?action=member.delete").json()["entries"] if e["result"] == "ok"
    ]
    named = entry["details"]["deleted_admins"]
    assert sorted(a["id"] for a in named) == ids
    assert {a["username"] for a in named} == {"city-op", "county-op"}
    assert sorted(entry["details"]["deleted"]) == sorted([tree["city"], tree["county"]])
