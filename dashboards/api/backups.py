"""Backups of the whole hub: list, make, download (streamed), delete; the schedule.

Only an ``admin`` without a member scope — the role that owns the whole federation —
may touch them: a backup holds every member, account and setting. Every call that
makes, downloads or deletes one is audited.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import Response, StreamingResponse

from dashboards.api import api
from dashboards.endpoint import Ctx
from dashboards.errors import ApiError
from dashboards.jsonresp import json_response
from dashboards.operations import BackupsPort, OperationError, SectionPort
from dashboards.schemas import NAME_PATTERN, obj
from storage.admins import Role

ADMINS = frozenset({Role.ADMIN})
CHUNK = 256 * 1024

BACKUP = obj(
    {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "kind": {"type": "string", "enum": ["manual", "scheduled", "pre-restore", "pre-upgrade"]},
        "created_at": {"type": "string"},
        "node": {"type": "string"},
        "size": {"type": "integer"},
        "encrypted": {"type": "boolean"},
        "dialect": {"type": "string"},
        "schema_revision": {"type": ["string", "null"]},
        "fedhub_version": {"type": "string"},
        "format": {"type": "integer"},
        "error": {"type": "string"},
    },
    ("id", "size"),
)
BACKUP_CREATE = obj(
    {
        "name": {"type": "string", "pattern": NAME_PATTERN},
        "passphrase": {"type": "string", "minLength": 8, "maxLength": 1024},
    }
)
SCHEDULE = obj(
    {
        "enabled": {"type": "boolean"},
        "at": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"},
        "keep": {"type": "integer", "minimum": 1, "maximum": 1000},
    },
    minProperties=1,
)


def federation_wide(ctx: Ctx) -> None:
    """Refuse an admin bound to a member: this belongs to the federation's owner."""
    if ctx.me.scope is not None:
        raise ApiError(403, "outside_scope", "this belongs to the federation-wide admins")


def _backups(ctx: Ctx) -> BackupsPort:
    federation_wide(ctx)
    if ctx.services.backups is None:
        raise ApiError(404, "not_found", "backups are not offered by this process")
    return ctx.services.backups


def refusal(e: OperationError) -> ApiError:
    return ApiError(e.status, e.code, e.message)


def section(ctx: Ctx, key: str) -> SectionPort:
    federation_wide(ctx)
    s = ctx.services.sections.get(key)
    if s is None:
        raise ApiError(404, "not_found", f"the {key} settings are not offered by this process")
    return s


async def patch_section(ctx: Ctx, key: str) -> dict[str, Any]:
    """Change a settings section of the operations (audited with what was sent)."""
    s = section(ctx, key)
    ctx.target = f"settings:{key}"
    ctx.details = dict(ctx.body)
    try:
        return await s.patch(ctx.body)
    except OperationError as e:
        raise refusal(e) from None


@api.route(
    "GET",
    "/backups",
    summary="This node's backups, newest first",
    tag="backups",
    roles=ADMINS,
    response=obj({"backups": {"type": "array", "items": BACKUP}}, ("backups",)),
)
async def list_backups(ctx: Ctx) -> dict[str, Any]:
    return {"backups": await _backups(ctx).entries()}


JOB = obj(
    {
        "id": {"type": "string"},
        "kind": {"type": "string", "enum": ["backup", "restore", "upgrade"]},
        "state": {"type": "string", "enum": ["running", "done", "failed"]},
        "by": {"type": "string"},
        "started_at": {"type": "string"},
        "finished_at": {"type": "string"},
        "result": {"type": "object"},
        "error": obj({"code": {"type": "string"}, "message": {"type": "string"}}),
    },
    ("id", "kind", "state", "started_at"),
)
MAX_WAIT_S = 60


def accepted(job: dict[str, Any]) -> Response:
    """202 with the job and where to ask for it."""
    location = f"{api.prefix}/jobs/{job['id']}"
    return json_response({**job, "location": location}, 202, {"Location": location})


@api.route(
    "POST",
    "/backups",
    summary="Start a backup (database, settings, certificates), optionally encrypted; "
    "202 with the job to follow at its Location. One backup or restore at a time per node",
    tag="backups",
    ok=202,
    body=BACKUP_CREATE,
    roles=ADMINS,
    action="backup.create",
    response=JOB,
    errors=(409, 422),
)
async def create_backup(ctx: Ctx) -> Response:
    backups = _backups(ctx)
    name = ctx.body.get("name")
    ctx.details = {"name": name, "encrypted": "passphrase" in ctx.body}
    try:
        job = backups.start(
            name, ctx.body.get("passphrase"), by=ctx.me.label, by_id=ctx.me.admin.id
        )
    except OperationError as e:
        raise refusal(e) from None
    except ValueError as e:
        raise ApiError(422, "invalid_input", str(e)) from None
    ctx.target = f"job:{job['id']}"
    return accepted(job)


