"""One-click call over HTTP: start a call-all, follow it, re-call the failed members.

``POST /live/call-all`` plans the call (``hub.calls.CallAll``) and answers 202 with its
id as soon as the call is audited; only then does a task on this node start sending the
dials top down through the member links, and it streams ``call_progress`` frames to
every ``/ws/live`` subscriber of the conference. ``GET /live/calls/{id}`` reads the
progress; ``POST /live/calls/{id}/recall`` puts the failed and timed-out members back
in. Calls are kept in memory (the last ``MAX_CALLS``) on the node that runs the member
links.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from dashboards.api import api
from dashboards.api.live import ADMINS_ONLY
from dashboards.endpoint import Ctx
from dashboards.errors import ApiError
from dashboards.schemas import ID, obj
from hub.calls import CallAll, Dial, Invitee, not_joined
from hub.conference import Conference
from hub.federation import Federation
from hub.numbering import NumberPlan, RangeType

if TYPE_CHECKING:
    from controllers.manager import LinkManager
    from dashboards.livehub import LiveHub, LiveView

log = logging.getLogger("fedhub.calls")

MAX_CALLS = 100
DIAL_DEADLINE = 15.0

CALL_ALL = obj(
    {
        "member_id": ID,
        "conference": {"type": "string", "minLength": 1, "maxLength": 64},
        "members": {"type": "array", "items": ID, "minItems": 1, "maxItems": 5000},
    },
    ("member_id", "conference"),
)
CALL_ID = {"type": "object", "properties": {"call_id": {"type": "string"}}, "required": ["call_id"]}
PROGRESS = {
    "type": "object",
    "properties": {
        "call_id": {"type": "string"},
        "state": {"type": "string", "enum": ["running", "done"]},
        "members": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["call_id", "state", "members"],
}


class CallRegistry:
    """The calls of this node, newest last; each with its driver task."""

    def __init__(self, deadline: float = DIAL_DEADLINE) -> None:
        self.calls: OrderedDict[str, CallAll] = OrderedDict()
        self.deadline = deadline
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._wakes: dict[str, asyncio.Event] = {}

    def start(self, call: CallAll, hub: LiveHub, manager: LinkManager) -> None:
        """Keep ``call`` to be followed (dropping the oldest past ``MAX_CALLS``) and run it."""
        self.calls[call.call_id] = call
        while len(self.calls) > MAX_CALLS:
            old, _ = self.calls.popitem(last=False)
            self._wakes.pop(old, None)
            task = self._tasks.pop(old, None)
            if task is not None:
                task.cancel()
        self.run(call, hub, manager)

    def run(self, call: CallAll, hub: LiveHub, manager: LinkManager) -> None:
        task = self._tasks.get(call.call_id)
        if task is not None and not task.done():
            self._wakes[call.call_id].set()
            return
        self._wakes[call.call_id] = asyncio.Event()
        self._tasks[call.call_id] = asyncio.get_running_loop().create_task(
            self._drive(call, hub, manager), name=f"call-{call.call_id}"
        )

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            try:
                await task
            except BaseException:  # noqa: S110 - cancelled or already logged
                pass
        self._tasks.clear()

    async def _drive(self, call: CallAll, hub: LiveHub, manager: LinkManager) -> None:
        """Send the due dials, settle their results, stream progress once per tick.

        Each wake costs what changed since the last one: the dials that became due (one
        ``call`` command each), and a ``call_progress`` frame of the members that moved,
        coalesced over the fan-out tick however many results arrived in it.
        """
        wake = self._wakes[call.call_id]
        dials: set[asyncio.Task[None]] = set()
        loop = asyncio.get_running_loop()
        tick = hub.settings.fanout.tick
        links: dict[tuple[int, str], dict[str, str]] = {}  # cascade venues, per wake

        def cascade_venue(member: int, conf: str, child_meeting: str) -> str:
            index = links.get((member, conf))
            if index is None:
                index = links[(member, conf)] = {}
                c = _conference(hub.reader, member, conf)
                for v in c.venues if c is not None else ():
                    if v.cascade is not None:
                        index.setdefault(v.cascade.conference, v.id)
            return index.get(child_meeting, "")

        async def dial(d: Dial) -> None:
            args = {"number": d.number} if d.number else None
            cid = f"call-{call.call_id}-{d.member_id}-{call.members[d.member_id].attempts}"
            try:
                result = await manager.send_command(
                    d.from_member,
                    "call",
                    (d.from_conference, d.venue),
                    args,
                    self.deadline,
                    cid[:64],
                )
                status, reason = result.status, result.reason
            except Exception as e:  # the link went away under the command: its one result
                log.warning("call %s: dial of member %s lost: %r", call.call_id, d.member_id, e)
                status, reason = "failed", "the link to the inviting member went down"
            call.settled(d.member_id, status, reason, time.monotonic())
            hub.record(
                d.member_id,
                call.conference,
                "call",
                call.call_id,
                {"status": status, "reason": reason, "from": d.from_member},
            )
            if status == "ok":
                hub.spawn(contacts(d.member_id))

        async def contacts(member: int) -> None:
            """Re-invite a meeting's own contacts that are not in (its auto-call list):
            one ``call`` naming no venue and no number has the member ring them all; a
            member server that refuses that form gets one ``call`` per contact."""
            meeting = call.members[member].invitee.meeting
            venues = not_joined(_conference(hub.reader, member, meeting))
            if not venues:
                return
            try:
                again = await manager.send_command(
                    member, "call", (meeting, ""), None, self.deadline
                )
                if again.status == "ok":
                    return
                await asyncio.gather(
                    *(
                        manager.send_command(member, "call", (meeting, v), None, self.deadline)
                        for v in venues
                    ),
                    return_exceptions=True,
                )
            except Exception as e:  # the venues show what happened; the call goes on
                log.warning("call %s: contacts of member %s: %r", call.call_id, member, e)

        if all(s.attempts == 0 for s in call.members.values()):
            hub.spawn(contacts(call.member_id))  # the root's meeting is in from the start

        def dialled(task: asyncio.Task[None]) -> None:
            dials.discard(task)
            wake.set()  # after the discard: the loop then sees whether any dial is left

        shown = float("-inf")
        try:
            while True:
                for d in call.due(cascade_venue, time.monotonic()):
                    task = loop.create_task(dial(d))
                    dials.add(task)
                    task.add_done_callback(dialled)
                links.clear()
                now = time.monotonic()
                over = call.state == "done" and not dials
                if call.changed and (over or now - shown >= tick):
                    self._progress(call, hub)
                    shown = now
                if over:
                    if call.finished is not None:
                        hub.metrics.call_all_seconds.observe(call.finished - call.started)
                    return
                # progress waiting to be shown: wake at the end of this tick at the latest
                left = shown + tick - now if call.changed else None
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(left):
                        await wake.wait()
                wake.clear()
        except asyncio.CancelledError:
            for task in dials:
                task.cancel()
            raise

    def _progress(self, call: CallAll, hub: LiveHub) -> None:
        """One ``call_progress`` frame of the members that changed, to each subscriber."""
        changed = call.take_changed()
        if not changed:
            return
        confs = {m: _conference(hub.reader, m, call.members[m].invitee.meeting) for m in changed}
        body = call.as_dict(confs, changed)
        for cid, sid in hub.fanout.subscribers_of(call.member_id, call.conference):
            hub.reply(cid, {"type": "call_progress", "id": sid, **body})


def _conference(reader: LiveView, member: int, number: str) -> Conference | None:
    if not number:
        return None
    try:
        return reader.conference(member, number)
    except KeyError:  # a member the live state does not hold
        return None


def invitees(
    fed: Federation,
    plan: NumberPlan,
    reader: LiveView,
    root: tuple[int, str],
    chosen: set[int] | None,
) -> list[Invitee]:
    """Who to call, parents first, each with its meeting and its inviter."""
    root_id, number = root
    in_tree: dict[int, str] = {}
    tree = reader.cascade_tree(root_id, number)
    if tree is not None:
        for node in tree.walk():
            if node.member_id is not None:
                in_tree.setdefault(node.member_id, node.conference)
    out: list[Invitee] = []
    picked: set[int] = {root_id}
    for m in fed.subtree(root_id):
        if m.id == root_id:
            out.append(Invitee(m.id, m.domain, number, None))
            continue
        if chosen is not None and m.id not in chosen:
            continue
        inviter = next(a.id for a in fed.ancestors(m.id) if a.id in picked)
        meeting = in_tree.get(m.id) or _first_vmr(plan, m.id)
        out.append(Invitee(m.id, m.domain, meeting, inviter))
        picked.add(m.id)
    return out


def _first_vmr(plan: NumberPlan, member_id: int) -> str:
    vmrs = sorted(
        (r for r in plan.ranges_of(member_id) if r.type is RangeType.VMR),
        key=lambda r: (len(r.start), r.start),
    )
    return vmrs[0].start if vmrs else ""


def _hub(ctx: Ctx) -> tuple[LiveHub, LinkManager]:
    hub, links = ctx.services.livehub, ctx.services.links
    if hub is None or links is None:
        raise ApiError(404, "links_disabled", "this node does not run member links")
    if not links.owner:
        raise ApiError(503, "links_elsewhere", "member links run on another node; retry there")
    return hub, links.manager


@api.route(
    "POST",
    "/live/call-all",
    summary="One-click call: bring every member's meeting (or those chosen) into a conference",
    tag="live",
    ok=202,
    body=CALL_ALL,
    response=CALL_ID,
    roles=ADMINS_ONLY,
    action="live.call_all",
    errors=(403, 404, 503),
)
async def call_all(ctx: Ctx) -> dict[str, Any]:
    b = ctx.body
    mid, number = b["member_id"], b["conference"]
    ctx.target = f"member:{mid}/conference:{number}"
    view = await ctx.services.federation.current()
    fed = view.federation
    fed.require_within(ctx.me.scope, mid)
    chosen = None
    if "members" in b:
        chosen = set(b["members"])
        for m in chosen:
            fed.require_within(ctx.me.scope, m)
            if m == mid or not fed.is_within(mid, m):
                raise ApiError(422, "invalid_input", f"member {m} is not below member {mid}")
    hub, manager = _hub(ctx)
    if _conference(hub.reader, mid, number) is None:
        raise ApiError(404, "not_found", f"member {mid} runs no conference {number!r} now")
    people = invitees(fed, view.plan, hub.reader, (mid, number), chosen)
    call = CallAll.plan(secrets.token_hex(8), (mid, number), people, time.monotonic())
    ctx.details = {"call_id": call.call_id, "members": len(people) - 1}
    ctx.then.append(lambda: hub.calls.start(call, hub, manager))  # once it is audited
    return {"call_id": call.call_id}


def _call(ctx: Ctx, hub: LiveHub) -> CallAll:
    call = hub.calls.calls.get(ctx.request.path_params["call_id"])
    if call is None:
        raise ApiError(404, "not_found", "no such call on this node")
    return call


async def _visible(ctx: Ctx, call: CallAll) -> None:
    view = await ctx.services.federation.current()
    if not view.federation.is_within(ctx.me.scope, call.member_id):
        raise ApiError(404, "not_found", "no such call on this node")  # says nothing more


@api.route(
    "GET",
    "/live/calls/{call_id}",
    summary="Progress of a one-click call, member by member",
    tag="live",
    response=PROGRESS,
    roles=ADMINS_ONLY,
    errors=(404, 503),
)
async def call_progress(ctx: Ctx) -> dict[str, Any]:
    hub, _ = _hub(ctx)
    call = _call(ctx, hub)
    await _visible(ctx, call)
    confs = {m: _conference(hub.reader, m, s.invitee.meeting) for m, s in call.members.items()}
    return call.as_dict(confs)


@api.route(
    "POST",
    "/live/calls/{call_id}/recall",
    summary="Call the members of a one-click call that failed or timed out, again",
    tag="live",
    ok=202,
    response=CALL_ID,
    roles=ADMINS_ONLY,
    action="live.call_all.recall",
    errors=(404, 503),
)
async def recall(ctx: Ctx) -> dict[str, Any]:
    hub, manager = _hub(ctx)
    call = _call(ctx, hub)
    await _visible(ctx, call)
    ctx.target = f"member:{call.member_id}/conference:{call.conference}"
    ctx.details = {"call_id": call.call_id, "members": len(call.recallable())}

    def again() -> None:  # once it is audited: nothing is dialled before
        call.recall(time.monotonic())
        hub.calls.run(call, hub, manager)

    ctx.then.append(again)
    return {"call_id": call.call_id}
