"""The live journal over HTTP, and the ``live`` settings section (retention, metrics).

``GET /live/journal?member_id&conference&since&until&kind&limit&before_id`` answers
"what happened in this conference between T1 and T2", newest first, limited to the
caller's scope: ``member_id`` selects that member's subtree (it must lie in the
caller's scope); ``conference`` one conference number. ``GET|PATCH /settings/live``
reads and changes the journal retention and who may read ``/metrics``.
"""

from __future__ import annotations

from typing import Any

from dashboards.api import api
from dashboards.api.audit import _int
from dashboards.api.live import ADMINS_ONLY
from dashboards.endpoint import Ctx
from dashboards.errors import ApiError
from dashboards.livehub import DEFAULTS, SECTION
from dashboards.schemas import obj
from storage.journal import JournalQuery

KINDS = ["conference", "venue", "link", "command", "call"]
LIVE_SETTINGS = obj(
    {
        "journal_max_age_days": {"type": "number", "minimum": 0.01, "maximum": 3650},
        "journal_max_rows": {"type": "integer", "minimum": 1000, "maximum": 100_000_000},
        "metrics_access": {"type": "string", "enum": ["loopback", "token"]},
    },
    minProperties=1,
)
ENTRIES = {
    "type": "object",
    "properties": {
        "entries": {"type": "array", "items": {"type": "object"}},
        "next_before_id": {"type": ["integer", "null"]},
    },
    "required": ["entries", "next_before_id"],
}


@api.route(
    "GET",
    "/live/journal",
    summary="What happened in the live conferences of your scope, newest first",
    tag="live",
    response=ENTRIES,
    roles=ADMINS_ONLY,
    query=(
        ("member_id", {"type": "integer", "minimum": 1}, "this member and its subtree"),
        ("conference", {"type": "string", "maxLength": 64}, "one conference number"),
        ("since", {"type": "string", "format": "date-time"}, "entries at or after this time"),
        ("until", {"type": "string", "format": "date-time"}, "entries before this time"),
        ("kind", {"type": "string", "enum": KINDS}, "only this kind of entry"),
        ("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "page size (default 200)"),
        ("before_id", {"type": "integer", "minimum": 1}, "next page: entries older than this"),
    ),
    errors=(403, 404, 422),
)
async def journal(ctx: Ctx) -> dict[str, Any]:
    hub = ctx.services.livehub
    if hub is None or hub.journal is None:
        raise ApiError(404, "live_disabled", "this node keeps no live journal")
    fed = (await ctx.services.federation.current()).federation
    member = ctx.query("member_id")
    root = ctx.me.scope
    if member:
        root = _int(ctx, "member_id", 1, 1, 2**31 - 1)
        fed.require_within(ctx.me.scope, root)
    ids = None if root is None else frozenset(fed.subtree_ids(root))
    kind = ctx.query("kind")
    if kind is not None and kind not in KINDS:
        raise ApiError(422, "invalid_input", f"kind must be one of {', '.join(KINDS)}")
    limit = _int(ctx, "limit", 200, 1, 1000)
    before = ctx.query("before_id")
    await hub.write_journal()  # what happened up to now, not up to the last second
    entries = await hub.journal.query(
        JournalQuery(
            member_ids=ids,
            conference=ctx.query("conference", max_len=64),
            since=ctx.time("since"),
            until=ctx.time("until"),
            kind=kind,
            limit=limit,
            before_id=_int(ctx, "before_id", 1, 1, 2**62) if before else None,
        )
    )
    return {
        "entries": [e.to_json() for e in entries],
        "next_before_id": entries[-1].id if len(entries) == limit else None,
    }


def _federation_wide(ctx: Ctx) -> None:
    if ctx.me.scope is not None:
        raise ApiError(403, "outside_scope", "platform settings belong to federation-wide admins")


@api.route(
    "GET",
    "/settings/live",
    summary="Live hub settings: journal retention, who may read /metrics",
    tag="settings",
    roles=ADMINS_ONLY,
    response={"type": "object", "required": ["settings", "revision"]},
    errors=(403,),
)
async def get_live_settings(ctx: Ctx) -> dict[str, Any]:
    _federation_wide(ctx)
    assert ctx.services.settings is not None
    stored, revision = await ctx.services.settings.get(SECTION)
    return {"settings": {**DEFAULTS, **stored}, "revision": revision}


@api.route(
    "PATCH",
    "/settings/live",
    summary="Change the live hub settings (applied on this node now, on others within 30 s)",
    tag="settings",
    body=LIVE_SETTINGS,
    roles=ADMINS_ONLY,
    action="settings.live",
    response={"type": "object", "required": ["settings", "revision"]},
    errors=(403, 422),
)
async def patch_live_settings(ctx: Ctx) -> dict[str, Any]:
    _federation_wide(ctx)
    assert ctx.services.settings is not None
    stored, _ = await ctx.services.settings.get(SECTION)
    merged = {**DEFAULTS, **stored, **ctx.body}
    ctx.details = dict(ctx.body)
    revision = await ctx.services.settings.put(SECTION, merged)
    if ctx.services.livehub is not None:
        await ctx.services.livehub.reload_options()
    return {"settings": merged, "revision": revision}
