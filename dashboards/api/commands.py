"""Conference control: send a command to a member's conference and get its one result.

The command goes down the member's link; the member answers exactly once (``ok``,
``failed`` with its reason, or ``timeout`` past the deadline). Sending the same ``id``
again returns the first command's result instead of acting twice. Every command is in
the audit log with its outcome. (The live websocket will carry the same commands.)
"""

from __future__ import annotations

from typing import Any

from controllers.commands import command_schema
from dashboards.api import api
from dashboards.api.live import ADMINS_ONLY, links_of
from dashboards.endpoint import Ctx
from dashboards.errors import ApiError

COMMAND = command_schema()  # kinds, their arguments and limits: controllers/commands.py
RESULT = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "status": {"type": "string", "enum": ["ok", "failed", "timeout"]},
        "reason": {"type": "string"},
    },
    "required": ["id", "status", "reason"],
}


@api.route(
    "POST",
    "/live/members/{member_id}/commands",
    summary="Send a conference-control command (mute, camera, layout, hang up, call)",
    tag="live",
    body=COMMAND,
    response=RESULT,
    roles=ADMINS_ONLY,
    action="command",
    errors=(403, 404, 503),
)
async def send_command(ctx: Ctx) -> dict[str, Any]:
    mid = ctx.int_param("member_id")
    b = ctx.body
    ctx.target = f"member:{mid}/conference:{b['conference']}" + (
        f"/venue:{b['venue']}" if b.get("venue") else ""
    )
    ctx.details = {"kind": b["kind"], "args": b.get("args", {}), "id": b.get("id")}
    view = await ctx.services.federation.current()
    view.federation.require_within(ctx.me.scope, mid)
    links = links_of(ctx)
    if not links.owner:
        raise ApiError(503, "links_elsewhere", "member links run on another node; retry there")
    if links.manager.link(mid) is None:
        raise ApiError(404, "not_linked", f"member {mid} has no link (is its server bound?)")
    result = await links.manager.send_command(
        mid,
        b["kind"],
        (b["conference"], b.get("venue", "")),
        b.get("args"),
        float(b.get("deadline_s", 5.0)),
        b.get("id"),
    )
    ctx.details.update(status=result.status, reason=result.reason)
    return {"id": result.id, "status": result.status, "reason": result.reason}
