"""Conference control: send a command to a member's conference and get its one result.

The command goes down the member's link; the member answers exactly once (``ok``,
``failed`` with its reason, or ``timeout`` past the deadline). Sending the same ``id``
again returns the first command's result instead of acting twice. Every command is in
the audit log with its outcome. (The live websocket will carry the same commands.)
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from controllers.commands import command_schema
from dashboards.api import api
from dashboards.api.live import ADMINS_ONLY
from dashboards.endpoint import Ctx
from dashboards.errors import ApiError
from dashboards.services import Services
from hub.federation import Federation, FederationError
from hub.numbering import NumberPlan, is_number

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
    ctx.target, ctx.details = audit_fields(mid, ctx.body)
    return await perform(ctx.services, ctx.me.scope, mid, ctx.body, ctx.details)


def audit_fields(mid: int, b: dict[str, Any]) -> tuple[str, dict[str, object]]:
    """The audit target and details of a command (REST and /ws/live write the same)."""
    target = f"member:{mid}/conference:{b['conference']}" + (
        f"/venue:{b['venue']}" if b.get("venue") else ""
    )
    return target, {"kind": b["kind"], "args": b.get("args", {}), "id": b.get("id")}


def _check_numbers_in_scope(
    federation: Federation, plan: NumberPlan, scope: int | None, args: Mapping[str, Any]
) -> None:
    """A number named in a command's arguments (``call`` args.number) whose holder in the
    number plan lies outside the caller's subtree is refused: otherwise a city could
    cascade the province's or another city's meeting into its own and watch it. The
    answer names neither the holder nor its meeting (errors do not cross scopes)."""
    number = args.get("number")
    if not isinstance(number, str) or not is_number(number):
        return
    holder = plan.resolve(number)
    if holder is not None and not federation.is_within(scope, holder):
        raise FederationError(
            "outside_scope", f"number {number} is not in your scope; you can only call your own"
        )


async def perform(
    services: Services, scope: int | None, mid: int, b: dict[str, Any], details: dict[str, object]
) -> dict[str, Any]:
    """Check the scope, route the command to the member's link, wait for its one result.

    ``b`` is a body valid against ``COMMAND``. Raises ``FederationError`` (scope) or
    ``ApiError`` (no link here); the outcome is added to ``details`` for the audit.
    """
    view = await services.federation.current()
    view.federation.require_within(scope, mid)
    _check_numbers_in_scope(view.federation, view.plan, scope, b.get("args") or {})
    links = services.links
    if links is None:
        raise ApiError(404, "links_disabled", "this node does not run member links")
    live = services.livehub
    started = time.monotonic()
    target = (b["conference"], b.get("venue", ""))
    deadline = float(b.get("deadline_s", 5.0))
    if not links.owner:  # the node that owns the links carries it, through the broker
        if live is None or not live.routes_commands:
            raise ApiError(503, "links_elsewhere", "member links run on another node; retry there")
        result: Any = await live.route(mid, b["kind"], target, b.get("args"), deadline, b.get("id"))
    elif links.manager.link(mid) is None:
        raise ApiError(404, "not_linked", f"member {mid} has no link (is its server bound?)")
    else:
        result = await links.manager.send_command(
            mid, b["kind"], target, b.get("args"), deadline, b.get("id")
        )
    details.update(status=result.status, reason=result.reason)
    if live is not None:  # the live journal and /metrics see every command
        live.metrics.command_seconds.observe(time.monotonic() - started)
        live.record(mid, b["conference"], "command", b.get("venue", ""), dict(details))
    return {"id": result.id, "status": result.status, "reason": result.reason}
