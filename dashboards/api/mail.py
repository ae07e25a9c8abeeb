"""The platform's SMTP settings and "send a test mail".

The password is stored encrypted (`storage.mail_settings`) and never shown: reads
answer ``password_set``. The test mail answers "test succeeded!" or the exact
failure (the server's answer, the refused connection, the TLS mismatch) as an
error whose code says which.
"""

from __future__ import annotations

from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any

from dashboards.api import api
from dashboards.endpoint import Ctx
from dashboards.errors import ApiError
from dashboards.ports import MailFailure
from dashboards.schemas import obj
from storage.admins import Role
from storage.mail_settings import EMAIL_PATTERN, SECURITY, MailSettings, MailSettingsStore
from storage.secrets import SecretUnreadable

ADMINS = frozenset({Role.ADMIN})
EMAIL = {"type": "string", "minLength": 3, "maxLength": 254, "pattern": EMAIL_PATTERN}
MAIL_SETTINGS = obj(
    {
        "host": {"type": "string", "minLength": 1, "maxLength": 253, "pattern": "^[^\\s/]+$"},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "security": {"type": "string", "enum": list(SECURITY)},
        # it may become the From header: no line breaks (header injection)
        "username": {"type": "string", "maxLength": 254, "pattern": "^[^\\r\\n]*$"},
        "password": {"type": "string", "maxLength": 256},
        "sender": {"anyOf": [EMAIL, {"const": ""}]},
        "verify_certificate": {"type": "boolean"},
        "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 120},
    },
    minProperties=1,
)
TEST_MAIL = obj({"to": EMAIL}, ("to",))


def _store(ctx: Ctx) -> MailSettingsStore:
    if ctx.me.scope is not None:
        raise ApiError(403, "outside_scope", "platform settings belong to federation-wide admins")
    if ctx.services.mail_settings is None:
        raise ApiError(503, "unavailable", "mail is not available on this node")
    return ctx.services.mail_settings


async def load_settings(store: MailSettingsStore) -> MailSettings | None:
    try:
        return await store.get()
    except SecretUnreadable as e:
        raise ApiError(409, "secret_unreadable", f"{e}; enter the SMTP password again") from None


@api.route(
    "GET",
    "/settings/mail",
    summary="The SMTP settings (the password is never shown, only whether one is set)",
    tag="settings",
    roles=ADMINS,
    response={"type": "object", "required": ["settings"]},
    errors=(403, 409, 503),
)
async def get_mail(ctx: Ctx) -> dict[str, Any]:
    s = await load_settings(_store(ctx))
    return {"settings": s.to_json() if s else None}


@api.route(
    "PATCH",
    "/settings/mail",
    summary="Change the SMTP settings (a missing password keeps the stored one)",
    tag="settings",
    body=MAIL_SETTINGS,
    roles=ADMINS,
    action="settings.mail",
    response={"type": "object", "required": ["settings"]},
    errors=(403, 409, 422, 503),
)
async def patch_mail(ctx: Ctx) -> dict[str, Any]:
    store = _store(ctx)
    ctx.target = "settings:mail"
    ctx.details = {k: v for k, v in ctx.body.items() if k != "password"}
    if "password" in ctx.body:
        ctx.details["password_changed"] = True
    try:
        s = await store.update(ctx.body)
    except SecretUnreadable as e:
        raise ApiError(409, "secret_unreadable", f"{e}; enter the SMTP password again") from None
    except (TypeError, ValueError) as e:
        raise ApiError(422, "invalid_settings", str(e)) from None
    return {"settings": s.to_json()}


@api.route(
    "POST",
    "/settings/mail/test",
    summary="Send a test mail: 'test succeeded!' or the exact failure (result 'failed')",
    tag="settings",
    body=TEST_MAIL,
    roles=ADMINS,
    action="settings.mail.test",
    response={"type": "object", "required": ["result", "message"]},
    errors=(403, 409, 503),
)
async def test_mail(ctx: Ctx) -> dict[str, Any]:
    store = _store(ctx)
    ctx.target = "settings:mail"
    ctx.details = {"to": ctx.body["to"]}
    settings = await load_settings(store)
    if settings is None:
        raise ApiError(409, "mail_not_configured", "set the SMTP server first")
    transport = ctx.services.mail_transport
    if transport is None:
        raise ApiError(503, "unavailable", "mail is not available on this node")
    msg = EmailMessage()
    try:
        msg["To"] = Address(addr_spec=ctx.body["to"])
    except (ValueError, IndexError, HeaderParseError) as e:
        raise ApiError(422, "invalid_input", f"to: not a mail address ({e})") from None
    msg["Subject"] = "fedhub: test mail"
    msg.set_content(
        f"This is a test mail from the fedhub federation platform, sent by {ctx.me.label}.\n"
        "If you can read it, the SMTP settings work.\n"
    )
    try:
        await transport.send(settings, msg)
    except MailFailure as e:
        # the test ran; its verdict is the answer (the hub itself did not fail)
        ctx.details["outcome"] = e.code
        return {"result": "failed", "code": e.code, "message": e.message}
    ctx.details["outcome"] = "ok"
    return {"result": "ok", "message": "test succeeded!"}
