"""Forgot password: a single-use, expiring reset link by mail, and setting a new password.

``POST /auth/forgot`` answers the same 202 whoever is named, at once: the account
is looked up and the mail sent in the background, so neither the answer nor its
timing tells whether the account exists. Requests are throttled per source address
and one mail per account per minute at most. The link is built from the center
access URL matching the requester's network (never from the Host header) and
carries the token in its fragment, so it stays out of server logs and Referer
headers. ``POST /auth/reset`` spends the token once, sets the password, unlocks the
account and ends its sessions and API tokens.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from email.message import EmailMessage

from dashboards.api import api
from dashboards.api.access_urls import access_urls
from dashboards.api.auth import check_own_password
from dashboards.api.mail import EMAIL
from dashboards.endpoint import Ctx
from dashboards.errors import ApiError
from dashboards.ports import MailFailure
from dashboards.schemas import PASSWORD, USERNAME, obj
from dashboards.services import Services
from hub import password_policy
from storage.models import utcnow
from storage.passwords import hash_password_async
from storage.secrets import SecretUnreadable

log = logging.getLogger("fedhub.auth")

MAIL_INTERVAL = timedelta(minutes=1)
"""At most one reset mail per account in this interval."""
ACCEPTED = (
    "if this account exists and has a mail address, a password reset link has been sent to it"
)
FORGOT = obj({"username": USERNAME}, ("username",))
RESET = obj(
    {"token": {"type": "string", "minLength": 1, "maxLength": 128}, "new_password": PASSWORD},
    ("token", "new_password"),
)
EMAIL_VALUE = {"anyOf": [EMAIL, {"type": "null"}]}
EMAIL = obj({"email": EMAIL_VALUE}, ("email",))
SET_EMAIL = obj({"email": EMAIL_VALUE, "password": PASSWORD}, ("email", "password"))


def _throttled(ctx: Ctx) -> None:
    wait = ctx.services.reset_throttle.retry_after(ctx.ip)
    if wait > 0:
        raise ApiError(
            429,
            "too_many_attempts",
            f"too many password reset requests from {ctx.ip}; try again in {int(wait) + 1} s",
            headers={"Retry-After": str(int(wait) + 1)},
        )


@api.route(
    "POST",
    "/auth/forgot",
    summary="Ask for a password reset link by mail (same answer for every username)",
    tag="auth",
    body=FORGOT,
    ok=202,
    public=True,
    action="auth.forgot",
    response={"type": "object", "required": ["message"]},
    errors=(429,),
)
async def forgot(ctx: Ctx) -> dict[str, str]:
    ctx.aggregate = True  # throttled repeats from one source are one audit row with a count
    _throttled(ctx)
    ctx.services.reset_throttle.acquire(ctx.ip)  # every request counts
    ctx.target = f"admin:{ctx.body['username']}"
    ctx.services.in_background(
        _send_link(ctx.services, ctx.body["username"], ctx.ip), "password-reset-mail"
    )
    return {"message": ACCEPTED}


async def _send_link(s: Services, username: str, ip: str) -> None:
    """Look the account up and mail it a link; every reason not to is logged, never told."""
    try:
        if s.password_resets is None or s.mail_settings is None or s.mail_transport is None:
            log.warning("password reset for %r: mail is not available on this node", username)
            return
        found = await s.admins.credentials(username)
        if found is None or found[0].disabled:
            log.info("password reset asked for an unknown or disabled account from %s", ip)
            return
        admin = found[0]
        email = await s.password_resets.email_of(admin.id)
        if not email:
            log.info("password reset for admin %s: it has no mail address", admin.id)
            return
        last = await s.password_resets.last_issued(admin.id)
        if last is not None and utcnow() - last < MAIL_INTERVAL:
            log.info("password reset for admin %s: recent link exists", admin.id)
            return
        base = (await access_urls(s.settings)).for_client(ip)
        if base is None:
            log.warning("password reset for admin %s: no center access URL is set", admin.id)
            return
        try:
            settings = await s.mail_settings.get()
        except SecretUnreadable as e:
            log.error("password reset for admin %s: %s", admin.id, e)
            return
        if settings is None:
            log.warning("password reset for admin %s: SMTP is not set up", admin.id)
            return
        token = await s.password_resets.issue(admin.id, ip)
        minutes = int(s.password_resets.lifetime.total_seconds() // 60)
        msg = EmailMessage()
        msg["To"] = email
        msg["Subject"] = "fedhub: reset your password"
        msg.set_content(
            f"Someone (from {ip}) asked to reset the password of the fedhub account "
            f"{admin.username!r}.\n\n"
            f"To choose a new password, open this link within {minutes} minutes:\n\n"
            f"  {base}/reset-password#token={token}\n\n"
            "The link works once. If you did not ask for it, ignore this mail: "
            "your password stays as it is.\n"
        )
        await s.mail_transport.send(settings, msg)
        await s.audit.record(
            action="auth.reset_mail", result="ok", target=f"admin:{admin.id}", source_ip=ip
        )
    except MailFailure:
        pass  # logged by the transport
    except Exception:
        log.exception("password reset mail failed")


@api.route(
    "POST",
    "/auth/reset",
    summary="Set a new password with the token from a reset link (single use)",
    tag="auth",
    body=RESET,
    ok=204,
    public=True,
    action="auth.reset",
    errors=(400, 422, 429),
)
async def reset(ctx: Ctx) -> None:
    s = ctx.services
    ctx.aggregate = True  # refused tokens from a stranger: one audit row per source and window
    _throttled(ctx)
    if s.password_resets is None:
        raise ApiError(503, "unavailable", "password reset is not available on this node")
    token, new = ctx.body["token"], ctx.body["new_password"]
    invalid = ApiError(
        400,
        "invalid_token",
        "this reset link is unknown, used or expired; ask for a new one",
    )
    admin_id = await s.password_resets.peek(token)
    admin = await s.admins.get(admin_id) if admin_id is not None else None
    if admin is None or admin.disabled:
        s.reset_throttle.acquire(ctx.ip)
        raise invalid
    ctx.target = f"admin:{admin.username}"
    ctx.details.update(admin_id=admin.id, admin_name=admin.username, member_id=admin.member_id)
    reasons = password_policy.check(new, admin.username)
    if reasons:
        raise ApiError(
            422, "weak_password", "new password " + "; ".join(reasons), {"reasons": reasons}
        )
    if await s.password_resets.consume(token) != admin.id:
        s.reset_throttle.acquire(ctx.ip)
        raise invalid
    await s.admins.set_password(admin.id, await hash_password_async(new), must_change=False)
    await s.end_credentials(admin.id)


@api.route(
    "GET",
    "/auth/email",
    summary="Your own mail address (where password reset links go)",
    tag="auth",
    response=EMAIL,
    before_password_change=True,
)
async def get_email(ctx: Ctx) -> dict[str, str | None]:
    if ctx.services.password_resets is None:
        raise ApiError(503, "unavailable", "mail addresses are not available on this node")
    return {"email": await ctx.services.password_resets.email_of(ctx.me.admin.id)}


@api.route(
    "PUT",
    "/auth/email",
    summary="Set your own mail address (null removes it); needs your password",
    tag="auth",
    body=SET_EMAIL,
    ok=204,
    action="auth.email",
    errors=(403, 423),
)
async def set_email(ctx: Ctx) -> None:
    """Where reset links go decides who can reset the password, so a stolen session
    alone must not change it: the password is asked, and wrong ones count like failed
    logins (as for a password change)."""
    s = ctx.services
    if s.password_resets is None:
        raise ApiError(503, "unavailable", "mail addresses are not available on this node")
    me = ctx.me.admin
    ctx.target = f"admin:{me.username}"
    await check_own_password(ctx, ctx.body["password"], "the password is wrong")
    await s.password_resets.set_email(me.id, ctx.body["email"])
