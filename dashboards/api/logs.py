"""The hub's log files: export a time range, modules and nodes as a zip; how lines look.

Logs can name any member, so only the federation-wide roles read them: an ``admin``
or an ``auditor`` without a member scope. Each export is audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.responses import Response, StreamingResponse

from dashboards.api import api
from dashboards.api.backups import federation_wide, patch_section, section
from dashboards.endpoint import Ctx
from dashboards.errors import ApiError
from dashboards.schemas import obj
from storage.admins import Role

READERS = frozenset({Role.ADMIN, Role.AUDITOR})
ADMINS = frozenset({Role.ADMIN})
MAX_LIST = 32

_FILTERS: tuple[tuple[str, dict[str, Any], str], ...] = (
    ("since", {"type": "string", "format": "date-time"}, "lines at or after this time"),
    ("until", {"type": "string", "format": "date-time"}, "lines before this time"),
    ("module", {"type": "string", "maxLength": 400}, "comma-separated modules, e.g. api,sip"),
    ("node", {"type": "string", "maxLength": 400}, "comma-separated node names"),
)


def _names(ctx: Ctx, name: str, allowed: tuple[str, ...] | None) -> frozenset[str] | None:
    raw = ctx.query(name, max_len=400)
    if not raw:
        return None
    names = frozenset(n.strip() for n in raw.split(",") if n.strip())
    if not names or len(names) > MAX_LIST:
        raise ApiError(422, "invalid_input", f"{name}: 1 to {MAX_LIST} comma-separated names")
    if allowed is not None and not names <= set(allowed):
        bad = sorted(names - set(allowed))[0]
        raise ApiError(
            422, "invalid_input", f"unknown module {bad[:40]!r}; one of {', '.join(allowed)}"
        )
    return names


@api.route(
    "GET",
    "/logs/export",
    summary="This node's log lines of a time range, modules and nodes, as a zip",
    tag="logs",
    roles=READERS,
    action="logs.export",
    query=_FILTERS,
    errors=(422,),
    media_type="application/zip",
)
async def export_logs(ctx: Ctx) -> Response:
    federation_wide(ctx)
    logs = ctx.services.logs
    if logs is None:
        raise ApiError(404, "not_found", "logs are not offered by this process")
    since: datetime | None = ctx.time("since")
    until: datetime | None = ctx.time("until")
    if since and until and since >= until:
        raise ApiError(422, "invalid_input", "since must be before until")
    modules = _names(ctx, "module", logs.modules)
    nodes = _names(ctx, "node", None)
    ctx.details = {
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "modules": sorted(modules) if modules else None,
        "nodes": sorted(nodes) if nodes else None,
    }
    return StreamingResponse(
        logs.export(since, until, modules, nodes),
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="fedhub-logs.zip"'},
    )


@api.route(
    "GET",
    "/settings/logs",
    summary="How log lines are written (text, or one JSON object per line)",
    tag="settings",
    roles=ADMINS,
    response={"type": "object", "required": ["settings"]},
)
async def get_log_settings(ctx: Ctx) -> dict[str, Any]:
    return await section(ctx, "logs").get()


@api.route(
    "PATCH",
    "/settings/logs",
    summary="Switch log lines between text and JSON (applied without restart)",
    tag="settings",
    body=obj({"json": {"type": "boolean"}}, ("json",)),
    roles=ADMINS,
    action="settings.logs",
    response={"type": "object", "required": ["settings"]},
    errors=(422,),
)
async def patch_log_settings(ctx: Ctx) -> dict[str, Any]:
    return await patch_section(ctx, "logs")
