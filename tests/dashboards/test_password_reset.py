"""Forgot password: a single-use, expiring link by mail (real SMTP server), built from the
center access URL of the requester's network; same answer for unknown accounts; throttled."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.dashboards.conftest import NEW_ADMIN_PASSWORD, Api, make_admin
from tests.dashboards.ops_fixtures import *  # noqa: F403  (fixtures)
from tests.support.smtp import smtp_server

INTRA, EXTRA = "https://hub.intra.example", "https://hub.prov.example"
NEW_PASSWORD = "Brand-New-Pass9"


def settle(client: TestClient) -> None:
    """Wait until the hub's background work (the reset-link lookups and mails) ended."""
    client.portal.call(client.app.state.services.settle)  # type: ignore[attr-defined]


@pytest.fixture
def mail(ops_root: Api, tmp_path: Path):
    with smtp_server(tmp_path, login=False) as srv:
        r = ops_root.patch(
            "/settings/mail",
            {"host": srv.host, "port": srv.port, "security": "none", "sender": "hub@prov.example"},
        )
        assert r.status_code == 200, r.text
        r = ops_root.patch(
            "/settings/access",
            {"intranet_url": INTRA, "extranet_url": EXTRA, "intranet_networks": ["10.0.0.0/8"]},
        )
        assert r.status_code == 200, r.text
        yield srv


def forgot(client: TestClient, username: str, ip: str) -> object:
    return Api(client).post("/auth/forgot", {"username": username}, headers={"X-Forwarded-For": ip})


def link_in(message: object) -> str:
    body = message.get_payload(decode=True).decode()  # type: ignore[attr-defined]
    m = re.search(r"(https://\S+/reset-password#token=(\S+))", body)
    assert m, body
    return m.group(1)


