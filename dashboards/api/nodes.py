"""The hub's nodes: each registers itself and heartbeats; listed here with health.

An admin may correct a secondary node's addresses (its NAT public address, which a
node cannot see itself, its DNS servers, its intranet address); the primary node's
addresses are not editable from the API (they are what every other node and member
server points at: change them on the host, ``fedhub node set``, and restart).
"""

from __future__ import annotations

from typing import Any

from dashboards.api import api
from dashboards.endpoint import Ctx
from dashboards.errors import ApiError
from dashboards.operations import OperationError
from dashboards.schemas import obj
from hub.nodes import MAX_DNS, NodeError, NodeInfo, health
from storage.admins import Role
from storage.models import utcnow
from storage.nodes import NodeRecord, NodeStore

ADMINS = frozenset({Role.ADMIN})
ADDRESS = {"type": "string", "minLength": 2, "maxLength": 45}
NODE_EDIT = obj(
    {
        "intranet_address": ADDRESS,
        "public_address": {**ADDRESS, "type": ["string", "null"]},
        "dns_servers": {"type": "array", "maxItems": MAX_DNS, "items": ADDRESS},
    },
    minProperties=1,
)


def _store(ctx: Ctx) -> NodeStore:
    if ctx.me.scope is not None:
        raise ApiError(403, "outside_scope", "nodes belong to federation-wide admins")
    if ctx.services.nodes is None:
        raise ApiError(503, "unavailable", "this process keeps no node registry")
    return ctx.services.nodes


def _json(ctx: Ctx, r: NodeRecord) -> dict[str, Any]:
    i = r.info
    return {
        "name": i.name,
        "role": i.role,
        "intranet_address": i.intranet_address,
        "public_address": i.public_address,
        "dns_servers": list(i.dns_servers),
        "version": r.version,
        "started_at": r.started_at.isoformat(),
        "last_heartbeat": r.last_heartbeat.isoformat(),
        "health": health(r.last_heartbeat, utcnow(), ctx.services.heartbeat_interval),
        "this_node": i.name == ctx.services.node_name,
        "address_editable": i.role != "primary",
    }


@api.route(
    "GET",
    "/nodes",
    summary="The hub's nodes with their addresses and health (up, late, down)",
    tag="nodes",
    roles=ADMINS,
    response={"type": "object", "required": ["nodes"]},
    errors=(403, 503),
)
async def list_nodes(ctx: Ctx) -> dict[str, Any]:
    return {"nodes": [_json(ctx, r) for r in await _store(ctx).list()]}


@api.route(
    "PATCH",
    "/nodes/{node_name}",
    summary="Correct a secondary node's addresses (the primary's are not editable here)",
    tag="nodes",
    body=NODE_EDIT,
    roles=ADMINS,
    action="node.update",
    response={"type": "object"},
    errors=(403, 404, 409, 422, 503),
)
async def update_node(ctx: Ctx) -> dict[str, Any]:
    store = _store(ctx)
    name = ctx.request.path_params["node_name"]
    ctx.target = f"node:{name[:64]}"
    ctx.details = dict(ctx.body)
    found = await store.get(name) if len(name) <= 64 else None
    if found is None:
        raise ApiError(404, "not_found", f"no node {name[:64]!r}")
    if found.info.role == "primary" and (
        "intranet_address" in ctx.body or "public_address" in ctx.body
    ):
        raise ApiError(
            409,
            "primary_address_fixed",
            "the primary node's addresses cannot be changed from the API; change them on "
            "the host ('fedhub node set') and restart it",
        )
    old = found.info
    try:
        info = NodeInfo(
            old.name,
            old.role,
            ctx.body.get("intranet_address", old.intranet_address),
            ctx.body.get("public_address", old.public_address),
            tuple(ctx.body.get("dns_servers", old.dns_servers)),
        )
    except NodeError as e:
        raise ApiError(422, e.code, e.message) from None
    updated = await store.update(info)
    if updated is None:
        raise ApiError(404, "not_found", f"no node {name[:64]!r}")
    return _json(ctx, updated)


@api.route(
    "POST",
    "/nodes/{node_name}/restart",
    summary="Restart this node gracefully: websockets close with 1012 (service restart) "
    "and dashboards reconnect, member links are dialled again by the new process",
    tag="nodes",
    ok=202,
    roles=ADMINS,
    action="node.restart",
    response=obj({"node": {"type": "string"}, "restarting": {"type": "boolean"}}),
    errors=(403, 404, 409, 503),
)
async def restart_node(ctx: Ctx) -> dict[str, Any]:
    store = _store(ctx)
    name = ctx.request.path_params["node_name"]
    ctx.target = f"node:{name[:64]}"
    if name != ctx.services.node_name:
        found = await store.get(name) if len(name) <= 64 else None
        if found is None:
            raise ApiError(404, "not_found", f"no node {name[:64]!r}")
        raise ApiError(
            409,
            "other_node",
            f"this is node {ctx.services.node_name!r}: send the restart to node {name!r} "
            f"itself ({found.info.intranet_address})",
        )
    if ctx.services.restart is None:
        raise ApiError(503, "restart_unavailable", "this process cannot restart itself")
    try:
        ctx.services.restart.request(f"asked by {ctx.me.label} through the API")
    except OperationError as e:
        raise ApiError(e.status, e.code, e.message) from None
    return {"node": name, "restarting": True}
