"""POST /certificates: each refusal with its reason, scope, audit; rollback."""

from __future__ import annotations

import datetime

from starlette.testclient import TestClient

from tests.dashboards.conftest import Api, make_admin
from tests.dashboards.ops_fixtures import *  # noqa: F403  (fixtures)
from tests.support.pki import DAY, chain_of, issue

NOW = datetime.datetime.now(datetime.UTC)


def body(cert: bytes, key: bytes, chain: bytes = b"") -> dict[str, str]:
    b = {"certificate": cert.decode(), "key": key.decode()}
    if chain:
        b["chain"] = chain.decode()
    return b


def audit(client: TestClient, action: str) -> list[dict[str, object]]:
    auditor = make_admin(client, "auditor1", "auditor", None)
    r = auditor.get(f"/audit?action={action}")
    assert r.status_code == 200, r.text
    return r.json()["entries"]


def test_import_then_rollback(ops_root: Api, ops_client: TestClient) -> None:
    first = ops_root.get("/certificates")
    assert first.status_code == 200
    assert first.json()["current"]["self_signed"] is True  # made on first start
    assert first.json()["previous"] is None
    root, inter, server = chain_of()
    r = ops_root.post("/certificates", body(server.pem, server.key_pem, inter.pem + root.pem))
    assert r.status_code == 201, r.text
    assert r.json()["current"]["fingerprint_sha256"] == server.fingerprint
    assert r.json()["current"]["chain_length"] == 3
    assert r.json()["previous"] == first.json()["current"]
    r = ops_root.post("/certificates/rollback")
    assert r.status_code == 200, r.text
    assert r.json()["current"] == first.json()["current"]
    assert r.json()["previous"]["fingerprint_sha256"] == server.fingerprint
    text = str(audit(ops_client, "certificate.import"))
    assert server.fingerprint in text
    assert "PRIVATE KEY" not in text


def test_each_refusal_has_its_reason_and_changes_nothing(
    ops_root: Api, ops_client: TestClient
) -> None:
    before = ops_root.get("/certificates").json()
    root, inter, server = chain_of()
    other = issue("other.example")
    expired = issue("old.example", not_before=NOW - 400 * DAY, not_after=NOW - DAY)
    future = issue("new.example", not_before=NOW + DAY, not_after=NOW + 400 * DAY)
    impostor = issue("Test Intermediate CA", root, ca=True)
    cases = [
        (body(server.pem, other.key_pem, inter.pem), "key_mismatch", "does not belong"),
        (body(expired.pem, expired.key_pem), "expired", "expired on"),
        (body(future.pem, future.key_pem), "not_yet_valid", "not valid before"),
        (body(server.pem, server.key_pem, impostor.pem), "broken_chain", "does not verify"),
        (body(server.pem, server.key_pem, root.pem), "broken_chain", "is its issuer"),
        (body(b"junk", server.key_pem), "bad_certificate", "no PEM certificate"),
        (body(server.pem, b"junk"), "bad_key", "cannot be read"),
    ]
    for b, code, words in cases:
        r = ops_root.post("/certificates", b)
        assert r.status_code == 422, (code, r.text)
        err = r.json()["error"]
        assert err["code"] == code and words in err["message"], err
    assert ops_root.get("/certificates").json() == before
    refused = audit(ops_client, "certificate.import")
    assert len(refused) == len(cases) and {e["result"] for e in refused} == {"refused"}
    assert "PRIVATE KEY" not in str(refused)


def test_rollback_without_previous(ops_root: Api) -> None:
    r = ops_root.post("/certificates/rollback")
    assert r.status_code == 422 and r.json()["error"]["code"] == "no_previous"


def test_only_the_federation_wide_admin(ops_root: Api, ops_client: TestClient) -> None:
    m = ops_root.create_member(None, "prov").json()
    scoped = make_admin(ops_client, "provadmin", "admin", m["id"])
    _, _, server = chain_of()
    assert scoped.get("/certificates").status_code == 403
    r = scoped.post("/certificates", body(server.pem, server.key_pem))
    assert r.status_code == 403
    security = make_admin(ops_client, "sec", "security", None)
    assert security.post("/certificates", body(server.pem, server.key_pem)).status_code == 403
    anonymous = Api(ops_client)
    assert anonymous.get("/certificates").status_code == 401