def test_reset_by_mail_end_to_end(ops_root: Api, ops_client: TestClient, mail, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    assert (
        ops_root.request(
            "PUT",
            "/auth/email",
            json={"email": "root@prov.example", "password": NEW_ADMIN_PASSWORD},
        ).status_code
        == 204
    )
    assert ops_root.get("/auth/email").json() == {"email": "root@prov.example"}
    r = forgot(ops_client, "admin", "10.1.2.3")
    assert r.status_code == 202
    mail.inbox.wait(1)
    msg = mail.inbox.messages[0]
    assert msg["To"] == "root@prov.example"
    link = link_in(msg)
    assert link.startswith(INTRA + "/reset-password#token=")  # the intranet URL for 10.x
    token = link.split("#token=")[1]
    anon = Api(ops_client)
    # a weak password is refused and does not spend the link
    r = anon.post("/auth/reset", {"token": token, "new_password": "short"})
    assert (r.status_code, r.json()["error"]["code"]) == (422, "weak_password")
    r = anon.post("/auth/reset", {"token": token, "new_password": NEW_PASSWORD})
    assert r.status_code == 204, r.text
    # the old session is over, the new password works, the old does not
    assert ops_root.get("/auth/session").status_code == 401
    assert Api(ops_client).login("admin", NEW_ADMIN_PASSWORD).status_code == 401
    assert Api(ops_client).login("admin", NEW_PASSWORD).status_code == 200
    # single use
    r = anon.post("/auth/reset", {"token": token, "new_password": NEW_PASSWORD + "x"})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_token")
    assert token not in caplog.text


def test_extranet_link_for_an_outside_requester(
    ops_root: Api, ops_client: TestClient, mail
) -> None:
    ops = make_admin(ops_client, "ops", "admin", None)
    assert (
        ops.request(
            "PUT", "/auth/email", json={"email": "ops@prov.example", "password": "Secur1ty-Pass"}
        ).status_code
        == 204
    )
    assert forgot(ops_client, "ops", "203.0.113.9").status_code == 202
    mail.inbox.wait(1)
    assert link_in(mail.inbox.messages[0]).startswith(EXTRA + "/reset-password#token=")


def test_same_answer_for_unknown_accounts_and_no_mail(
    ops_root: Api, ops_client: TestClient, mail
) -> None:
    no_mail = make_admin(ops_client, "nomail", "admin", None)
    assert no_mail.get("/auth/email").json() == {"email": None}
    answers = [forgot(ops_client, name, "10.9.9.9") for name in ("ghost", "nomail")]
    assert {a.status_code for a in answers} == {202}
    assert answers[0].json() == answers[1].json()
    settle(ops_client)
    assert mail.inbox.messages == []


def test_one_mail_per_account_per_interval_and_per_ip_throttle(
    ops_root: Api, ops_client: TestClient, mail
) -> None:
    assert (
        ops_root.request(
            "PUT",
            "/auth/email",
            json={"email": "root@prov.example", "password": NEW_ADMIN_PASSWORD},
        ).status_code
        == 204
    )
    for _ in range(3):
        assert forgot(ops_client, "admin", "10.5.5.5").status_code == 202
        settle(ops_client)
    assert len(mail.inbox.messages) == 1
    for _ in range(2):
        assert forgot(ops_client, "ghost", "10.5.5.5").status_code == 202
    r = forgot(ops_client, "ghost", "10.5.5.5")  # the 6th request from that address
    assert r.status_code == 429 and "Retry-After" in r.headers
    assert forgot(ops_client, "ghost", "10.5.5.6").status_code == 202  # another address
    # a flood of throttled requests with names of the attacker's choosing is counted,
    # not written row by row into the audit log
    auditor = make_admin(ops_client, "flood-auditor", "auditor", None)
    before = len(auditor.get("/audit?action=auth.forgot&limit=1000").json()["entries"])
    for i in range(40):
        assert forgot(ops_client, f"spray{i}", "10.5.5.5").status_code == 429
    after = auditor.get("/audit?action=auth.forgot&limit=1000").json()["entries"]
    assert len(after) - before <= 1, len(after) - before


def test_expired_and_unknown_tokens(ops_root: Api, ops_client: TestClient) -> None:
    services = ops_client.app.state.services  # type: ignore[attr-defined]
    from storage.models import utcnow

    admin_id = ops_client.portal.call(services.admins.credentials, "admin")[0].id  # type: ignore[union-attr]
    old = ops_client.portal.call(  # type: ignore[union-attr]
        lambda: services.password_resets.issue(admin_id, "10.0.0.1", utcnow() - timedelta(hours=1))
    )
    anon = Api(ops_client)
    for token in (old, "not-a-token", "x" * 128):
        r = anon.post("/auth/reset", {"token": token, "new_password": NEW_PASSWORD})
        assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_token"), token
    assert Api(ops_client).login("admin", NEW_ADMIN_PASSWORD).status_code == 200


def test_a_new_link_kills_the_older_one(ops_client: TestClient, ops_root: Api) -> None:
    services = ops_client.app.state.services  # type: ignore[attr-defined]
    admin_id = ops_client.portal.call(services.admins.credentials, "admin")[0].id  # type: ignore[union-attr]
    issue = services.password_resets.issue
    first = ops_client.portal.call(issue, admin_id, "10.0.0.1")  # type: ignore[union-attr]
    second = ops_client.portal.call(issue, admin_id, "10.0.0.1")  # type: ignore[union-attr]
    anon = Api(ops_client)
    r = anon.post("/auth/reset", {"token": first, "new_password": NEW_PASSWORD})
    assert r.status_code == 400
    assert (
        anon.post("/auth/reset", {"token": second, "new_password": NEW_PASSWORD}).status_code == 204
    )


def test_setting_the_mail_address_needs_the_password(ops_root: Api) -> None:
    """A stolen session alone cannot redirect reset links to its own mailbox."""
    r = ops_root.request(
        "PUT", "/auth/email", json={"email": "thief@evil.example", "password": "Wrong-Pass-1"}
    )
    assert (r.status_code, r.json()["error"]["code"]) == (403, "bad_credentials")
    r = ops_root.request("PUT", "/auth/email", json={"email": "thief@evil.example"})
    assert r.status_code == 422
    assert ops_root.get("/auth/email").json() == {"email": None}
