"""SMTP settings through the API (password encrypted at rest, never shown or logged) and
"send a test mail" against a real SMTP server: success and each failure."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from storage.secrets import KEY_FILE
from tests.dashboards.conftest import Api, make_admin
from tests.dashboards.ops_fixtures import *  # noqa: F403  (fixtures)
from tests.support.live_server import free_port
from tests.support.smtp import PASSWORD, USER, smtp_server


def configure(api: Api, port: int, **kw: object) -> dict[str, object]:
    body: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "username": USER,
        "password": PASSWORD,
        "sender": "hub@prov.example",
        "timeout": 5,
    }
    body.update(kw)
    r = api.patch("/settings/mail", body)
    assert r.status_code == 200, r.text
    return r.json()["settings"]


def test_settings_hide_and_encrypt_the_password(
    ops_root: Api, ops_client: TestClient, ops_config, tmp_path: Path, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    assert ops_root.get("/settings/mail").json() == {"settings": None}
    shown = configure(ops_root, 2525)
    assert shown["password_set"] is True and "password" not in shown
    assert ops_root.get("/settings/mail").json()["settings"] == shown
    services = ops_client.app.state.services  # type: ignore[attr-defined]
    stored, _ = ops_client.portal.call(services.settings.get, "mail")  # type: ignore[union-attr]
    assert PASSWORD not in str(stored) and stored["password_sealed"]
    key = ops_config.data_dir / KEY_FILE
    assert key.stat().st_mode & 0o777 == 0o600
    # a change without a password keeps it; an empty one removes it
    assert ops_root.patch("/settings/mail", {"port": 2526}).json()["settings"]["password_set"]
    r = ops_root.patch("/settings/mail", {"password": "", "username": ""})
    assert r.json()["settings"]["password_set"] is False
    assert PASSWORD not in caplog.text


def test_bad_settings_are_refused(ops_root: Api) -> None:
    for body, status in [
        ({"host": "127.0.0.1", "port": 0}, 422),
        ({"host": "127.0.0.1", "port": 25, "security": "ssl"}, 422),
        ({"port": 25}, 422),  # no host stored yet
        ({"host": "127.0.0.1", "port": 25, "password": "x"}, 422),  # a password needs a user
        ({"host": "a b", "port": 25}, 422),
        # line breaks would go into the From header (the fuzzer found the 500 it made)
        ({"host": "127.0.0.1", "port": 25, "username": "0\nBcc: x@evil.example"}, 422),
        ({"host": "127.0.0.1", "port": 25, "username": "ops\r"}, 422),
        ({"host": "127.0.0.1", "port": 25, "sender": "a@b.example\n"}, 422),
        ({"host": "smtp.example\n", "port": 25}, 422),
    ]:
        r = ops_root.patch("/settings/mail", body)
        assert r.status_code == status, (body, r.text)
    assert ops_root.get("/settings/mail").json() == {"settings": None}


def test_test_mail_succeeds(ops_root: Api, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with smtp_server(tmp_path) as srv:
        configure(ops_root, srv.port)
        r = ops_root.post("/settings/mail/test", {"to": "ops@prov.example"})
        assert r.status_code == 200, r.text
        assert r.json() == {"result": "ok", "message": "test succeeded!"}
        assert srv.inbox.messages[0]["Subject"] == "fedhub: test mail"
        assert srv.inbox.envelopes[0] == ("hub@prov.example", ["ops@prov.example"])
    assert PASSWORD not in caplog.text


def send_test_mail(api: Api) -> dict[str, str]:
    r = api.post("/settings/mail/test", {"to": "ops@prov.example"})
    assert r.status_code == 200, r.text
    assert r.json()["result"] == "failed", r.text
    return r.json()


def test_test_mail_answers_each_failure_exactly(ops_root: Api, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    assert ops_root.post("/settings/mail/test", {"to": "a@b.example"}).status_code == 409
    with smtp_server(tmp_path) as srv:
        configure(ops_root, srv.port, password="wrong-password")
        r = send_test_mail(ops_root)
        assert r["code"] == "login_refused" and "535" in r["message"]
        configure(ops_root, srv.port, security="tls")
        assert send_test_mail(ops_root)["code"] == "tls_failed"
        configure(ops_root, srv.port, security="starttls")
        assert send_test_mail(ops_root)["code"] == "starttls_unsupported"
        assert srv.inbox.messages == []
    configure(ops_root, free_port())
    r = send_test_mail(ops_root)
    assert r["code"] == "connect_failed" and "Connection refused" in r["message"]
    assert PASSWORD not in caplog.text and "wrong-password" not in caplog.text


def test_only_the_federation_wide_admin(ops_root: Api, ops_client: TestClient) -> None:
    m = ops_root.create_member(None, "prov").json()
    scoped = make_admin(ops_client, "provadmin", "admin", m["id"])
    assert scoped.get("/settings/mail").status_code == 403
    assert scoped.patch("/settings/mail", {"host": "x", "port": 25}).status_code == 403
    assert scoped.post("/settings/mail/test", {"to": "a@b.example"}).status_code == 403


@pytest.mark.parametrize("field", ["intranet_url", "extranet_url"])
def test_access_urls_validated(ops_root: Api, field: str) -> None:
    for bad in ["ftp://x.example", "https://", "https://u:p@x.example", "https://x.example/?a=1"]:
        r = ops_root.patch("/settings/access", {field: bad})
        assert r.status_code == 422, (bad, r.text)
    r = ops_root.patch("/settings/access", {field: "https://hub.example/fedhub/"})
    assert r.status_code == 200
    assert r.json()["settings"][field] == "https://hub.example/fedhub"


def test_access_url_follows_the_callers_network(ops_root: Api) -> None:
    r = ops_root.patch(
        "/settings/access",
        {
            "intranet_url": "https://hub.intra.example",
            "extranet_url": "https://hub.prov.example",
            "intranet_networks": ["10.0.0.0/8", "2001:db8::/32"],
        },
    )
    assert r.status_code == 200, r.text
    assert (
        ops_root.patch("/settings/access", {"intranet_networks": ["10.0.0.0/33"]}).status_code
        == 422
    )
    for ip, url, net in [
        ("10.20.30.40", "https://hub.intra.example", "intranet"),
        ("2001:db8::5", "https://hub.intra.example", "intranet"),
        ("192.168.1.1", "https://hub.prov.example", "extranet"),
        ("203.0.113.7", "https://hub.prov.example", "extranet"),
    ]:
        r = ops_root.get("/access-url", headers={"X-Forwarded-For": ip})
        assert r.json() == {"url": url, "network": net}, ip


def test_found_by_fuzzing(ops_root: Api) -> None:
    """A recipient the mail header parser chokes on is refused (it answered 500), and a
    port given as 25.0 (an integer to JSON Schema) is stored as 25 (aiosmtplib failed)."""
    assert (
        ops_root.patch("/settings/mail", {"host": "127.0.0.1", "port": 25.0}).json()["settings"][
            "port"
        ]
        == 25
    )
    for to in ("0@[", ".a@b.example", "a..b@c.example", "a@-b.example", "x@y z"):
        r = ops_root.post("/settings/mail/test", {"to": to})
        assert r.status_code == 422, (to, r.text)
