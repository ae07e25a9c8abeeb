"""Live state read from member links: link status, counts, conferences, cascade trees.

Read-only views of what the hub holds, limited to the caller's scope. (Streaming to
dashboards and commands come with the live websocket.)
"""

from __future__ import annotations

import dataclasses
from typing import Any

from dashboards.api import api
from dashboards.api.members import READERS
from dashboards.endpoint import Ctx
from dashboards.errors import ApiError
from dashboards.services import LinkControl
from hub.cascade import CascadeNode
from hub.conference import Conference

ADMINS_ONLY = frozenset(r for r in READERS if r.value == "admin")


def links_of(ctx: Ctx) -> LinkControl:
    links = ctx.services.links
    if links is None:
        raise ApiError(404, "links_disabled", "this node does not run member links")
    return links


async def _scope_ids(ctx: Ctx) -> set[int]:
    view = await ctx.services.federation.current()
    return view.federation.subtree_ids(ctx.me.scope)


def conference_json(c: Conference) -> dict[str, Any]:
    out = dataclasses.asdict(c)
    out["venues"] = [
        {**dataclasses.asdict(v), "status": str(v.status), "role": str(v.role)} for v in c.venues
    ]
    out["kind"] = str(c.kind)
    return out


def node_json(n: CascadeNode) -> dict[str, Any]:
    return {
        "domain": n.domain,
        "conference": n.conference,
        "member_id": n.member_id,
        "link": str(n.link) if n.link is not None else None,
        "known": n.known,
        "children": [node_json(c) for c in n.children],
    }


@api.route(
    "GET",
    "/links",
    summary="Status of the hub's link to each member server in your scope",
    tag="live",
    roles=ADMINS_ONLY,
    response={"type": "object", "properties": {"links": {"type": "array"}}, "required": ["links"]},
    errors=(404,),
)
async def list_links(ctx: Ctx) -> dict[str, Any]:
    ids = await _scope_ids(ctx)
    links = links_of(ctx)
    return {
        "links": [s for s in links.status() if s.get("member_id") in ids],
        "this_node_runs_links": links.owner,
    }


@api.route(
    "GET",
    "/live/summary",
    summary="Conferences and venues per state, for your scope",
    tag="live",
    roles=ADMINS_ONLY,
    response={"type": "object"},
    errors=(404,),
)
async def live_summary(ctx: Ctx) -> dict[str, Any]:
    state = links_of(ctx).manager.state
    ids = await _scope_ids(ctx)
    members = [m for m in state.members() if m in ids]
    per_member = {str(m): state.counts(m) for m in members}
    total: dict[str, Any] = {
        "members": len(members),
        "conferences": 0,
        "venues_total": 0,
        "cascade_links": 0,
    }
    venues: dict[str, int] = {}
    for c in per_member.values():
        counts: dict[str, Any] = dict(c)
        for k in ("conferences", "venues_total", "cascade_links"):
            total[k] += int(counts[k])
        for status, n in counts["venues"].items():
            venues[status] = venues.get(status, 0) + int(n)
    total["venues"] = venues
    return {"total": total, "members": per_member}


@api.route(
    "GET",
    "/live/members/{member_id}/conferences",
    summary="A member's running conferences with their venues",
    tag="live",
    roles=ADMINS_ONLY,
    response={"type": "object"},
    errors=(403, 404),
)
async def member_conferences(ctx: Ctx) -> dict[str, Any]:
    mid = ctx.int_param("member_id")
    view = await ctx.services.federation.current()
    view.federation.require_within(ctx.me.scope, mid)
    state = links_of(ctx).manager.state
    confs = state.conferences(mid) if mid in state.members() else []
    return {"member_id": mid, "conferences": [conference_json(c) for c in confs]}


@api.route(
    "GET",
    "/live/federation-conferences",
    summary="Federation conferences (cascade trees) rooted in your scope",
    tag="live",
    roles=ADMINS_ONLY,
    response={"type": "object"},
    errors=(404,),
)
async def federation_conferences(ctx: Ctx) -> dict[str, Any]:
    state = links_of(ctx).manager.state
    ids = await _scope_ids(ctx)
    trees = []
    for mid, number in state.federation_roots():
        if mid in ids:
            tree = state.cascade_tree(mid, number)
            if tree is not None:
                trees.append(node_json(tree))
    return {"conferences": trees}
