"""The hub itself: its version and schema revision; the disk quotas for logs and backups."""

from __future__ import annotations

import platform
from typing import Any

from starlette.responses import Response

from dashboards.api import api
from dashboards.api.backups import accepted, federation_wide, patch_section, refusal, section
from dashboards.endpoint import Ctx
from dashboards.errors import ApiError
from dashboards.operations import OperationError, UpgradesPort
from dashboards.schemas import obj
from hub.version import fedhub_version
from storage.admins import Role

ADMINS = frozenset({Role.ADMIN})
MIB_QUOTA = {"type": "integer", "minimum": 1, "maximum": 100 * 1024 * 1024}
QUOTAS = obj(
    {
        "logs_mib": {**MIB_QUOTA, "description": "log files, MiB (at least the default)"},
        "backups_mib": {**MIB_QUOTA, "description": "backup archives, MiB (at least the default)"},
        "audit_days": {
            "type": "integer",
            "minimum": 180,
            "maximum": 36500,
            "description": "audit rows are aged out after this many days; never below 180",
        },
    },
    minProperties=1,
)


@api.route(
    "GET",
    "/system/version",
    summary="The hub's version, and the database schema revision it runs and expects",
    tag="system",
    response=obj(
        {
            "version": {"type": "string"},
            "schema": obj(
                {"current": {"type": ["string", "null"]}, "head": {"type": ["string", "null"]}},
                ("current", "head"),
            ),
            "database": {"type": "string"},
            "python": {"type": "string"},
        },
        ("version", "schema", "database"),
    ),
)
async def get_version(ctx: Ctx) -> dict[str, Any]:
    status = await ctx.services.db.migration_status()
    return {
        "version": fedhub_version(),
        "schema": {"current": status.current, "head": status.head},
        "database": ctx.services.db.dialect,
        "python": platform.python_version(),
    }


UPGRADE_QUERY = (
    ("filename", {"type": "string", "maxLength": 200}, "the wheel's file name"),
    ("sha256", {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}, "its SHA-256 (hex)"),
)


def _upgrades(ctx: Ctx) -> UpgradesPort:
    federation_wide(ctx)
    if ctx.services.upgrades is None:
        raise ApiError(404, "not_found", "upgrades are not offered by this process")
    return ctx.services.upgrades


@api.route(
    "GET",
    "/upgrade",
    summary="The running version, whether this install can be upgraded, the last upgrade",
    tag="system",
    roles=ADMINS,
    response={"type": "object", "required": ["version", "upgradable"]},
)
async def get_upgrade(ctx: Ctx) -> dict[str, Any]:
    return _upgrades(ctx).status()


@api.route(
    "POST",
    "/upgrade",
    summary="Upgrade this node from a release wheel (the body, application/octet-stream, "
    "at most 64 MiB) whose SHA-256 is given: verified, installed beside the running "
    "version, backed up, switched, restarted; rolled back if it does not become ready",
    tag="system",
    ok=202,
    roles=ADMINS,
    action="system.upgrade.upload",
    query=UPGRADE_QUERY,
    response={"type": "object", "required": ["id", "state", "location"]},
    errors=(409, 413, 422),
)
async def upgrade(ctx: Ctx) -> Response:
    upgrades = _upgrades(ctx)
    filename = ctx.query("filename") or ""
    sha256 = ctx.query("sha256", max_len=64) or ""
    ctx.target = f"release:{filename[:100]}"
    ctx.details = {"sha256": sha256}
    try:
        job = await upgrades.receive(
            ctx.request.stream(), filename, sha256, by=ctx.me.label, by_id=ctx.me.admin.id
        )
    except OperationError as e:
        raise refusal(e) from None
    ctx.details["job"] = job["id"]
    return accepted(job)


@api.route(
    "GET",
    "/settings/quotas",
    summary="Disk quotas for logs and backups, with what each uses now",
    tag="settings",
    roles=ADMINS,
    response={"type": "object", "required": ["settings", "usage", "note"]},
)
async def get_quotas(ctx: Ctx) -> dict[str, Any]:
    return await section(ctx, "quotas").get()


@api.route(
    "PATCH",
    "/settings/quotas",
    summary="Change the disk quotas (never below the defaults; the audit log is kept "
    "at least 180 days whatever they say)",
    tag="settings",
    body=QUOTAS,
    roles=ADMINS,
    action="settings.quotas",
    response={"type": "object", "required": ["settings", "usage", "note"]},
    errors=(422,),
)
async def patch_quotas(ctx: Ctx) -> dict[str, Any]:
    return await patch_section(ctx, "quotas")
