"""Federation members: the tree within the caller's scope, create, change, delete."""

from __future__ import annotations

from typing import Any

from controllers.config import ConfigError, normalise_link_url
from dashboards.api import api
from dashboards.endpoint import Ctx
from dashboards.errors import ApiError
from dashboards.schemas import MEMBER, MEMBER_CREATE, MEMBER_LIST, MEMBER_UPDATE
from hub import password_policy
from hub.federation import LEVEL_NAMES, Federation, Member
from storage.admins import Role
from storage.federation_store import FederationView
from storage.passwords import hash_password_async

READERS = frozenset({Role.ADMIN, Role.SECURITY})
WRITERS = frozenset({Role.ADMIN})


def member_json(view: FederationView, m: Member) -> dict[str, Any]:
    srv = view.servers.get(m.id)
    return {
        "id": m.id,
        "parent_id": m.parent_id,
        "level": m.level,
        "level_name": LEVEL_NAMES[m.level],
        "domain": m.domain,
        "display_name": m.display_name,
        "username": m.username,
        "remark": m.remark,
        "server_url": srv.server_url if srv else None,
        "sip_host": srv.sip_host if srv else None,
        "sip_port": srv.sip_port if srv else None,
    }


def _tree(view: FederationView, fed: Federation, m: Member) -> dict[str, Any]:
    node = member_json(view, m)
    node["children"] = [_tree(view, fed, c) for c in fed.children(m.id)]
    return node


def link_url(url: str | None) -> str | None:
    """A member's link URL checked and normalised by the link layer's own rule
    (``normalise_link_url``), so that only a URL a link can dial is ever stored."""
    if url is None:
        return None
    try:
        return normalise_link_url(url)
    except ConfigError as e:
        raise ApiError(422, "invalid_server_url", str(e), {"field": "server_url"}) from None


async def _refuse_binding(ctx: Ctx, member_id: int, url: str | None) -> None:
    """Binding a member server wipes its accounts: only ``POST /members/{id}/bind`` with
    ``confirm_wipe`` does it. A change here may unbind (null) or keep the URL."""
    view = await ctx.services.federation.current()
    view.federation.require_within(ctx.me.scope, member_id)
    srv = view.servers.get(member_id)
    if url is None or (srv is not None and srv.server_url == url):
        return
    raise ApiError(
        422,
        "bind_required",
        "binding a member server wipes the accounts on it: use POST "
        f"/api/v1/members/{member_id}/bind with server_url and confirm_wipe true",
        {"field": "server_url", "bind": f"/api/v1/members/{member_id}/bind"},
    )


async def _checked_password(password: str, username: str) -> str:
    reasons = password_policy.check(password, username)
    if reasons:
        raise ApiError(422, "weak_password", "password " + "; ".join(reasons), {"reasons": reasons})
    return await hash_password_async(password)


@api.route(
    "GET",
    "/members",
    summary="Members in your scope, as a tree (or flat with ?flat=true)",
    tag="members",
    response=MEMBER_LIST,
    roles=READERS,
    query=(("flat", {"type": "boolean"}, "a flat list, parents before children"),),
)
async def list_members(ctx: Ctx) -> dict[str, Any]:
    view = await ctx.services.federation.current()
    fed = view.federation
    scope = ctx.me.scope
    if ctx.flag("flat"):
        members = [member_json(view, m) for m in fed.subtree(scope)]
    else:
        tops = [fed.get(scope)] if scope is not None else fed.children(None)
        members = [_tree(view, fed, m) for m in tops]
    return {"members": members, "revision": view.revision}


@api.route(
    "POST",
    "/members",
    summary="Add a member under a parent in your scope",
    tag="members",
    ok=201,
    body=MEMBER_CREATE,
    response=MEMBER,
    roles=WRITERS,
    action="member.create",
    errors=(403, 404, 409, 422),
)
async def create_member(ctx: Ctx) -> dict[str, Any]:
    b = ctx.body
    ctx.target = f"member:{b['domain']}"
    ctx.details = {"parent_id": b["parent_id"], "domain": b["domain"], "username": b["username"]}
    server_url = link_url(b.get("server_url"))
    pw = await _checked_password(b["password"], b["username"])
    store = ctx.services.federation
    m = await store.create_member(
        ctx.me.scope,
        parent_id=b["parent_id"],
        domain=b["domain"],
        display_name=b["display_name"],
        username=b["username"],
        password_hash=pw,
        remark=b.get("remark", ""),
        server_url=server_url,
        sip_host=b.get("sip_host"),
        sip_port=b.get("sip_port"),
    )
    ctx.target = f"member:{m.id}"
    return member_json(await store.current(), m)


@api.route(
    "GET",
    "/members/{member_id}",
    summary="One member",
    tag="members",
    response=MEMBER,
    roles=READERS,
    errors=(403, 404),
)
async def get_member(ctx: Ctx) -> dict[str, Any]:
    mid = ctx.int_param("member_id")
    view = await ctx.services.federation.current()
    m = view.federation.require_within(ctx.me.scope, mid)
    out = member_json(view, m)
    out["children"] = [member_json(view, c) for c in view.federation.children(mid)]
    return out


@api.route(
    "PATCH",
    "/members/{member_id}",
    summary="Change a member's domain, names, password, remark or SIP address; unbind its "
    "server (server_url null); binding one is POST /members/{id}/bind",
    tag="members",
    body=MEMBER_UPDATE,
    response=MEMBER,
    roles=WRITERS,
    action="member.update",
    errors=(403, 404, 409, 422),
)
async def update_member(ctx: Ctx) -> dict[str, Any]:
    mid = ctx.int_param("member_id")
    ctx.target = f"member:{mid}"
    changes: dict[str, Any] = {k: v for k, v in ctx.body.items() if k != "password"}
    ctx.details = {"fields": sorted(ctx.body)}
    store = ctx.services.federation
    if "server_url" in changes:
        changes["server_url"] = link_url(changes["server_url"])
        await _refuse_binding(ctx, mid, changes["server_url"])
    if "password" in ctx.body:
        view = await store.current()
        current = view.federation.require_within(ctx.me.scope, mid)
        username = changes.get("username", current.username)
        changes["password_hash"] = await _checked_password(ctx.body["password"], username)
    m = await store.update_member(ctx.me.scope, mid, changes)
    return member_json(await store.current(), m)


@api.route(
    "DELETE",
    "/members/{member_id}",
    summary="Delete a member; with ?cascade=true also its subtree, ranges and admin-role accounts",
    tag="members",
    ok=204,
    roles=WRITERS,
    action="member.delete",
    query=(("cascade", {"type": "boolean"}, "also delete children and bound data"),),
    errors=(403, 404, 409),
)
async def delete_member(ctx: Ctx) -> None:
    mid = ctx.int_param("member_id")
    ctx.target = f"member:{mid}"
    cascade = ctx.flag("cascade")
    admins: list[dict[str, object]] = []
    gone = await ctx.services.federation.delete_member(
        ctx.me.scope, mid, cascade=cascade, removed_admins=admins
    )
    ctx.details = {"cascade": cascade, "deleted": [m.id for m in gone], "deleted_admins": admins}
