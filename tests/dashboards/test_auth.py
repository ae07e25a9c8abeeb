"""Login, password change gate, lockout, throttling, CSRF, sessions and API tokens."""

from __future__ import annotations

from tests.dashboards.conftest import NEW_ADMIN_PASSWORD, Api, make_admin


def test_default_admin_must_change_password_first(client):
    a = Api(client)
    r = a.login("admin", "123456")
    assert r.status_code == 200
    body = r.json()
    assert body["password_change_required"] is True
    assert body["admin"]["username"] == "admin" and body["csrf_token"]
    assert "password" not in r.text.lower().replace("password_change_required", "")
    r = a.get("/members")
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "password_change_required"
    r = a.post("/members", {"parent_id": None})
    assert r.status_code == 403 and r.json()["error"]["code"] == "password_change_required"
    assert a.get("/auth/session").status_code == 200


def test_session_cookie_flags(client):
    r = Api(client).login("admin", "123456")
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie


def test_password_policy(client):
    a = Api(client)
    a.login("admin", "123456")
    for weak, why in [
        ("short1A", "at least 8"),
        ("alllowercase", "three of"),
        ("Admin123", None),  # fine: 3 classes, 8 chars, not the username
        ("nimda", "at least 8"),
    ]:
        r = a.post("/auth/password", {"old_password": "123456", "new_password": weak})
        if why is None:
            assert r.status_code == 204, r.text
            break
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "weak_password"
        assert why in r.json()["error"]["message"]


def test_password_equal_to_username_refused(client):
    make_admin(client, "Ops.Admin1", "admin", None)
    a = Api(client)
    a.login("Ops.Admin1", "Secur1ty-Pass")
    r = a.post("/auth/password", {"old_password": "Secur1ty-Pass", "new_password": "ops.admin1"})
    assert r.status_code == 422 and "not be the username" in r.text
    r = a.post("/auth/password", {"old_password": "Secur1ty-Pass", "new_password": "OPS.ADMIN1"})
    assert r.status_code == 422


def test_wrong_old_password(client):
    a = Api(client)
    a.login("admin", "123456")
    r = a.post("/auth/password", {"old_password": "nope", "new_password": NEW_ADMIN_PASSWORD})
    assert r.status_code == 403 and r.json()["error"]["code"] == "bad_credentials"


def test_bad_credentials_and_unknown_user_look_alike(client):
    a = Api(client)
    r1 = a.login("admin", "wrong")
    r2 = a.login("nobody", "wrong")
    assert r1.status_code == r2.status_code == 401
    assert r1.json()["error"] == r2.json()["error"]


def test_lockout_after_five_failures_then_unlock(root, client):
    make_admin(client, "op1", "admin", None, "Operat0r-Pass")
    a = Api(client)
    codes = [a.login("op1", f"wrong{i}").status_code for i in range(5)]
    assert codes[:4] == [401] * 4
    assert codes[4] == 423
    r = a.login("op1", "Operat0r-Pass")  # the right password does not help while locked
    assert r.status_code == 423
    assert r.json()["error"]["code"] == "account_locked"
    sec = make_admin(client, "sec1", "security", None)
    admins = {x["username"]: x for x in sec.get("/admins").json()["admins"]}
    assert admins["op1"]["locked_until"] is not None
    r = sec.patch(f"/admins/{admins['op1']['id']}", {"unlock": True})
    assert r.status_code == 200 and r.json()["locked_until"] is None
    assert a.login("op1", "Operat0r-Pass").status_code == 200


def test_per_ip_throttle(client, app):
    app.state.services.throttle.max_failures = 3
    a = Api(client)
    for i in range(3):
        assert a.login(f"ghost{i}", "x").status_code == 401
    r = a.login("admin", "123456")
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "too_many_attempts"
    assert int(r.headers["retry-after"]) >= 1


