"""Platform settings sections; for now the SIP redirect service."""

from __future__ import annotations

from typing import Any

from dashboards.api import api
from dashboards.endpoint import Ctx
from dashboards.errors import ApiError
from dashboards.schemas import obj
from sip.settings import SECTION, Overrides, settings_from, settings_json
from storage.admins import Role

ADMINS = frozenset({Role.ADMIN})
PORT = {"type": ["integer", "null"], "minimum": 1, "maximum": 65535}
REDIRECT_SETTINGS = obj(
    {
        "enabled": {"type": "boolean"},
        "name": {"type": "string", "minLength": 1, "maxLength": 64},
        "node": {"type": "string", "maxLength": 64},
        "host": {"type": "string", "minLength": 2, "maxLength": 45},
        "udp_port": PORT,
        "tcp_port": PORT,
        "tls_port": PORT,
        "rate": {"type": "number", "minimum": 0, "maximum": 100000},
        "burst": {"type": "integer", "minimum": 1, "maximum": 1000000},
        "max_connections": {"type": "integer", "minimum": 1, "maximum": 1000000},
        "max_connections_per_address": {"type": "integer", "minimum": 1, "maximum": 1000000},
        "connection_rate": {"type": "number", "minimum": 0, "maximum": 100000},
        "connection_burst": {"type": "integer", "minimum": 1, "maximum": 1000000},
        "idle_timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 86400},
        "contact_expires": {"type": "integer", "minimum": 0, "maximum": 604800},
        "register_tls_only": {"type": "boolean"},
    },
    minProperties=1,
)


def _federation_wide(ctx: Ctx) -> None:
    if ctx.me.scope is not None:
        raise ApiError(403, "outside_scope", "platform settings belong to federation-wide admins")


@api.route(
    "GET",
    "/settings/redirect",
    summary="The SIP redirect service settings, and its state on this node",
    tag="settings",
    roles=ADMINS,
    response={"type": "object", "required": ["settings"]},
)
async def get_redirect(ctx: Ctx) -> dict[str, Any]:
    _federation_wide(ctx)
    assert ctx.services.settings is not None
    stored, revision = await ctx.services.settings.get(SECTION)
    out: dict[str, Any] = {
        "settings": settings_json(settings_from(stored, Overrides())),
        "revision": revision,
    }
    if ctx.services.redirect is not None:
        out["node"] = ctx.services.redirect.status()
    return out


@api.route(
    "PATCH",
    "/settings/redirect",
    summary="Change the SIP redirect service settings (applied without restart)",
    tag="settings",
    body=REDIRECT_SETTINGS,
    roles=ADMINS,
    action="settings.redirect",
    response={"type": "object", "required": ["settings"]},
    errors=(422,),
)
async def patch_redirect(ctx: Ctx) -> dict[str, Any]:
    _federation_wide(ctx)
    store = ctx.services.settings
    assert store is not None
    ctx.target = "settings:redirect"
    ctx.details = dict(ctx.body)
    stored, _ = await store.get(SECTION)
    merged = {**stored, **ctx.body}
    try:
        checked = settings_from(merged, Overrides())
    except (TypeError, ValueError) as e:
        raise ApiError(422, "invalid_settings", str(e)) from None
    revision = await store.put(SECTION, settings_json(checked))
    if ctx.services.redirect is not None:
        await ctx.services.redirect.refresh()
    out: dict[str, Any] = {"settings": settings_json(checked), "revision": revision}
    if ctx.services.redirect is not None:
        out["node"] = ctx.services.redirect.status()
    return out
