"""Admin accounts, managed by security admins within their own scope.

Separation of duties holds through the API (docs/api.md, "Trust model"): no role can
come to hold another role's powers.

- Security and auditor accounts are read-only here: creating, changing or deleting
  one needs the shell (``fedhub admin …``, root on the host): ``403 shell_required``.
  Otherwise a security admin could reset an auditor's password and read the log as it.
- An ``admin``-role account whose password a security admin sets (by creating it or by
  a reset) cannot log in until a *second* security admin approves it (``PATCH
  {"approve": true}``; ``403 second_person_required`` for the one who set it), or the
  shell does (``fedhub admin approve``). Otherwise a security admin could make itself
  an operator.
- Unlocking, disabling, enabling and deleting ``admin``-role accounts hand nobody a
  credential and stay with one security admin.
"""

from __future__ import annotations

from typing import Any

from dashboards.api import api
from dashboards.endpoint import Ctx
from dashboards.errors import ApiError
from dashboards.schemas import ADMIN, ADMIN_CREATE, ADMIN_LIST, ADMIN_UPDATE
from hub import password_policy
from hub.federation import validate_username
from storage.admins import Admin, Role, UsernameTaken
from storage.passwords import hash_password_async

SECURITY = frozenset({Role.SECURITY})
API_MANAGED = frozenset({Role.ADMIN})  # roles whose accounts a security admin changes here


def _shell_only(role: Role | str) -> ApiError:
    return ApiError(
        403,
        "shell_required",
        f"{role} accounts are created, changed and deleted only from the shell on the hub "
        "('fedhub admin …'), so that no role can take another role's powers",
        {"role": str(role)},
    )


async def _in_scope(ctx: Ctx, admin_id: int) -> Admin:
    """The account if it belongs to the caller's scope; 404 otherwise (no leaks)."""
    admin = await ctx.services.admins.get(admin_id)
    scope = ctx.me.scope
    if admin is not None and scope is not None:
        view = await ctx.services.federation.current()
        if admin.member_id is None or not view.federation.is_within(scope, admin.member_id):
            admin = None
    if admin is None:
        raise ApiError(404, "unknown_admin", f"admin {admin_id} does not exist in your scope")
    return admin


@api.route(
    "GET",
    "/admins",
    summary="Admin accounts in your scope",
    tag="admins",
    response=ADMIN_LIST,
    roles=SECURITY,
)
async def list_admins(ctx: Ctx) -> dict[str, Any]:
    scope = ctx.me.scope
    ids = None
    if scope is not None:
        ids = (await ctx.services.federation.current()).federation.subtree_ids(scope)
    return {"admins": [a.to_json() for a in await ctx.services.admins.list(ids)]}


@api.route(
    "POST",
    "/admins",
    summary="Create an admin-role account for a member in your scope; it logs in once a "
    "second security admin approves it, and must then change its password",
    tag="admins",
    ok=201,
    body=ADMIN_CREATE,
    response=ADMIN,
    roles=SECURITY,
    action="admin.create",
    errors=(403, 404, 409, 422),
)
async def create_admin(ctx: Ctx) -> dict[str, Any]:
    b = ctx.body
    ctx.target = f"admin:{b['username']}"
    ctx.details = {"role": b["role"], "member_id": b["member_id"]}
    try:
        validate_username(b["username"])
    except Exception as e:
        raise ApiError(422, "invalid_username", str(e)) from None
    if Role(b["role"]) not in API_MANAGED:
        raise _shell_only(b["role"])
    scope, member_id = ctx.me.scope, b["member_id"]
    if member_id is None:
        if scope is not None:
            raise ApiError(
                403,
                "outside_scope",
                "only a federation-wide security admin can create federation-wide accounts",
            )
    else:
        (await ctx.services.federation.current()).federation.require_within(scope, member_id)
    reasons = password_policy.check(b["password"], b["username"])
    if reasons:
        raise ApiError(422, "weak_password", "password " + "; ".join(reasons), {"reasons": reasons})
    try:
        admin = await ctx.services.admins.create(
            b["username"],
            await hash_password_async(b["password"]),
            Role(b["role"]),
            member_id,
            approval_pending_by=ctx.me.admin.id,
        )
    except UsernameTaken:
        # names are global: say only that it is taken, never whose or where
        raise ApiError(409, "username_taken", "this admin username is taken") from None
    ctx.target = f"admin:{admin.id}"
    return admin.to_json()


@api.route(
    "GET",
    "/admins/{admin_id}",
    summary="One admin account",
    tag="admins",
    response=ADMIN,
    roles=SECURITY,
    errors=(404,),
)
async def get_admin(ctx: Ctx) -> dict[str, Any]:
    return (await _in_scope(ctx, ctx.int_param("admin_id"))).to_json()


@api.route(
    "PATCH",
    "/admins/{admin_id}",
    summary="Disable/enable, unlock, reset the password of (then a second security admin "
    "approves), or approve an admin-role account",
    tag="admins",
    body=ADMIN_UPDATE,
    response=ADMIN,
    roles=SECURITY,
    action="admin.update",
    errors=(403, 404, 422),
)
async def update_admin(ctx: Ctx) -> dict[str, Any]:
    aid = ctx.int_param("admin_id")
    ctx.target = f"admin:{aid}"
    ctx.details = {"fields": sorted(ctx.body)}
    admin = await _in_scope(ctx, aid)
    s = ctx.services
    if admin.id == ctx.me.admin.id and ctx.body.get("disabled"):
        raise ApiError(403, "self_lockout", "you cannot disable your own account")
    if admin.role not in API_MANAGED:
        raise _shell_only(admin.role)
    if ctx.body.get("approve"):
        # the password set here now, or earlier by someone: either way not by this caller
        if "password" in ctx.body or admin.approval_pending_by == ctx.me.admin.id:
            raise ApiError(
                403,
                "second_person_required",
                "a password you set must be approved by another security admin (or the shell)",
            )
        await s.admins.approve(admin.id)
    if "password" in ctx.body:
        reasons = password_policy.check(ctx.body["password"], admin.username)
        if reasons:
            raise ApiError(
                422, "weak_password", "password " + "; ".join(reasons), {"reasons": reasons}
            )
        await s.admins.set_password(
            admin.id,
            await hash_password_async(ctx.body["password"]),
            must_change=True,
            approval_pending_by=ctx.me.admin.id,
        )
        await s.end_credentials(admin.id)
    if ctx.body.get("unlock"):
        await s.admins.unlock(admin.id)
    if "disabled" in ctx.body:
        await s.admins.set_disabled(admin.id, ctx.body["disabled"])
        if ctx.body["disabled"]:
            await s.end_credentials(admin.id)  # re-enabling must not revive them
    updated = await s.admins.get(admin.id)
    assert updated is not None
    return updated.to_json()


@api.route(
    "DELETE",
    "/admins/{admin_id}",
    summary="Delete an admin account (its sessions and tokens end)",
    tag="admins",
    ok=204,
    roles=SECURITY,
    action="admin.delete",
    errors=(403, 404),
)
async def delete_admin(ctx: Ctx) -> None:
    aid = ctx.int_param("admin_id")
    ctx.target = f"admin:{aid}"
    admin = await _in_scope(ctx, aid)
    if admin.id == ctx.me.admin.id:
        raise ApiError(403, "self_delete", "you cannot delete your own account")
    if admin.role not in API_MANAGED:
        raise _shell_only(admin.role)
    ctx.details = {"username": admin.username, "role": str(admin.role)}
    await ctx.services.sessions.revoke_all(admin.id)
    await ctx.services.admins.delete(admin.id)