def test_csrf_required_for_unsafe_cookie_requests(root):
    r = root.post(
        "/members",
        {
            "parent_id": None,
            "domain": "p.example.gov",
            "display_name": "P",
            "username": "p",
            "password": "Member-Pass1",
        },
        csrf=False,
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
    r = root.post("/members", {}, headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
    assert root.get("/members").status_code == 200  # safe methods need none
    r = root.post("/auth/logout", csrf=False)
    assert r.status_code == 403


def test_logout_ends_session(root):
    assert root.post("/auth/logout").status_code == 204
    r = root.get("/members")
    assert r.status_code == 401


def test_password_change_ends_other_sessions(root, client):
    other = Api(client)
    assert other.login("admin", NEW_ADMIN_PASSWORD).status_code == 200
    assert other.get("/members").status_code == 200
    r = root.post(
        "/auth/password", {"old_password": NEW_ADMIN_PASSWORD, "new_password": "An0ther-Pass"}
    )
    assert r.status_code == 204
    assert other.get("/members").status_code == 401
    assert root.get("/members").status_code == 200


def test_idle_timeout(client, app):
    from datetime import timedelta

    app.state.services.sessions.idle = timedelta(seconds=-1)
    a = Api(client)
    a.login("admin", "123456")
    r = a.get("/auth/session")
    assert r.status_code == 401 and r.json()["error"]["code"] == "session_expired"


def test_bearer_tokens(root, client):
    r = root.post("/tokens", {"name": "ci script", "expires_in_days": 30})
    assert r.status_code == 201
    secret = r.json()["token"]
    tid = r.json()["api_token"]["id"]
    assert secret.startswith("fh_")
    bearer = Api(client)
    auth = {"Authorization": f"Bearer {secret}"}
    # no cookie, no CSRF: a bearer token is enough, also for unsafe requests
    r = bearer.post(
        "/members",
        {
            "parent_id": None,
            "domain": "prov.example.gov",
            "display_name": "Prov",
            "username": "prov",
            "password": "Member-Pass1",
        },
        headers=auth,
    )
    assert r.status_code == 201, r.text
    listed = root.get("/tokens").json()["tokens"]
    assert [t["id"] for t in listed] == [tid] and "token" not in listed[0]
    assert root.delete(f"/tokens/{tid}").status_code == 204
    r = bearer.get("/members", headers=auth)
    assert r.status_code == 401
    assert (
        bearer.get("/members", headers={"Authorization": "Bearer fh_nonsense"}).status_code == 401
    )
    assert bearer.get("/members", headers={"Authorization": "Basic abc"}).status_code == 401


def test_token_is_scoped_like_its_admin(root, client):
    prov = root.create_member(None, "prov").json()
    city = root.create_member(prov["id"], "city1").json()
    other = root.create_member(prov["id"], "city2").json()
    scoped = make_admin(client, "cityops", "admin", city["id"])
    secret = scoped.post("/tokens", {"name": "t"}).json()["token"]
    bearer = Api(client)
    auth = {"Authorization": f"Bearer {secret}"}
    assert bearer.get(f"/members/{city['id']}", headers=auth).status_code == 200
    r = bearer.get(f"/members/{other['id']}", headers=auth)
    assert r.status_code == 403 and r.json()["error"]["code"] == "outside_scope"


def test_roles_are_separated(root, client):
    auditor = make_admin(client, "aud", "auditor", None)
    sec = make_admin(client, "sec", "security", None)
    r = auditor.get("/members")
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden_role"
    assert root.get("/admins").status_code == 403
    assert root.get("/audit").status_code == 403
    assert sec.get("/audit").status_code == 403
    assert (
        sec.post(
            "/members",
            {
                "parent_id": None,
                "domain": "x.example.gov",
                "display_name": "X",
                "username": "x",
                "password": "Member-Pass1",
            },
        ).status_code
        == 403
    )
    assert auditor.get("/audit").status_code == 200


def test_security_admin_manages_accounts_in_scope(root, client):
    prov = root.create_member(None, "prov").json()
    city = root.create_member(prov["id"], "city1").json()
    county = root.create_member(city["id"], "county1").json()
    city2 = root.create_member(prov["id"], "city2").json()
    sec = make_admin(client, "citysec", "security", city["id"])
    r = sec.post(
        "/admins",
        {
            "username": "countyops",
            "password": "County-Ops1",
            "role": "admin",
            "member_id": county["id"],
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["password_change_required"] is True
    r = sec.post(
        "/admins",
        {"username": "x2", "password": "County-Ops1", "role": "admin", "member_id": city2["id"]},
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "outside_scope"
    r = sec.post(
        "/admins", {"username": "x3", "password": "County-Ops1", "role": "admin", "member_id": None}
    )
    assert r.status_code == 403
    r = sec.post(
        "/admins",
        {
            "username": "countyops",
            "password": "County-Ops1",
            "role": "admin",
            "member_id": county["id"],
        },
    )
    assert r.status_code == 409
    names = [a["username"] for a in sec.get("/admins").json()["admins"]]
    assert "countyops" in names and "admin" not in names
    admin_id = root.get("/auth/session").json()["admin"]["id"]
    assert sec.get(f"/admins/{admin_id}").status_code == 404  # root admin is outside its scope
    me = sec.get("/auth/session").json()["admin"]["id"]
    assert sec.delete(f"/admins/{me}").status_code == 403
    assert sec.patch(f"/admins/{me}", {"disabled": True}).status_code == 403


def test_disabled_admin_cannot_log_in_and_sessions_end(root, client):
    op = make_admin(client, "op2", "admin", None, "Operat0r-Pass")
    sec = make_admin(client, "sec2", "security", None)
    op_id = op.get("/auth/session").json()["admin"]["id"]
    assert sec.patch(f"/admins/{op_id}", {"disabled": True}).status_code == 200
    assert op.get("/members").status_code == 401
    r = Api(client).login("op2", "Operat0r-Pass")
    assert r.status_code == 403 and r.json()["error"]["code"] == "account_disabled"


def test_guessing_the_old_password_locks_the_account(root):
    for i in range(4):
        r = root.post(
            "/auth/password", {"old_password": f"guess{i}", "new_password": "Whatever-99"}
        )
        assert r.status_code == 403
    r = root.post("/auth/password", {"old_password": "guess5", "new_password": "Whatever-99"})
    assert r.status_code == 423
    assert root.get("/members").status_code == 401  # the session was ended too


def test_own_login_does_not_reset_the_ip_throttle(client, app):
    """A valid account must not buy an attacker fresh guesses from the same address."""
    app.state.services.throttle.max_failures = 3
    a = Api(client)
    for i in range(2):
        assert a.login(f"ghost{i}", "x").status_code == 401
    assert a.login("admin", "123456").status_code == 200
    assert a.login("ghost9", "x").status_code == 401  # the third failure in the window
    r = a.login("admin", "123456")
    assert r.status_code == 429, "a successful login must not wipe the address's failures"


def _token(api: Api) -> tuple[str, int, dict[str, str]]:
    r = api.post("/tokens", {"name": "script"})
    assert r.status_code == 201, r.text
    return (
        r.json()["token"],
        r.json()["api_token"]["id"],
        {"Authorization": f"Bearer {r.json()['token']}"},
    )


def test_a_token_cannot_make_or_revoke_tokens(root, client):
    secret, tid, auth = _token(root)
    other_secret, other_id, other_auth = _token(root)
    bearer = Api(client)
    r = bearer.post("/tokens", {"name": "forever"}, headers=auth)
    assert r.status_code == 403 and r.json()["error"]["code"] == "session_required"
    r = bearer.delete(f"/tokens/{other_id}", headers=auth)
    assert r.status_code == 403
    assert bearer.get("/members", headers=other_auth).status_code == 200  # untouched
    assert len(root.get("/tokens").json()["tokens"]) == 2


def test_password_change_reset_and_disable_retire_tokens(root, client):
    op = make_admin(client, "op1", "admin", None, password="Operat0r-Pass")
    sec = make_admin(client, "sec", "security", None)
    op_id = op.get("/auth/session").json()["admin"]["id"]
    bearer = Api(client)

    # the owner changes the password: its tokens stop working
    _, _, auth = _token(op)
    r = op.post(
        "/auth/password", {"old_password": "Operat0r-Pass", "new_password": "Operat0r-Pass2"}
    )
    assert r.status_code == 204, r.text
    assert bearer.get("/members", headers=auth).status_code == 401

    # a security admin resets it: tokens made before stop working, even after a new password
    _, _, auth = _token(op)
    assert sec.patch(f"/admins/{op_id}", {"password": "Reset-Pass-77"}).status_code == 200
    second = make_admin(client, "sec-two", "security", None)
    assert second.patch(f"/admins/{op_id}", {"approve": True}).status_code == 200
    op2 = Api(client)
    assert op2.login("op1", "Reset-Pass-77").status_code == 200
    r = op2.post(
        "/auth/password", {"old_password": "Reset-Pass-77", "new_password": "Fresh-Pass-88"}
    )
    assert r.status_code == 204
    assert bearer.get("/members", headers=auth).status_code == 401

    # disabled then enabled again: the old token does not come back
    _, _, auth = _token(op2)
    assert sec.patch(f"/admins/{op_id}", {"disabled": True}).status_code == 200
    assert sec.patch(f"/admins/{op_id}", {"disabled": False}).status_code == 200
    assert bearer.get("/members", headers=auth).status_code == 401
    assert Api(client).login("op1", "Fresh-Pass-88").status_code == 200


def test_unicode_digits_in_ids_are_not_ids(root):
    for path in ("/members/%C2%B2", "/members/%D9%A3/ranges", "/audit?limit=%C2%B2"):
        r = root.get(path)
        assert r.status_code in (403, 404, 422), (path, r.status_code)
        assert r.json()["error"]["code"] != "internal_error"
    assert root.get("/members/%C2%B2").status_code == 404


def test_expired_sessions_are_purged_from_storage(root, client, app):
    from datetime import timedelta

    op = make_admin(client, "op1", "admin", None, password="Operat0r-Pass")
    op_id = op.get("/auth/session").json()["admin"]["id"]
    sessions = app.state.services.sessions
    count = lambda: client.portal.call(sessions.count, op_id)  # noqa: E731
    assert count() == 1
    idle = sessions.idle
    # an idle timeout below zero: every stored session is past it now, no waiting needed
    sessions.idle = timedelta(seconds=-1)
    try:
        assert Api(client).login("admin", NEW_ADMIN_PASSWORD).status_code == 200
    finally:
        sessions.idle = idle
    assert count() == 0, "an idle-expired session stayed in storage"
    assert op.get("/members").status_code == 401
