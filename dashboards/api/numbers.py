"""Number ranges of a member, and which member owns a number."""

from __future__ import annotations

from typing import Any

from dashboards.api import api
from dashboards.api.members import READERS, WRITERS
from dashboards.endpoint import Ctx
from dashboards.errors import ApiError
from dashboards.schemas import (
    NEXT_FREE,
    NUMBER_OWNER,
    NUMBERING_SETTINGS,
    NUMBERING_SETTINGS_PATCH,
    RANGE,
    RANGE_CREATE,
    RANGE_LIST,
)
from hub.datasets import DataError
from hub.numbering import NumberRange, RangeType, validate_number
from storage.admins import Role

SECTION = "numbering"
DEFAULTS: dict[str, Any] = {"max_scoped_range": 100_000}
"""Numbering settings: the most numbers an admin of a member may give in one range
(the federation-wide admin is not capped)."""


async def _numbering_settings(ctx: Ctx) -> dict[str, Any]:
    store = ctx.services.settings
    stored = (await store.get(SECTION))[0] if store is not None else {}
    return {k: stored.get(k, v) for k, v in DEFAULTS.items()}


def range_json(r: NumberRange) -> dict[str, Any]:
    return {
        "id": r.id,
        "member_id": r.member_id,
        "type": str(r.type),
        "start": r.start,
        "end": r.end,
        "size": r.size,
        "remark": r.remark,
    }


@api.route(
    "GET",
    "/members/{member_id}/ranges",
    summary="A member's number ranges",
    tag="numbers",
    response=RANGE_LIST,
    roles=READERS,
    errors=(403, 404),
)
async def list_ranges(ctx: Ctx) -> dict[str, Any]:
    mid = ctx.int_param("member_id")
    view = await ctx.services.federation.current()
    view.federation.require_within(ctx.me.scope, mid)
    return {"ranges": [range_json(r) for r in view.plan.ranges_of(mid)]}


@api.route(
    "POST",
    "/members/{member_id}/ranges",
    summary="Give a member below yours a typed number range out of your member's blocks",
    tag="numbers",
    ok=201,
    body=RANGE_CREATE,
    response=RANGE,
    roles=WRITERS,
    action="range.create",
    errors=(403, 404, 409, 422),
)
async def create_range(ctx: Ctx) -> dict[str, Any]:
    mid = ctx.int_param("member_id")
    b = ctx.body
    ctx.target = f"member:{mid}"
    ctx.details = {"type": b["type"], "start": b["start"], "end": b["end"]}
    r = await ctx.services.federation.add_range(
        ctx.me.scope,
        mid,
        type=b["type"],
        start=b["start"],
        end=b["end"],
        remark=b.get("remark", ""),
        max_size=(await _numbering_settings(ctx))["max_scoped_range"],
    )
    ctx.target = f"member:{mid}/range:{r.id}"
    return range_json(r)


@api.route(
    "DELETE",
    "/members/{member_id}/ranges/{range_id}",
    summary="Take a number range back from a member below yours",
    tag="numbers",
    ok=204,
    roles=WRITERS,
    action="range.delete",
    errors=(403, 404, 409),
)
async def delete_range(ctx: Ctx) -> None:
    mid, rid = ctx.int_param("member_id"), ctx.int_param("range_id")
    ctx.target = f"member:{mid}/range:{rid}"
    data = ctx.services.data
    try:  # refused while accounts or VMRs use it: checked in the removal's transaction
        r = await ctx.services.federation.remove_range(
            ctx.me.scope, mid, rid, guard=data.refuse_range_in_use if data else None
        )
    except DataError as e:
        raise ApiError(409, e.code, e.message, dict(e.details)) from None
    ctx.details = {"type": str(r.type), "start": r.start, "end": r.end}


@api.route(
    "GET",
    "/numbers/{number}",
    summary="Which member answers for a number (its deepest holder), and the range type",
    tag="numbers",
    response=NUMBER_OWNER,
    roles=READERS,
    errors=(404, 422),
)
async def resolve_number(ctx: Ctx) -> dict[str, Any]:
    number = validate_number(ctx.request.path_params["number"])
    view = await ctx.services.federation.current()
    r = view.plan.range_for(number)
    if r is None or not view.federation.is_within(ctx.me.scope, r.member_id):
        raise ApiError(404, "unknown_number", f"no member in your scope owns number {number}")
    return {"number": number, "member_id": r.member_id, "type": str(r.type), "range_id": r.id}


@api.route(
    "GET",
    "/members/{member_id}/next-free",
    summary="The lowest number a member can give a new meeting of a type",
    tag="numbers",
    response=NEXT_FREE,
    roles=READERS,
    query=(
        (
            "type",
            {"type": "string", "enum": [t.value for t in RangeType]},
            "meeting type; a member without ranges of that type uses its general_meeting "
            "ranges (system_account never falls back)",
        ),
    ),
    errors=(403, 404, 422),
)
async def next_free(ctx: Ctx) -> dict[str, Any]:
    mid = ctx.int_param("member_id")
    raw = ctx.query("type", max_len=32) or ""
    try:
        type = RangeType(raw)
    except ValueError:
        allowed = ", ".join(t.value for t in RangeType)
        raise ApiError(
            422, "invalid_input", f"query parameter type must be one of {allowed}"
        ) from None
    view = await ctx.services.federation.current()
    view.federation.require_within(ctx.me.scope, mid)
    found = view.plan.next_free(mid, type)
    if found is None:
        raise ApiError(
            404,
            "no_free_number",
            f"member {mid} has no free number for {type.value}",
            {"member_id": mid, "type": type.value},
        )
    number, rng = found
    return {"member_id": mid, "type": type.value, "number": number, "range": range_json(rng)}


@api.route(
    "GET",
    "/settings/numbering",
    summary="Numbering rules: the largest range an admin of a member may give",
    tag="settings",
    response=NUMBERING_SETTINGS,
    roles=WRITERS,
)
async def get_numbering(ctx: Ctx) -> dict[str, Any]:
    return await _numbering_settings(ctx)


@api.route(
    "PATCH",
    "/settings/numbering",
    summary="Change the numbering rules (federation-wide admins only)",
    tag="settings",
    body=NUMBERING_SETTINGS_PATCH,
    response=NUMBERING_SETTINGS,
    roles=frozenset({Role.ADMIN}),
    action="settings.numbering",
    errors=(422,),
)
async def patch_numbering(ctx: Ctx) -> dict[str, Any]:
    if ctx.me.scope is not None:
        raise ApiError(403, "outside_scope", "platform settings belong to federation-wide admins")
    store = ctx.services.settings
    assert store is not None
    ctx.target = "settings:numbering"
    ctx.details = dict(ctx.body)
    merged = {**await _numbering_settings(ctx), **ctx.body}
    await store.put(SECTION, merged)
    return merged
