"""The audit log: every login and change, refusals with reasons, filters, CSV, no secrets."""

from __future__ import annotations

import csv
import io

from tests.dashboards.conftest import MEMBER_PASSWORD, NEW_ADMIN_PASSWORD, Api, make_admin


def test_changes_and_logins_are_logged(root, client):
    prov = root.create_member(None, "prov").json()
    root.post(f"/members/{prov['id']}/ranges", {"type": "vmr", "start": "100", "end": "199"})
    root.post(
        f"/members/{prov['id']}/ranges", {"type": "vmr", "start": "150", "end": "250"}
    )  # refused
    Api(client).login("admin", "bad-password")
    aud = make_admin(client, "aud", "auditor", None)
    entries = aud.get("/audit?limit=1000").json()["entries"]
    actions = [(e["action"], e["result"]) for e in entries]
    assert ("auth.login", "ok") in actions
    assert ("auth.login", "refused") in actions
    assert ("auth.password", "ok") in actions
    assert ("member.create", "ok") in actions
    assert ("range.create", "ok") in actions
    refused = [e for e in entries if e["action"] == "range.create" and e["result"] == "refused"]
    assert refused and "range_conflict" in refused[0]["reason"] and "100" in refused[0]["reason"]
    created = [e for e in entries if e["action"] == "member.create"][0]
    assert created["admin"] == "admin" and created["target"] == f"member:{prov['id']}"
    assert created["source_ip"]
    failed_login = [e for e in entries if e["action"] == "auth.login" and e["result"] == "refused"][
        0
    ]
    assert failed_login["admin"] == "admin" and "bad_credentials" in failed_login["reason"]
    blob = str(entries)
    for secret in ["123456", NEW_ADMIN_PASSWORD, MEMBER_PASSWORD, "bad-password", root.csrf]:
        assert secret not in blob, secret


def test_filters_and_paging(root, client):
    root.create_member(None, "prov")
    aud = make_admin(client, "aud", "auditor", None)
    only = aud.get("/audit?action=member.create").json()["entries"]
    assert [e["action"] for e in only] == ["member.create"]
    assert aud.get("/audit?admin=nobody").json()["entries"] == []
    assert aud.get("/audit?result=refused&action=member.create").json()["entries"] == []
    page1 = aud.get("/audit?limit=2").json()
    assert len(page1["entries"]) == 2 and page1["next_before_id"]
    page2 = aud.get(f"/audit?limit=2&before_id={page1['next_before_id']}").json()
    assert page2["entries"][0]["id"] < page1["entries"][-1]["id"]
    assert aud.get("/audit?since=2000-01-01T00:00:00Z").json()["entries"]
    assert aud.get("/audit?until=2000-01-01T00:00:00Z").json()["entries"] == []
    assert aud.get("/audit?since=yesterday").status_code == 422
    assert aud.get("/audit?since=2000-01-01T00:00:00").status_code == 422
    assert aud.get("/audit?limit=0").status_code == 422
    assert aud.get("/audit?result=maybe").status_code == 422


def test_csv_export(root, client):
    root.post(
        "/members",
        {
            "parent_id": None,
            "domain": "p.example.gov",
            "display_name": '=HYPERLINK("x")',
            "username": "p",
            "password": MEMBER_PASSWORD,
        },
    )
    aud = make_admin(client, "aud", "auditor", None)
    r = aud.get("/audit/export?action=member.create")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][:5] == ["id", "at", "admin", "source_ip", "action"]
    assert len(rows) == 2 and rows[1][4] == "member.create"


def test_scoped_auditor_sees_its_subtree(root, client):
    prov = root.create_member(None, "prov").json()
    c1 = root.create_member(prov["id"], "city1").json()
    c2 = root.create_member(prov["id"], "city2").json()
    ops1 = make_admin(client, "ops1", "admin", c1["id"])
    ops2 = make_admin(client, "ops2", "admin", c2["id"])
    ops1.create_member(c1["id"], "county1")
    ops2.create_member(c2["id"], "county2")
    aud = make_admin(client, "aud1", "auditor", c1["id"])
    names = {e["admin"] for e in aud.get("/audit?limit=1000").json()["entries"]}
    assert "ops1" in names and "ops2" not in names and "admin" not in names


def test_audit_is_append_only_through_the_api(client, root):
    aud = make_admin(client, "aud", "auditor", None)
    for method in ("DELETE", "PATCH", "PUT", "POST"):
        r = aud.request(method, "/audit")
        assert r.status_code == 405


def test_server_log_holds_no_secret(root, client, caplog):
    """Everything the server logs at DEBUG, through logins, refusals and tokens, is secret-free."""
    import logging

    caplog.set_level(logging.DEBUG)
    prov = root.create_member(None, "prov").json()
    root.patch(f"/members/{prov['id']}", {"password": "Other-Member-Pass2"})
    root.create_member(prov["id"], "bad domain!")  # refused, logged
    Api(client).login("admin", "wrong-Passw0rd")  # refused, logged
    root.post("/auth/password", {"old_password": "wrong-Old-1", "new_password": "Xx-New-pass9"})
    token = root.post("/tokens", {"name": "script"}).json()["token"]
    bearer = client.get("/api/v1/members", headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 200
    session = root.jar["fedhub_session"]
    assert caplog.records, "the server logged nothing at all"
    logged = "\n".join(r.getMessage() + str(r.exc_info or "") for r in caplog.records)
    assert "refused" in logged
    secrets = [
        "123456",
        NEW_ADMIN_PASSWORD,
        MEMBER_PASSWORD,
        "Other-Member-Pass2",
        "wrong-Passw0rd",
        "wrong-Old-1",
        "Xx-New-pass9",
        token,
        session,
        root.csrf,
    ]
    for secret in secrets:
        assert secret not in logged, f"a secret reached the log: {secret[:3]}…"


def test_a_new_member_never_inherits_a_deleted_members_audit_history(root, client):
    """SQLite reuses the highest rowid once it is deleted; member ids must not be reused."""
    prov = root.create_member(None, "prov").json()
    city_a = root.create_member(prov["id"], "citya").json()
    city_b = root.create_member(prov["id"], "cityb").json()
    gone = root.create_member(city_b["id"], "gone").json()  # the highest id so far
    op = make_admin(client, "opgone", "admin", gone["id"])
    r = op.patch(f"/members/{gone['id']}", {"remark": "soon gone"})
    assert r.status_code == 200
    assert root.delete(f"/members/{gone['id']}?cascade=true").status_code == 204
    fresh = root.create_member(city_a["id"], "fresh").json()
    assert fresh["id"] != gone["id"]
    aud = make_admin(client, "audfresh", "auditor", fresh["id"])
    entries = aud.get("/audit?limit=1000").json()["entries"]
    assert not any(e["admin"] == "opgone" for e in entries), "another member's history leaked"
