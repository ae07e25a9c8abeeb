"""What an anonymous client can do to the login and to the audit log behind it.

An unknown name locks like an account (no enumeration), throttled and refused attempts
are counted in one audit row per source and window (no flooding), every check against
a real account keeps its own row, and usernames are one name whatever their case.
"""

from __future__ import annotations

from typing import Any

from tests.dashboards.conftest import Api, make_admin


def _entries(client: Any, **filters: str) -> list[dict[str, Any]]:
    """Every audit entry (read straight from storage, no auditor login in between)."""
    from storage.audit import AuditQuery

    services = client.app.state.services
    q = AuditQuery(limit=100_000, **filters)  # type: ignore[arg-type]
    return [e.to_json() for e in client.portal.call(services.audit.query, q)]


def test_an_unknown_name_locks_like_a_real_account(client):
    a = Api(client)
    real = [a.login("admin", f"wrong{i}") for i in range(6)]
    fake = [a.login("no-such-admin", f"wrong{i}") for i in range(6)]
    assert [r.status_code for r in real] == [401, 401, 401, 401, 423, 423]
    assert [r.status_code for r in fake] == [r.status_code for r in real]
    for r, f in zip(real, fake, strict=True):
        err_r, err_f = r.json()["error"], f.json()["error"]
        assert err_r["code"] == err_f["code"] and err_r["message"] == err_f["message"]
        assert set(err_r["details"]) == set(err_f["details"])
    # a name is one name whatever its case, for accounts and strangers alike
    assert a.login("ADMIN", "123456").status_code == 423
    assert a.login("No-Such-Admin", "x").status_code == 423


def test_unknown_name_counters_are_bounded_and_keep_no_names(client, app):
    services = app.state.services
    services.admins.max_strangers = 4
    a = Api(client)
    for i in range(10):
        assert a.login(f"sprayed-name-{i}", "x").status_code == 401
    assert client.portal.call(services.admins.stranger_count) == 4

    def stored_keys() -> list[str]:
        from sqlalchemy import select

        from storage.models import LoginStrangerRow

        async def run() -> list[str]:
            async with services.db.session() as s:
                return list((await s.execute(select(LoginStrangerRow.key))).scalars())

        return client.portal.call(run)

    assert not any("sprayed" in k for k in stored_keys())


def test_throttled_logins_cannot_flood_the_audit_log(client, app):
    """5,000 throttled logins with attacker-chosen names from one address: one audit row
    counting them, none of the names stored; real attempts keep a row each."""
    app.state.services.throttle.max_failures = 3
    a = Api(client)
    for i in range(3):  # three real checks, each kept with the account it named
        assert a.login("admin", f"guess-{i}").status_code == 401
    before = client.portal.call(app.state.services.audit.count_rows)
    codes = {a.login(f"attacker-name-{i}", "x").status_code for i in range(5000)}
    assert codes == {429}
    after = client.portal.call(app.state.services.audit.count_rows)
    assert after - before <= 2, f"{after - before} audit rows for 5,000 throttled logins"
    logins = _entries(client, action="auth.login")
    throttled = [e for e in logins if "too_many_attempts" in e["reason"]]
    assert sum(e["count"] for e in throttled) == 5000
    assert all(e["source_ip"] == "testclient" and e["details"]["aggregated"] for e in throttled)
    assert "attacker-name" not in str(logins)
    real = [e for e in logins if e["admin"] == "admin" and "bad_credentials" in e["reason"]]
    assert len(real) == 3 and all(e["count"] == 1 for e in real)
    assert {e["target"] for e in real} == {real[0]["target"]} and real[0]["admin_id"]


def test_refusals_of_unknown_names_and_locked_accounts_are_aggregated(client):
    a = Api(client)
    for i in range(30):
        a.login(f"someone-{i % 3}", "x")  # three unknown names, locked after five each
    for _ in range(12):
        a.login("admin", "wrong")  # 5 checked (the 5th locks), then 7 refused unchecked
    logins = _entries(client, action="auth.login")
    per_account = [e for e in logins if e["admin"] == "admin"]
    assert len(per_account) == 5 and all(e["count"] == 1 for e in per_account)
    locked = [e for e in logins if e["target"] == per_account[0]["target"] and not e["admin"]]
    assert len(locked) == 1 and locked[0]["count"] == 7
    assert "account_locked" in locked[0]["reason"]
    strangers = [e for e in logins if e["target"] == ""]
    assert sum(e["count"] for e in strangers) == 30
    assert len(strangers) <= 2  # one per reason (bad_credentials, account_locked)
    assert "someone" not in str(logins)


def test_usernames_are_unique_ignoring_case(root, client):
    make_admin(client, "Ops.Admin", "admin", None)
    sec = make_admin(client, "sec", "security", None)
    for name in ("ops.admin", "OPS.ADMIN", "Admin"):
        r = sec.post(
            "/admins",
            {"username": name, "password": "County-Ops1", "role": "admin", "member_id": None},
        )
        assert r.status_code == 409, (name, r.text)
        assert r.json()["error"] == {
            "code": "username_taken",
            "message": "this admin username is taken",
            "details": {},
        }
    # a login finds the account whatever the case
    assert Api(client).login("ops.ADMIN", "Secur1ty-Pass").status_code == 200


def test_concurrent_creates_of_one_name_make_one_account(client, app):
    """The unique index, not the check before it, decides a race."""
    import asyncio

    from storage.admins import Role, UsernameTaken

    admins = app.state.services.admins

    async def race() -> list[object]:
        return await asyncio.gather(
            *(admins.create(n, "x", Role.ADMIN, None) for n in ("twin", "Twin", "TWIN", "tWin")),
            return_exceptions=True,
        )

    results = client.portal.call(race)
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, UsernameTaken) for r in results if isinstance(r, BaseException))


def test_query_times_are_validated_into_a_sane_range(root, client):
    aud = make_admin(client, "aud", "auditor", None)
    for q in (
        "until=0001-01-01T00:00:00%2B23:59",
        "since=0001-01-01T00:00:00%2B23:59",
        "until=9999-12-31T23:59:59-23:59",
        "since=9999-12-31T00:00:00Z",
        "until=1900-01-01T00:00:00Z",
    ):
        for path in ("/audit", "/audit/export"):
            r = aud.get(f"{path}?{q}")
            assert r.status_code == 422, (path, q, r.status_code, r.text)
            assert r.json()["error"]["code"] == "invalid_input"
    ok = aud.get("/audit?since=1970-01-01T00:00:00Z&until=9998-12-31T23:59:59%2B05:00")
    assert ok.status_code == 200 and ok.json()["entries"]
