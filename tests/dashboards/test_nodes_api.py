"""Nodes register themselves, heartbeat, are listed with health; the primary's address
cannot be edited from the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from hub.nodes import NodeInfo
from ops.nodes import NodeHeartbeat, identity, write_identity
from storage.models import utcnow
from tests.dashboards.conftest import Api, make_admin
from tests.dashboards.ops_fixtures import *  # noqa: F403  (fixtures)

SECONDARY = NodeInfo("hub-b", "secondary", "10.0.0.2", None, ("10.0.0.53",))


@pytest.fixture
def ops_config(hub_config):  # type: ignore[no-redef]
    from dataclasses import replace

    write_identity(
        hub_config.data_dir,
        NodeInfo("hub-a", "primary", "10.0.0.1", "198.51.100.7", ("10.0.0.53", "10.0.0.54")),
    )
    return replace(hub_config, trusted_proxies=frozenset({"testclient"}))


def other_node(client: TestClient, info: NodeInfo, at_offset: timedelta = timedelta()) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    hb = NodeHeartbeat(services.nodes, info, clock=lambda: utcnow() - at_offset)
    client.portal.call(hb.beat)  # type: ignore[union-attr]  (registers: the row is new)


def by_name(api: Api) -> dict[str, dict[str, object]]:
    r = api.get("/nodes")
    assert r.status_code == 200, r.text
    return {n["name"]: n for n in r.json()["nodes"]}


def test_this_node_registers_itself_at_start(ops_root: Api) -> None:
    nodes = by_name(ops_root)
    me = nodes["hub-a"]
    assert me["role"] == "primary" and me["this_node"] is True and me["health"] == "up"
    assert me["intranet_address"] == "10.0.0.1"
    assert me["public_address"] == "198.51.100.7"
    assert me["dns_servers"] == ["10.0.0.53", "10.0.0.54"]
    assert me["address_editable"] is False


def test_health_follows_heartbeats(ops_root: Api, ops_client: TestClient) -> None:
    other_node(ops_client, SECONDARY, timedelta(seconds=45))
    other_node(ops_client, NodeInfo("hub-c", "secondary", "10.0.0.3"), timedelta(minutes=5))
    nodes = by_name(ops_root)
    assert (nodes["hub-b"]["health"], nodes["hub-c"]["health"]) == ("late", "down")
    other_node(ops_client, SECONDARY)  # a fresh heartbeat
    assert by_name(ops_root)["hub-b"]["health"] == "up"
    assert by_name(ops_root)["hub-b"]["this_node"] is False


def test_secondary_addresses_are_editable_the_primarys_are_not(
    ops_root: Api, ops_client: TestClient
) -> None:
    other_node(ops_client, SECONDARY)
    r = ops_root.patch(
        "/nodes/hub-b", {"public_address": "203.0.113.20", "dns_servers": ["10.0.0.1"]}
    )
    assert r.status_code == 200, r.text
    assert r.json()["public_address"] == "203.0.113.20"
    # the node's next registration keeps what the admin set (it does not know its NAT address)
    other_node(ops_client, SECONDARY)
    assert by_name(ops_root)["hub-b"]["public_address"] == "203.0.113.20"
    for body in ({"intranet_address": "10.9.9.9"}, {"public_address": "203.0.113.1"}):
        r = ops_root.patch("/nodes/hub-a", body)
        assert (r.status_code, r.json()["error"]["code"]) == (409, "primary_address_fixed")
    assert by_name(ops_root)["hub-a"]["intranet_address"] == "10.0.0.1"
    assert ops_root.patch("/nodes/hub-a", {"dns_servers": ["10.0.0.60"]}).status_code == 200
    r = ops_root.patch("/nodes/hub-b", {"public_address": "not-an-ip"})
    assert (r.status_code, r.json()["error"]["code"]) == (422, "invalid_address")
    assert ops_root.patch("/nodes/nobody", {"dns_servers": []}).status_code == 404


def test_only_federation_wide_admins(ops_root: Api, ops_client: TestClient) -> None:
    m = ops_root.create_member(None, "prov").json()
    scoped = make_admin(ops_client, "provadmin", "admin", m["id"])
    assert scoped.get("/nodes").status_code == 403
    assert make_admin(ops_client, "aud", "auditor", None).get("/nodes").status_code == 403


def test_identity_file_and_defaults(tmp_path) -> None:
    found = identity(tmp_path)  # nothing written: found out from the host
    assert found.role == "primary" and found.intranet_address
    write_identity(tmp_path, SECONDARY)
    assert identity(tmp_path) == SECONDARY


def test_a_restart_is_refused_to_others_and_where_no_server_runs(
    ops_root: Api, ops_client: TestClient
) -> None:
    """Only the federation-wide admin restarts, only the node it talks to, and only a
    process run by ``fedhub serve`` (the TestClient's app has no server to stop: 503).
    The restart itself is tested on a real process in tests/ops/test_serve.py."""
    m = ops_root.create_member(None, "prov").json()
    scoped = make_admin(ops_client, "provadmin", "admin", m["id"])
    assert scoped.post("/nodes/hub-a/restart").status_code == 403
    assert (
        make_admin(ops_client, "aud", "auditor", None).post("/nodes/hub-a/restart").status_code
        == 403
    )
    other_node(ops_client, SECONDARY)
    r = ops_root.post("/nodes/hub-b/restart")
    assert r.status_code == 409 and r.json()["error"]["code"] == "other_node", r.text
    assert "10.0.0.2" in r.json()["error"]["message"]
    assert ops_root.post("/nodes/ghost/restart").status_code == 404
    r = ops_root.post("/nodes/hub-a/restart")
    assert r.status_code == 503 and r.json()["error"]["code"] == "restart_unavailable", r.text
