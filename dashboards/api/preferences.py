"""Your own preferences: the language of your pages, remembered across logins."""

from __future__ import annotations

from typing import Any

from dashboards.api import api
from dashboards.endpoint import Ctx
from dashboards.pages.i18n import LOCALES
from dashboards.schemas import obj

PREFERENCES = obj({"locale": {"type": "string", "enum": list(LOCALES)}}, ("locale",))


@api.route(
    "GET",
    "/preferences",
    summary="Your page language (null until you choose one)",
    tag="auth",
    response={"type": "object", "properties": {"locale": {"type": ["string", "null"]}}},
    before_password_change=True,
)
async def get_preferences(ctx: Ctx) -> dict[str, Any]:
    assert ctx.services.preferences is not None
    return {"locale": await ctx.services.preferences.locale(ctx.me.admin.id)}


@api.route(
    "PUT",
    "/preferences",
    summary="Choose your page language (zh-CN or en)",
    tag="auth",
    body=PREFERENCES,
    response=PREFERENCES,
    before_password_change=True,
    action="preferences.update",
)
async def put_preferences(ctx: Ctx) -> dict[str, Any]:
    assert ctx.services.preferences is not None
    await ctx.services.preferences.set_locale(ctx.me.admin.id, ctx.body["locale"])
    ctx.target = f"admin:{ctx.me.admin.id}"
    return {"locale": ctx.body["locale"]}
