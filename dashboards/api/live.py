"""Live state read from member links: link status, counts, conferences, cascade trees.

Read-only views of what the hub holds, limited to the caller's scope. Everything is
read from the live state service (``hub.live.LiveReader``), the same one the live
websocket uses; summaries are computed there, not here. Responses are bounded: a
member's conferences come in pages, cascade trees stop at the federation's 5 levels.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from controllers.driver import GENERIC_ERRORS
from dashboards.api import api
from dashboards.api.members import READERS
from dashboards.endpoint import Ctx
from dashboards.errors import ApiError
from dashboards.services import LinkControl
from hub.conference import Conference
from hub.live import LiveReader

ADMINS_ONLY = frozenset(r for r in READERS if r.value == "admin")
PAGE_DEFAULT, PAGE_MAX = 20, 50


def links_of(ctx: Ctx) -> LinkControl:
    links = ctx.services.links
    if links is None:
        raise ApiError(404, "links_disabled", "this node does not run member links")
    return links


def live_of(ctx: Ctx) -> LiveReader:
    live = ctx.services.live
    if live is None:
        raise ApiError(404, "links_disabled", "this node does not run member links")
    return live


def _generic_errors(status: dict[str, object]) -> dict[str, object]:
    """A link's status as an admin scoped below the whole federation sees it: the
    error says what kind of failure it was, not the details (addresses, ports, HTTP
    statuses) that would let a link URL probe the hub's network."""
    kind = status.get("error_kind")
    if status.get("last_error") is None:
        return status
    if status.get("state") == "misconfigured":
        return status  # it describes the URL the admin entered, nothing beyond it
    return {**status, "last_error": GENERIC_ERRORS.get(str(kind), GENERIC_ERRORS["closed"])}


def _int(ctx: Ctx, name: str, default: int, lo: int, hi: int) -> int:
    raw = ctx.query(name, str(default)) or str(default)
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9 or not lo <= int(raw) <= hi:
        raise ApiError(422, "invalid_input", f"{name} must be a whole number from {lo} to {hi}")
    return int(raw)


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
    shown = [s for s in links.status() if s.get("member_id") in ids]
    if ctx.me.scope is not None:
        shown = [_generic_errors(s) for s in shown]
    return {"links": shown, "this_node_runs_links": links.owner}


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
    return live_of(ctx).summary(await _scope_ids(ctx)).as_dict()


@api.route(
    "GET",
    "/live/members/{member_id}/conferences",
    summary="A member's running conferences with their venues",
    tag="live",
    roles=ADMINS_ONLY,
    response={"type": "object"},
    query=(
        ("offset", {"type": "integer", "minimum": 0}, "conferences to skip (default 0)"),
        (
            "limit",
            {"type": "integer", "minimum": 1, "maximum": PAGE_MAX},
            f"page size (default {PAGE_DEFAULT})",
        ),
    ),
    errors=(403, 404, 422),
)
async def member_conferences(ctx: Ctx) -> dict[str, Any]:
    mid = ctx.int_param("member_id")
    offset = _int(ctx, "offset", 0, 0, 10**9)
    limit = _int(ctx, "limit", PAGE_DEFAULT, 1, PAGE_MAX)
    view = await ctx.services.federation.current()
    view.federation.require_within(ctx.me.scope, mid)
    page = live_of(ctx).conferences(mid, offset=offset, limit=limit)
    following = offset + len(page.conferences)
    return {
        "member_id": mid,
        "total": page.total,
        "offset": offset,
        "limit": limit,
        "next_offset": following if following < page.total else None,
        "conferences": [conference_json(c) for c in page.conferences],
    }


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
    trees = live_of(ctx).federation_trees(await _scope_ids(ctx))
    return {"conferences": [tree.as_dict() for tree in trees]}
