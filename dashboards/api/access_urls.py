"""Center access URLs: the intranet and extranet addresses of the platform.

Links in pages and in mails (password reset) use the one that matches the client's
network (`hub.access.AccessUrls.for_client`), never the request's Host header.
"""

from __future__ import annotations

from typing import Any

from dashboards.api import api
from dashboards.endpoint import Ctx
from dashboards.errors import ApiError
from dashboards.schemas import obj
from hub.access import MAX_NETWORKS, AccessUrls
from storage.admins import Role
from storage.settings import SettingsStore

SECTION = "access"
ADMINS = frozenset({Role.ADMIN})
URL = {"type": "string", "maxLength": 2048}
ACCESS = obj(
    {
        "intranet_url": URL,
        "extranet_url": URL,
        "intranet_networks": {
            "type": "array",
            "maxItems": MAX_NETWORKS,
            "items": {"type": "string", "minLength": 2, "maxLength": 49},
        },
    },
    minProperties=1,
)


async def access_urls(settings: SettingsStore | None) -> AccessUrls:
    """The stored access URLs (defaults when never set)."""
    if settings is None:
        return AccessUrls()
    stored, _ = await settings.get(SECTION)
    try:
        return AccessUrls.from_json(stored)
    except ValueError:
        return AccessUrls()


def _store(ctx: Ctx) -> SettingsStore:
    if ctx.me.scope is not None:
        raise ApiError(403, "outside_scope", "platform settings belong to federation-wide admins")
    assert ctx.services.settings is not None
    return ctx.services.settings


@api.route(
    "GET",
    "/settings/access",
    summary="The center access URLs (intranet, extranet) and the intranet networks",
    tag="settings",
    roles=ADMINS,
    response={"type": "object", "required": ["settings"]},
)
async def get_access(ctx: Ctx) -> dict[str, Any]:
    return {"settings": (await access_urls(_store(ctx))).to_json()}


@api.route(
    "PATCH",
    "/settings/access",
    summary="Change the center access URLs or the intranet networks",
    tag="settings",
    body=ACCESS,
    roles=ADMINS,
    action="settings.access",
    response={"type": "object", "required": ["settings"]},
    errors=(403, 422),
)
async def patch_access(ctx: Ctx) -> dict[str, Any]:
    store = _store(ctx)
    ctx.target = "settings:access"
    ctx.details = dict(ctx.body)
    stored, _ = await store.get(SECTION)
    try:
        checked = AccessUrls.from_json({**stored, **ctx.body})
    except ValueError as e:
        raise ApiError(422, "invalid_settings", str(e)) from None
    await store.put(SECTION, checked.to_json())
    return {"settings": checked.to_json()}


@api.route(
    "GET",
    "/access-url",
    summary="The platform URL for the caller's network (intranet or extranet)",
    tag="settings",
    response={"type": "object", "required": ["url", "network"]},
)
async def my_access_url(ctx: Ctx) -> dict[str, Any]:
    urls = await access_urls(ctx.services.settings)
    return {
        "url": urls.for_client(ctx.ip),
        "network": "intranet" if urls.is_intranet(ctx.ip) else "extranet",
    }
