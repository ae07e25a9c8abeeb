"""One-click call (一键呼叫): bring every member's federation meeting into a conference.

Role: the pure progress of one call-all. From the root conference (member M's
conference N), each selected member's meeting is invited by its nearest selected
ancestor's meeting (the root for the first level), top down: a member is dialled once
its inviter is in. The member servers' auto-call policy then rings each meeting's own
contacts; the hub re-invites contacts that are not joined. The adapter
(dashboards/api/calls.py) asks ``due()`` for the dials to send, reports each dial's
one result with ``settled``, and reads ``as_dict`` for the API and progress frames.

Member states (transitions; anything else is refused):

    waiting ──due()──▶ calling ──ok──▶ acknowledged
                          ├──failed(reason)──▶ failed
                          └──timeout──────────▶ timeout
    waiting ──inviter failed or timed out──▶ failed ("not reached: …")
    failed | timeout ──recall()──▶ waiting

The call is ``done`` when no member is waiting or calling.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from hub.conference import Conference, VenueStatus

MemberCallStatus = Literal["waiting", "calling", "acknowledged", "failed", "timeout"]
FINAL: frozenset[str] = frozenset({"acknowledged", "failed", "timeout"})
CascadeVenue = Callable[[int, str, str], str]


@dataclass(frozen=True, slots=True)
class Invitee:
    """A member to bring in: its meeting and who invites it (None: it is the root)."""

    member_id: int
    domain: str
    meeting: str
    inviter: int | None


@dataclass(frozen=True, slots=True)
class Dial:
    """Send a ``call`` command: ``from_member``'s conference ``from_conference`` calls
    ``venue`` (a known cascade venue) or, if empty, the meeting ``number``."""

    member_id: int
    from_member: int
    from_conference: str
    venue: str
    number: str


@dataclass(slots=True)
class _State:
    invitee: Invitee
    status: MemberCallStatus = "waiting"
    reason: str = ""
    attempts: int = 0


class CallError(ValueError):
    """A report that does not fit the call's state (a bug in the caller)."""


