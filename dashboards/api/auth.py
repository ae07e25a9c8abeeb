"""Login, logout, password change and the current session."""

from __future__ import annotations

import secrets

from starlette.responses import Response

from dashboards.api import api
from dashboards.auth import SESSION_COOKIE
from dashboards.endpoint import Ctx
from dashboards.errors import ApiError
from dashboards.forwarded import is_https
from dashboards.jsonresp import json_response
from dashboards.schemas import LOGIN, LOGIN_OK, PASSWORD_CHANGE, SESSION_INFO
from hub import password_policy
from storage.models import utcnow
from storage.passwords import hash_password_async, verify_password_async
from storage.sessions import token_digest


@api.route(
    "POST",
    "/auth/login",
    summary="Log in with username and password; sets the session cookie",
    tag="auth",
    body=LOGIN,
    response=LOGIN_OK,
    public=True,
    action="auth.login",
    errors=(401, 403, 423, 429),
)
async def login(ctx: Ctx) -> Response:
    s = ctx.services
    username, password = ctx.body["username"], ctx.body["password"]
    ctx.target = f"admin:{username}"
    ctx.details["admin_name"] = username
    wait = s.throttle.retry_after(ctx.ip)
    if wait > 0:
        raise ApiError(
            429,
            "too_many_attempts",
            f"too many failed logins from {ctx.ip}; try again in {int(wait) + 1} s",
            headers={"Retry-After": str(int(wait) + 1)},
        )
    found = await s.admins.credentials(username)
    ok = await verify_password_async(found[1] if found else None, password)
    if found is None:
        s.throttle.failed(ctx.ip)
        raise ApiError(401, "bad_credentials", "wrong username or password")
    admin = found[0]
    ctx.details.update(admin_id=admin.id, member_id=admin.member_id)
    now = utcnow()
    if admin.locked(now):
        s.throttle.failed(ctx.ip)
        raise _locked(admin.locked_until)
    if not ok:
        s.throttle.failed(ctx.ip)
        admin = await s.admins.record_failure(admin.id)
        if admin.locked(now):
            raise _locked(admin.locked_until)
        raise ApiError(401, "bad_credentials", "wrong username or password")
    if admin.disabled:
        raise ApiError(403, "account_disabled", "this admin account is disabled")
    await s.admins.record_success(admin.id)
    await s.sessions.purge_expired()  # logins are rare: a cheap moment to drop dead sessions
    token, session = await s.sessions.create(
        admin.id, ctx.ip, ctx.request.headers.get("user-agent", "")
    )
    resp = json_response(
        {
            "admin": admin.to_json(),
            "password_change_required": admin.password_change_required,
            "csrf_token": session.csrf_token,
        }
    )
    secure = s.config.cookie_secure
    if secure is None:
        secure = is_https(ctx.request.scope, s.config.trusted_proxies)
    resp.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(s.sessions.absolute.total_seconds()),
        httponly=True,
        secure=secure,
        samesite="strict",
        path="/",
    )
    return resp


def _locked(until: object) -> ApiError:
    return ApiError(
        423,
        "account_locked",
        "this account is locked after too many failed logins; try again later or ask a "
        "security admin to unlock it",
        {"locked_until": str(until)},
    )


@api.route(
    "POST",
    "/auth/logout",
    summary="End the current session",
    tag="auth",
    ok=204,
    action="auth.logout",
    before_password_change=True,
)
async def logout(ctx: Ctx) -> Response:
    if ctx.me.session_token:
        await ctx.services.sessions.revoke(ctx.me.session_token)
    resp = Response(status_code=204)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


@api.route(
    "GET",
    "/auth/session",
    summary="The logged-in admin and the session's CSRF token",
    tag="auth",
    response=SESSION_INFO,
    before_password_change=True,
)
async def session_info(ctx: Ctx) -> dict[str, object]:
    return {
        "admin": ctx.me.admin.to_json(),
        "password_change_required": ctx.me.admin.password_change_required,
        "csrf_token": ctx.me.csrf_token or "",
    }


@api.route(
    "POST",
    "/auth/password",
    summary="Change your own password (ends your other sessions)",
    tag="auth",
    body=PASSWORD_CHANGE,
    ok=204,
    action="auth.password",
    before_password_change=True,
)
async def change_password(ctx: Ctx) -> None:
    s = ctx.services
    me = ctx.me.admin
    ctx.target = f"admin:{me.username}"
    old, new = ctx.body["old_password"], ctx.body["new_password"]
    if not await verify_password_async(await s.admins.password_hash(me.id), old):
        # guessing the old password through a stolen session counts like failed logins
        s.throttle.failed(ctx.ip)
        after = await s.admins.record_failure(me.id)
        if after.locked(utcnow()):
            await s.sessions.revoke_all(me.id)
            raise _locked(after.locked_until)
        raise ApiError(403, "bad_credentials", "the old password is wrong")
    reasons = password_policy.check(new, me.username)
    if secrets.compare_digest(old.encode(), new.encode()):
        reasons.append("must differ from the old password")
    if reasons:
        raise ApiError(
            422, "weak_password", "new password " + "; ".join(reasons), {"reasons": reasons}
        )
    await s.admins.set_password(me.id, await hash_password_async(new), must_change=False)
    keep = token_digest(ctx.me.session_token) if ctx.me.session_token else None
    await s.end_credentials(me.id, keep_session=keep)
