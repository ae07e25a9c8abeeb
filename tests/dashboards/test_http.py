"""Bad input at the HTTP edge: sizes, media types, JSON, schemas, routes, health, docs."""

from __future__ import annotations

import orjson


def test_oversize_body_refused(root):
    big = {
        "parent_id": None,
        "domain": "p.example.gov",
        "display_name": "P",
        "username": "p",
        "password": "Member-Pass1",
        "remark": "x" * 100_000,
    }
    r = root.post("/members", big)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "body_too_large"
    assert root.get("/members").json()["members"] == []


def test_oversize_body_without_length_refused(root):
    def gen():
        for _ in range(100):
            yield b"x" * 1024

    r = root.request(
        "POST", "/members", content=gen(), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413


def test_wrong_media_type_and_bad_json(root):
    r = root.request(
        "POST",
        "/members",
        content=b"a=b",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 415
    r = root.request(
        "POST", "/members", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    r = root.request(
        "POST",
        "/members",
        content=orjson.dumps([1, 2]),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422


def test_schema_errors_name_the_field_but_not_the_value(root):
    r = root.post(
        "/members",
        {
            "parent_id": None,
            "domain": "p.example.gov",
            "display_name": "P",
            "username": "p",
            "password": "S3cret-" + "x" * 200,
        },
    )
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["message"].startswith("password:")
    assert "S3cret" not in r.text
    r = root.post("/members", {"parent_id": None, "unexpected": 1})
    assert r.status_code == 422
    assert any(
        "unexpected" in e["message"] or "required" in e["message"]
        for e in r.json()["error"]["details"]["errors"]
    )


def test_unknown_routes_and_ids(root):
    r = root.get("/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    for path in ["/members/0", "/members/-1", "/members/abc", "/members/99999999999999999999"]:
        r = root.get(path)
        assert r.status_code == 404, path
    r = root.request("PUT", "/members")
    assert r.status_code == 405


def test_unauthenticated(client):
    r = client.get("/api/v1/members")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"


def test_health(client):
    assert client.get("/healthz").json()["status"] == "ok"
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready"


def test_readyz_reports_pending_migrations(client, app):
    services = app.state.services

    async def rewind() -> None:
        from sqlalchemy import text

        async with services.db.session() as s:
            await s.execute(text("UPDATE alembic_version SET version_num = 'old'"))

    client.portal.call(rewind)
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["migrations"]["head"] is not None


def test_openapi_document_is_valid_and_complete(client):
    from openapi_spec_validator import validate

    doc = client.get("/api/v1/openapi.json").json()
    validate(doc)
    ops = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
    for needed in [
        ("POST", "/api/v1/auth/login"),
        ("POST", "/api/v1/auth/password"),
        ("POST", "/api/v1/auth/logout"),
        ("GET", "/api/v1/members"),
        ("POST", "/api/v1/members"),
        ("GET", "/api/v1/members/{member_id}"),
        ("PATCH", "/api/v1/members/{member_id}"),
        ("DELETE", "/api/v1/members/{member_id}"),
        ("GET", "/api/v1/members/{member_id}/ranges"),
        ("POST", "/api/v1/members/{member_id}/ranges"),
        ("DELETE", "/api/v1/members/{member_id}/ranges/{range_id}"),
        ("GET", "/api/v1/numbers/{number}"),
        ("GET", "/api/v1/audit"),
        ("GET", "/api/v1/audit/export"),
        ("POST", "/api/v1/tokens"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
    ]:
        assert needed in ops, needed
    # every route the app serves is documented (but the HTML pages, docs/pages.md)
    from starlette.routing import Route

    from dashboards.pages import PAGES, PUBLIC_PAGES

    pages = {"/", *(p.path for p in PAGES + PUBLIC_PAGES)}
    served = {
        (m, r.path)
        for r in client.app.routes
        if isinstance(r, Route) and r.path not in pages
        for m in (r.methods or [])
        if m != "HEAD"
    }
    assert served <= ops, served - ops


def test_control_characters_refused_everywhere(root, client):
    """NUL bytes would make PostgreSQL fail; they get a 422 on every backend."""
    r = root.post("/auth/login", {"username": "adm\u0000in", "password": "x"})
    assert r.status_code == 422 and "control characters" in r.json()["error"]["message"]
    r = root.create_member(None, "prov", display_name="Pro\u0007v")
    assert r.status_code == 422 and r.json()["error"]["message"].startswith("display_name:")
    r = root.create_member(None, "prov", remark="line one\nline two\ttabbed")
    assert r.status_code == 201
    from tests.dashboards.conftest import make_admin

    aud = make_admin(client, "aud", "auditor", None)
    assert aud.get("/audit?admin=a%00b").status_code == 422


def test_front_door_says_where_things_are(client):
    for path in ("/api/v1/",):
        r = client.get(path)
        assert r.status_code == 200, path
        doc = r.json()
        assert doc["name"] == "fedhub" and doc["openapi"] == "/api/v1/openapi.json"
        assert doc["pages"] == "/"
        assert client.get(doc["pages"]).headers["content-type"].startswith("text/html")
        assert client.get(doc["openapi"]).status_code == 200
        assert client.get(doc["health"]).json()["status"] == "ok"


def test_security_headers_on_every_kind_of_response(client, root):
    responses = {
        "ok": root.get("/members"),
        "refused": client.get("/api/v1/members"),
        "not found": client.get("/nowhere"),
        "too large": client.post(
            "/api/v1/auth/login", content=b"x", headers={"Content-Length": "99999999"}
        ),
        "health": client.get("/healthz"),
    }
    for what, r in responses.items():
        assert r.status_code in (200, 401, 404, 413), what
        h = r.headers
        assert h["x-content-type-options"] == "nosniff", what
        assert h["x-frame-options"] == "DENY", what
        assert "default-src 'none'" in h["content-security-policy"], what
        assert h["cache-control"] == "no-store", what
        assert h["referrer-policy"] == "no-referrer", what
        assert "strict-transport-security" not in h, what  # plain http: no HSTS


def test_hsts_only_over_https(app):
    from starlette.testclient import TestClient

    with TestClient(app, base_url="https://hub.example.gov") as c:
        assert c.get("/healthz").headers["strict-transport-security"].startswith("max-age=")


def test_https_behind_a_trusted_proxy_only(hub_config):
    """X-Forwarded-Proto counts from a trusted proxy (HSTS, Secure cookie), from nobody else."""
    from dataclasses import replace

    from starlette.testclient import TestClient

    from ops.hub import create_hub_app

    for trusted, expect_https in ((frozenset({"testclient"}), True), (frozenset(), False)):
        app = create_hub_app(replace(hub_config, trusted_proxies=trusted))
        with TestClient(app) as c:
            fwd = {"X-Forwarded-Proto": "https"}
            h = c.get("/healthz", headers=fwd).headers
            assert ("strict-transport-security" in h) is expect_https, trusted
            r = c.post(
                "/api/v1/auth/login", json={"username": "admin", "password": "123456"}, headers=fwd
            )
            assert r.status_code == 200
            cookie = r.headers["set-cookie"].lower()
            assert ("; secure" in cookie) is expect_https, cookie
