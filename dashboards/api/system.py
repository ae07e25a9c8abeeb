"""The hub itself: its version and schema revision; the disk quotas for logs and backups."""

from __future__ import annotations

import platform
from typing import Any

from dashboards.api import api
from dashboards.api.backups import refusal, section
from dashboards.endpoint import Ctx
from dashboards.operations import OperationError
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
    s = section(ctx, "quotas")
    ctx.target = "settings:quotas"
    ctx.details = dict(ctx.body)
    try:
        return await s.patch(ctx.body)
    except OperationError as e:
        raise refusal(e) from None