@dataclass(slots=True)
class CallAll:
    """The progress of one call-all; see the module docstring.

    Every step costs in proportion to the members it touches, never to the whole call:
    the members ready to dial are queued when their inviter is acknowledged (``_ready``),
    a failure walks only the waiting members below it (``_children``), and ``state``
    reads counts kept per status. A call over thousands of members thus stays linear.
    """

    call_id: str
    member_id: int
    conference: str
    started: float
    members: dict[int, _State] = field(default_factory=dict)
    changed: set[int] = field(default_factory=set)
    finished: float | None = None
    _children: dict[int, list[int]] = field(default_factory=dict)
    _ready: list[int] = field(default_factory=list)
    _counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("waiting", "calling", *FINAL), 0)
    )

    @classmethod
    def plan(
        cls,
        call_id: str,
        root: tuple[int, str],
        invitees: Iterable[Invitee],
        now: float,
    ) -> CallAll:
        """A call whose ``invitees`` come parents first; the root is acknowledged at once."""
        call = cls(call_id, root[0], root[1], now)
        for inv in invitees:
            if inv.inviter is not None and inv.inviter not in call.members:
                raise CallError(f"member {inv.member_id} comes before its inviter")
            st = _State(inv)
            call.members[inv.member_id] = st
            call._counts["waiting"] += 1
            call.changed.add(inv.member_id)
            if inv.inviter is None:
                call._set(inv.member_id, "acknowledged", "")
                continue
            call._children.setdefault(inv.inviter, []).append(inv.member_id)
            inviter = call.members[inv.inviter]
            if not inv.meeting:
                call._set(inv.member_id, "failed", "no federation meeting to call (no VMR range)")
            elif inviter.status in ("failed", "timeout"):
                call._set(inv.member_id, "failed", _not_reached(inviter))
            elif inviter.status == "acknowledged":
                call._ready.append(inv.member_id)
        return call

    @property
    def state(self) -> Literal["running", "done"]:
        busy = self._counts["waiting"] + self._counts["calling"]
        return "running" if busy else "done"

    def count(self, status: MemberCallStatus) -> int:
        """How many members are in ``status`` now."""
        return self._counts[status]

    def due(self, cascade_venue: CascadeVenue, now: float) -> list[Dial]:
        """Dials to send now: waiting members whose inviter is in (they become calling).

        ``cascade_venue(member, conference, child_meeting)`` names the cascade venue
        already linking that child there ("" if none), so a known link is re-invited by
        venue id.
        """
        ready, self._ready = self._ready, []
        out: list[Dial] = []
        for mid in ready:
            st = self.members[mid]
            if st.status != "waiting":
                continue
            inviter_id = st.invitee.inviter
            assert inviter_id is not None
            conf = self.members[inviter_id].invitee.meeting
            venue = cascade_venue(inviter_id, conf, st.invitee.meeting)
            st.attempts += 1
            self._set(mid, "calling", "")
            out.append(Dial(mid, inviter_id, conf, venue, "" if venue else st.invitee.meeting))
        self._finish_check(now)
        return out

    def settled(self, member_id: int, status: str, reason: str, now: float) -> None:
        """The one result of a member's dial: ``ok``, ``failed`` or ``timeout``.

        An acknowledged member's own invitees become due; a member that failed or timed
        out takes the members waiting below it down with it ("not reached: …").
        """
        st = self.members.get(member_id)
        if st is None or st.status != "calling":
            raise CallError(f"member {member_id} is not being called")
        if status == "ok":
            self._set(member_id, "acknowledged", "")
            self._ready.extend(
                c for c in self._children.get(member_id, ()) if self.members[c].status == "waiting"
            )
        else:
            if status == "timeout":
                self._set(member_id, "timeout", reason or "no answer in time")
            else:
                self._set(member_id, "failed", reason or "failed")
            self._fail_below(member_id)
        self._finish_check(now)

    def recallable(self) -> list[int]:
        """The members a ``recall`` would put back: every failed or timed-out one."""
        return [m for m, s in self.members.items() if s.status in ("failed", "timeout")]

    def recall(self, now: float) -> list[int]:
        """Put every failed or timed-out member back to waiting; returns them."""
        again = self.recallable()
        for mid in again:
            self._set(mid, "waiting", "")
        for mid in again:
            inviter = self.members[mid].invitee.inviter
            if inviter is not None and self.members[inviter].status == "acknowledged":
                self._ready.append(mid)
        if again:
            self.finished = None
        return again

    def _fail_below(self, member_id: int) -> None:
        """Members waiting below a member that is not in are not reached (iteratively)."""
        stack = [member_id]
        while stack:
            parent = self.members[stack.pop()]
            for child in self._children.get(parent.invitee.member_id, ()):
                if self.members[child].status == "waiting":
                    self._set(child, "failed", _not_reached(parent))
                    stack.append(child)

    def _set(self, mid: int, status: MemberCallStatus, reason: str) -> None:
        st = self.members[mid]
        self._counts[st.status] -= 1
        self._counts[status] += 1
        st.status, st.reason = status, reason
        self.changed.add(mid)

    def _finish_check(self, now: float | None = None) -> None:
        if self.finished is None and self.state == "done" and now is not None:
            self.finished = now

    def take_changed(self) -> list[int]:
        out = sorted(self.changed)
        self.changed.clear()
        return out

    # -- reading ---------------------------------------------------------------------------

    def member_json(self, mid: int, conference: Conference | None) -> dict[str, object]:
        st = self.members[mid]
        return {
            "member_id": mid,
            "domain": st.invitee.domain,
            "meeting": st.invitee.meeting,
            "status": "calling" if st.status == "waiting" else st.status,
            "reason": st.reason,
            "attempts": st.attempts,
            "venues": venue_counts(conference),
        }

    def as_dict(
        self, conference_of: Mapping[int, Conference | None], members: Iterable[int] | None = None
    ) -> dict[str, object]:
        ids = list(self.members) if members is None else list(members)
        return {
            "call_id": self.call_id,
            "member_id": self.member_id,
            "conference": self.conference,
            "state": self.state,
            "members": [self.member_json(m, conference_of.get(m)) for m in ids],
        }


def _not_reached(inviter: _State) -> str:
    return f"not reached: {inviter.invitee.domain} is not in"


def venue_counts(conference: Conference | None) -> dict[str, int]:
    """Joined / ringing / failed contacts of a meeting (cascade links not counted)."""
    out = {"joined": 0, "ringing": 0, "failed": 0, "not_joined": 0}
    if conference is not None:
        for v in conference.venues:
            if v.cascade is None:
                out[v.status.value] += 1
    return out


def not_joined(conference: Conference | None) -> list[str]:
    """Contacts of a meeting to re-invite: neither joined nor ringing."""
    if conference is None:
        return []
    return [
        v.id
        for v in conference.venues
        if v.cascade is None and v.status in (VenueStatus.NOT_JOINED, VenueStatus.FAILED)
    ]
