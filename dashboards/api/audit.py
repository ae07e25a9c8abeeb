"""The admin operation log: read and export (auditors only)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from dashboards.api import api
from dashboards.endpoint import Ctx
from dashboards.errors import ApiError
from dashboards.schemas import AUDIT_LIST
from storage.admins import Role
from storage.audit import AuditQuery, to_csv

AUDITORS = frozenset({Role.AUDITOR})
EXPORT_LIMIT = 100_000

_FILTERS: tuple[tuple[str, dict[str, Any], str], ...] = (
    (
        "since",
        {"type": "string", "format": "date-time"},
        "entries at or after this time (ISO 8601)",
    ),
    ("until", {"type": "string", "format": "date-time"}, "entries before this time"),
    ("admin", {"type": "string", "maxLength": 64}, "only this admin's entries"),
    ("action", {"type": "string", "maxLength": 64}, "only this action, e.g. member.create"),
    ("result", {"type": "string", "enum": ["ok", "refused", "failed"]}, "only this result"),
)


async def _query(ctx: Ctx, limit: int, before_id: int | None) -> AuditQuery:
    scope = ctx.me.scope
    ids = None
    if scope is not None:
        ids = frozenset((await ctx.services.federation.current()).federation.subtree_ids(scope))
    result = ctx.query("result")
    if result not in (None, "ok", "refused", "failed"):
        raise ApiError(422, "invalid_input", "result must be ok, refused or failed")
    return AuditQuery(
        since=ctx.time("since"),
        until=ctx.time("until"),
        admin=ctx.query("admin", max_len=64),
        action=ctx.query("action", max_len=64),
        result=result,
        member_ids=ids,
        limit=limit,
        before_id=before_id,
    )


def _int(ctx: Ctx, name: str, default: int, lo: int, hi: int) -> int:
    raw = ctx.query(name, str(default)) or str(default)
    if not (raw.isascii() and raw.isdigit()) or not (lo <= int(raw) <= hi):
        raise ApiError(422, "invalid_input", f"{name} must be a whole number from {lo} to {hi}")
    return int(raw)


@api.route(
    "GET",
    "/audit",
    summary="The admin operation log, newest first, filtered",
    tag="audit",
    response=AUDIT_LIST,
    roles=AUDITORS,
    query=(
        *_FILTERS,
        ("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "page size (default 100)"),
        ("before_id", {"type": "integer", "minimum": 1}, "next page: entries older than this id"),
    ),
    errors=(422,),
)
async def list_audit(ctx: Ctx) -> dict[str, Any]:
    limit = _int(ctx, "limit", 100, 1, 1000)
    before = ctx.query("before_id")
    before_id = _int(ctx, "before_id", 1, 1, 2**62) if before else None
    entries = await ctx.services.audit.query(await _query(ctx, limit, before_id))
    return {
        "entries": [e.to_json() for e in entries],
        "next_before_id": entries[-1].id if len(entries) == limit else None,
    }


@api.route(
    "GET",
    "/audit/export",
    summary="The filtered operation log as CSV",
    tag="audit",
    roles=AUDITORS,
    action="audit.export",
    query=_FILTERS,
    errors=(422,),
    media_type="text/csv",
)
async def export_audit(ctx: Ctx) -> Response:
    entries = await ctx.services.audit.query(await _query(ctx, EXPORT_LIMIT, None))
    ctx.details = {"rows": len(entries)}
    return Response(
        to_csv(entries),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="fedhub-audit.csv"'},
    )
