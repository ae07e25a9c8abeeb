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
    """Throttle, then lockout, then the password — each attempt counted before its check.

    The per-IP slot is taken and the per-name attempt counted (atomically, in storage)
    before any password is checked, so neither bound can be raced. An unknown name runs
    the same lockout as an account (401 … then 423) and the same argon2 check. What a
    stranger can repeat at will (throttled, locked, unknown name) is audited as one
    aggregate row per source and window; a check against an account is one row each.
    """
    s = ctx.services
    username, password = ctx.body["username"], ctx.body["password"]
    wait = s.throttle.acquire(ctx.ip)
    if wait > 0:
        ctx.aggregate = True
        raise ApiError(
            429,
            "too_many_attempts",
            f"too many failed logins from {ctx.ip}; try again in {int(wait) + 1} s",
            headers={"Retry-After": str(int(wait) + 1)},
        )
    attempt = await s.admins.begin_login(username)
    verdict, admin = attempt.verdict, attempt.admin
    if admin is None:
        ctx.aggregate = True
        if verdict.may_check:
            await verify_password_async(None, password)  # as long as a real check
    else:
        ctx.target = f"admin:{admin.id}"
        ctx.details.update(admin_id=admin.id, member_id=admin.member_id, admin_name=admin.username)
    if not verdict.may_check:
        ctx.aggregate = True
        raise _locked(verdict.locked_until)
    if admin is None or not await verify_password_async(attempt.password_hash, password):
        if verdict.locks:
            raise _locked(verdict.locked_until)
        raise ApiError(401, "bad_credentials", "wrong username or password")
    # the password is right: what follows may be told to the one who knows it
    if admin.disabled:
        raise ApiError(403, "account_disabled", "this admin account is disabled")
    if admin.approval_pending_by is not None:
        raise ApiError(
            403,
            "approval_pending",
            "this account's password was set by a security admin; a second security admin "
            "(or 'fedhub admin approve' on the hub) must approve it before it can log in",
        )
    s.throttle.release(ctx.ip)
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
    await check_own_password(ctx, old, "the old password is wrong")
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


async def check_own_password(ctx: Ctx, password: str, wrong: str) -> None:
    """Check the caller's own password before a change that needs it (password change,
    reset-mail address). Guessing it through a stolen session counts like failed logins,
    counted before the check like them: 429 per address, 423 once the account locks
    (its sessions end), 403 ``bad_credentials`` with ``wrong`` otherwise."""
    s = ctx.services
    me = ctx.me.admin
    wait = s.throttle.acquire(ctx.ip)
    if wait > 0:
        raise ApiError(
            429,
            "too_many_attempts",
            f"too many failed password checks from {ctx.ip}; try again in {int(wait) + 1} s",
            headers={"Retry-After": str(int(wait) + 1)},
        )
    verdict = await s.admins.begin_attempt(me.id)
    if not verdict.may_check:
        raise _locked(verdict.locked_until)
    if not await verify_password_async(await s.admins.password_hash(me.id), password):
        if verdict.locks:
            await s.sessions.revoke_all(me.id)
            raise _locked(verdict.locked_until)
        raise ApiError(403, "bad_credentials", wrong)
    s.throttle.release(ctx.ip)
    await s.admins.record_success(me.id)