RESTORE = obj(
    {
        "confirm": {"type": "string", "maxLength": 64, "description": "the backup's name again"},
        "passphrase": {"type": "string", "minLength": 8, "maxLength": 1024},
    },
    ("confirm",),
)


@api.route(
    "POST",
    "/backups/{backup_name}/restore",
    summary="Restore a backup: verified whole now (a corrupt, truncated, tampered or "
    "foreign archive is refused, nothing changed), applied when this node restarts — "
    "at once, automatically, after a backup of the current data. Refused while other "
    "nodes run on the database (the answer says how to restore from the shell)",
    tag="backups",
    ok=202,
    body=RESTORE,
    roles=ADMINS,
    action="backup.restore",
    response=JOB,
    errors=(404, 409, 422),
)
async def restore_backup(ctx: Ctx) -> Response:
    federation_wide(ctx)
    restores = ctx.services.restores
    if restores is None:
        raise ApiError(404, "not_found", "restores are not offered by this process")
    name = ctx.request.path_params["backup_name"]
    ctx.target = f"backup:{name[:64]}"
    ctx.details = {"encrypted": "passphrase" in ctx.body}
    if ctx.body["confirm"] != name:
        raise ApiError(
            422, "confirm_mismatch", "confirm must repeat the backup's name: a restore "
            "replaces every member, account and setting of the federation",
        )  # fmt: skip
    try:
        job = await restores.start(
            name, ctx.body.get("passphrase"), by=ctx.me.label, by_id=ctx.me.admin.id
        )
    except OperationError as e:
        raise refusal(e) from None
    ctx.details["job"] = job["id"]
    return accepted(job)


@api.route(
    "GET",
    "/jobs/{job_id}",
    summary="A backup, restore or upgrade job of this node: running, done (with its "
    "result) or failed (with the reason); ?wait=S blocks up to S seconds (≤ 60) for its end",
    tag="backups",
    roles=ADMINS,
    query=(("wait", {"type": "integer", "minimum": 0, "maximum": MAX_WAIT_S}, "seconds"),),
    response=JOB,
    errors=(404,),
)
async def get_job(ctx: Ctx) -> dict[str, Any]:
    backups = _backups(ctx)
    raw = ctx.query("wait", "0", max_len=3) or "0"
    if not raw.isdigit() or int(raw) > MAX_WAIT_S:
        raise ApiError(422, "invalid_input", f"wait must be 0 to {MAX_WAIT_S} seconds")
    job_id = ctx.request.path_params["job_id"]
    try:
        return await backups.job(job_id[:32], float(raw))
    except OperationError as e:
        raise refusal(e) from None


@api.route(
    "GET",
    "/backups/{backup_name}",
    summary="Download a backup archive (streamed)",
    tag="backups",
    roles=ADMINS,
    action="backup.download",
    errors=(404,),
    media_type="application/octet-stream",
)
async def download_backup(ctx: Ctx) -> Response:
    name = ctx.request.path_params["backup_name"]
    ctx.target = f"backup:{name[:64]}"
    try:
        path = _backups(ctx).path(name)
    except OperationError as e:
        raise refusal(e) from None
    f = path.open("rb")  # opened now: a delete after this cannot cut the download short

    async def body() -> AsyncIterator[bytes]:
        try:
            while chunk := await asyncio.to_thread(f.read, CHUNK):
                yield chunk
        finally:
            f.close()

    return StreamingResponse(
        body(),
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="{path.name}"',
            "Content-Length": str(path.stat().st_size),
        },
    )


@api.route(
    "DELETE",
    "/backups/{backup_name}",
    summary="Delete a backup",
    tag="backups",
    ok=204,
    roles=ADMINS,
    action="backup.delete",
    errors=(404,),
)
async def delete_backup(ctx: Ctx) -> None:
    name = ctx.request.path_params["backup_name"]
    ctx.target = f"backup:{name[:64]}"
    try:
        await _backups(ctx).delete(name)
    except OperationError as e:
        raise refusal(e) from None


@api.route(
    "GET",
    "/settings/backups",
    summary="The daily backup schedule (time of day, how many to keep)",
    tag="settings",
    roles=ADMINS,
    response={"type": "object", "required": ["settings"]},
)
async def get_schedule(ctx: Ctx) -> dict[str, Any]:
    return await section(ctx, "backups").get()


@api.route(
    "PATCH",
    "/settings/backups",
    summary="Change the daily backup schedule",
    tag="settings",
    body=SCHEDULE,
    roles=ADMINS,
    action="settings.backups",
    response={"type": "object", "required": ["settings"]},
    errors=(422,),
)
async def patch_schedule(ctx: Ctx) -> dict[str, Any]:
    return await patch_section(ctx, "backups")
