"""Redirect settings through the API apply to the running redirector without restart."""

from __future__ import annotations

import socket
import time
from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from ops.hub import create_hub_app
from sip.settings import Overrides
from tests.dashboards.conftest import NEW_ADMIN_PASSWORD, Api, make_admin
from tests.support.live_server import free_port


def _register(port: int, domain: str, number: str = "1001") -> str:
    msg = (
        f"REGISTER sip:{domain} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5999;rport;branch=z9hG4bK-t1\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:{number}@{domain}>;tag=a1\r\n"
        f"To: <sip:{number}@{domain}>\r\n"
        f"Call-ID: t-{time.monotonic()}\r\n"
        "CSeq: 1 REGISTER\r\n"
        f"Contact: <sip:{number}@127.0.0.1:5999>\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.bind(("127.0.0.1", 0))
        s.sendto(msg.encode(), ("127.0.0.1", port))
        return s.recv(65535).decode()


@pytest.fixture
def sip_client(hub_config, tmp_path):
    port = free_port()
    config = replace(
        hub_config,
        sip=True,
        sip_overrides=Overrides(
            host="127.0.0.1", udp_port=port, tcp_port=port, tls_port=free_port()
        ),
    )
    with TestClient(create_hub_app(config)) as c:
        a = Api(c)
        a.login("admin", "123456")
        assert (
            a.post(
                "/auth/password", {"old_password": "123456", "new_password": NEW_ADMIN_PASSWORD}
            ).status_code
            == 204
        )
        yield a, port


def test_routes_follow_member_changes(sip_client):
    api, port = sip_client
    prov = api.create_member(None, "prov", sip_host="127.0.0.1", sip_port=7000).json()
    reply = _register(port, "prov.example.gov")
    assert reply.startswith("SIP/2.0 302") and "127.0.0.1:7000" in reply
    assert _register(port, "nowhere.example.gov").startswith("SIP/2.0 404")
    # an address change applies at once, no restart
    assert api.patch(f"/members/{prov['id']}", {"sip_port": 7100}).status_code == 200
    assert "127.0.0.1:7100" in _register(port, "prov.example.gov")
    status = api.get("/settings/redirect").json()["node"]
    assert status["running"] and status["ports"]["udp"] == port


def test_settings_apply_without_restart(sip_client):
    api, port = sip_client
    api.create_member(None, "prov", sip_host="127.0.0.1", sip_port=7000)
    r = api.patch("/settings/redirect", {"enabled": False})
    assert r.status_code == 200 and r.json()["node"]["running"] is False
    with pytest.raises(TimeoutError):
        _register(port, "prov.example.gov")
    r = api.patch("/settings/redirect", {"enabled": True, "name": "province redirect"})
    assert r.status_code == 200 and r.json()["node"]["running"] is True
    assert _register(port, "prov.example.gov").startswith("SIP/2.0 302")
    got = api.get("/settings/redirect").json()
    assert got["settings"]["name"] == "province redirect" and got["revision"] == 2


def test_bad_settings_refused_and_nothing_lost(sip_client):
    api, _ = sip_client
    api.patch("/settings/redirect", {"name": "keep me"})
    for body in [
        {"host": "not-an-ip"},
        {"udp_port": 70000},
        {"name": "two\nlines"},
        {"bogus": 1},
        {},
    ]:
        r = api.patch("/settings/redirect", body)
        assert r.status_code == 422, (body, r.text)
    assert api.get("/settings/redirect").json()["settings"]["name"] == "keep me"


def test_only_federation_wide_admins_change_settings(sip_client):
    api, _ = sip_client
    prov = api.create_member(None, "prov").json()
    scoped = make_admin(api.c, "provops", "admin", prov["id"])
    assert scoped.get("/settings/redirect").status_code == 403
    assert scoped.patch("/settings/redirect", {"enabled": False}).status_code == 403
    sec = make_admin(api.c, "sec", "security", None)
    assert sec.patch("/settings/redirect", {"enabled": False}).status_code == 403


def test_runs_only_on_the_named_node(sip_client):
    api, port = sip_client
    api.create_member(None, "prov", sip_host="127.0.0.1", sip_port=7000)
    me = api.get("/settings/redirect").json()["node"]["node_name"]
    r = api.patch("/settings/redirect", {"node": "some-other-node"})
    node = r.json()["node"]
    assert node["running"] is False and "some-other-node" in node["last_error"]
    with pytest.raises(TimeoutError):
        _register(port, "prov.example.gov")
    r = api.patch("/settings/redirect", {"node": me})
    assert r.json()["node"]["running"] is True and r.json()["node"]["last_error"] is None
    assert _register(port, "prov.example.gov").startswith("SIP/2.0 302")
