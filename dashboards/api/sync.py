"""Data-set sync with member servers: status, manual push, dry run, binding, interval.

``GET /members/{id}/sync`` shows, per data set, the hub's version, what the member
server acknowledged, when it last succeeded, the last error and whether it is pending.
``POST /members/{id}/sync`` pushes now (``datasets`` to choose, ``dry_run`` to only
report what would change, per data set). ``POST /members/{id}/bind`` binds a member's
server: it wipes the accounts on that server, so it needs ``"confirm_wipe": true``;
it is audited, then everything is pushed. The automatic interval is a setting
(``/settings/sync``); pushes after a change start within seconds on their own.
"""

from __future__ import annotations

from typing import Any

from dashboards.api import api
from dashboards.api.members import READERS, WRITERS, link_url, member_json
from dashboards.endpoint import Ctx
from dashboards.errors import ApiError
from dashboards.schemas import SERVER_URL, obj
from dashboards.services import SyncControl
from hub.datasets import Dataset
from storage.admins import Role

SECTION = "sync"
DEFAULT_INTERVAL_S = 3600
DATASETS = {
    "type": "array",
    "items": {"type": "string", "enum": [d.value for d in Dataset]},
    "minItems": 1,
    "uniqueItems": True,
}
SYNC_REQUEST = obj({"datasets": DATASETS, "dry_run": {"type": "boolean"}})
BIND = obj(
    {"server_url": {**SERVER_URL, "type": "string"}, "confirm_wipe": {"type": "boolean"}},
    ("server_url", "confirm_wipe"),
)
SYNC_SETTINGS = obj(
    {"interval_s": {"type": "integer", "minimum": 60, "maximum": 7 * 86400}}, ("interval_s",)
)
STATUS = {
    "type": "object",
    "properties": {"datasets": {"type": "object"}},
    "required": ["datasets"],
}


def _sync(ctx: Ctx) -> SyncControl:
    if ctx.services.sync is None:
        raise ApiError(503, "sync_elsewhere", "data-set sync does not run on this node")
    return ctx.services.sync


async def _in_scope(ctx: Ctx) -> int:
    mid = ctx.int_param("member_id")
    view = await ctx.services.federation.current()
    view.federation.require_within(ctx.me.scope, mid)
    return mid


@api.route(
    "GET",
    "/members/{member_id}/sync",
    summary="Sync status of a member server, per data set",
    tag="sync",
    response=STATUS,
    roles=READERS,
    errors=(403, 404, 503),
)
async def sync_status(ctx: Ctx) -> dict[str, Any]:
    mid = await _in_scope(ctx)
    return {"datasets": await _sync(ctx).current_status(mid)}


@api.route(
    "GET",
    "/sync/unsynced",
    summary="Bound members in your scope whose data is not in step (they may be missing "
    "from federation conferences)",
    tag="sync",
    roles=READERS,
    errors=(503,),
)
async def unsynced(ctx: Ctx) -> dict[str, Any]:
    view = await ctx.services.federation.current()
    fed = view.federation
    members = [
        {
            "member_id": mid,
            "display_name": fed.get(mid).display_name,
            "datasets": datasets,
        }
        for mid, datasets in _sync(ctx).unsynced().items()
        if mid in fed and fed.is_within(ctx.me.scope, mid)  # a member deleted a moment ago
    ]
    return {"members": members}


@api.route(
    "POST",
    "/members/{member_id}/sync",
    summary="Push data sets to a member server now, or (dry_run) say what would change",
    tag="sync",
    body=SYNC_REQUEST,
    response=STATUS,
    roles=WRITERS,
    action="sync.push",
    errors=(403, 404, 503),
)
async def sync_now(ctx: Ctx) -> dict[str, Any]:
    mid = await _in_scope(ctx)
    ctx.target = f"member:{mid}"
    names = ctx.body.get("datasets")
    datasets = [Dataset(n) for n in names] if names else None
    ctx.details = {"datasets": names or "all", "dry_run": bool(ctx.body.get("dry_run"))}
    if ctx.body.get("dry_run"):
        return {"dry_run": True, "datasets": await _sync(ctx).dry_run(mid, datasets)}
    outcome = await _sync(ctx).push(mid, datasets, force=True)
    ctx.details["outcome"] = outcome
    return {"datasets": {d: {"push": o} for d, o in outcome.items()}}


@api.route(
    "POST",
    "/members/{member_id}/bind",
    summary="Bind a member's server: wipes the accounts on it (confirm_wipe), then a full sync",
    tag="sync",
    body=BIND,
    roles=WRITERS,
    action="member.bind",
    errors=(403, 404, 409, 422),
)
async def bind(ctx: Ctx) -> dict[str, Any]:
    mid = await _in_scope(ctx)
    ctx.target = f"member:{mid}"
    ctx.details = {"server_url": ctx.body["server_url"], "confirm_wipe": ctx.body["confirm_wipe"]}
    if ctx.body["confirm_wipe"] is not True:
        raise ApiError(
            409,
            "confirm_wipe",
            "binding wipes every account on that server and replaces them with the "
            "federation's: send confirm_wipe true to go ahead",
        )
    store = ctx.services.federation
    url = link_url(ctx.body["server_url"])
    m = await store.update_member(ctx.me.scope, mid, {"server_url": url})
    if ctx.services.data is not None:
        await ctx.services.data.reset_sync(mid)
    if ctx.services.sync is not None:
        await ctx.services.sync.rebind(mid)
    return member_json(await store.current(), m)


@api.route(
    "GET",
    "/settings/sync",
    summary="How often every member server is sent its data when nothing changed",
    tag="settings",
    roles=frozenset({Role.ADMIN}),
)
async def get_sync_settings(ctx: Ctx) -> dict[str, Any]:
    assert ctx.services.settings is not None
    stored, revision = await ctx.services.settings.get(SECTION)
    return {"interval_s": stored.get("interval_s", DEFAULT_INTERVAL_S), "revision": revision}


@api.route(
    "PUT",
    "/settings/sync",
    summary="Set the automatic sync interval (seconds)",
    tag="settings",
    body=SYNC_SETTINGS,
    roles=frozenset({Role.ADMIN}),
    action="settings.sync",
    errors=(403,),
)
async def put_sync_settings(ctx: Ctx) -> dict[str, Any]:
    if ctx.me.scope is not None:
        raise ApiError(403, "outside_scope", "platform settings belong to federation-wide admins")
    assert ctx.services.settings is not None
    ctx.details = dict(ctx.body)
    revision = await ctx.services.settings.put(SECTION, dict(ctx.body))
    if ctx.services.sync is not None:
        ctx.services.sync.interval = float(ctx.body["interval_s"])
    return {"interval_s": ctx.body["interval_s"], "revision": revision}
