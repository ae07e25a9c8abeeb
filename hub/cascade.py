"""Cascaded conference state: what every member server reports, kept in order.

Role: the hub's single source of live conference truth. Member links feed it a
``Snapshot`` (the member's whole state) or an ``Event`` (one change stamped with the
member's ``(epoch, seq)``); it answers with ``Delta`` records for whoever shows the
state, or with ``NeedSnapshot`` when the stream cannot be applied safely. The caller
must then ask that member for a fresh snapshot and feed it to ``apply_snapshot`` —
the state never guesses across a gap or an epoch change.

A federation conference is the tree of member conferences joined by *cascade venues*:
a venue in a parent's conference whose ``cascade`` names the child member (by primary
domain) and the child's conference number. ``cascade_tree`` rebuilds that tree from
what the members report.

Pure: no I/O, no clocks. Per-scope views and fanout build on top of this (later).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from hub.conference import (
    CameraChanged,
    Change,
    Conference,
    ConferenceEnded,
    ConferenceStarted,
    Event,
    LayoutChanged,
    MuteChanged,
    Snapshot,
    StatsUpdated,
    Venue,
    VenueFailed,
    VenueJoined,
    VenueLeft,
    VenueRinging,
    VenueStatus,
)

# ---------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConferenceDelta:
    """A conference appeared or changed (``conference`` has no venues), or ended (None).

    An ended conference takes all its venues with it; no venue deltas follow for them.
    """

    member_id: int
    number: str
    conference: Conference | None


@dataclass(frozen=True, slots=True)
class VenueDelta:
    """A venue appeared or changed (``venue`` is its new state) or was removed (None)."""

    member_id: int
    conference: str
    venue_id: str
    venue: Venue | None


Delta = ConferenceDelta | VenueDelta


@dataclass(frozen=True, slots=True)
class NeedSnapshot:
    """The event stream of ``member_id`` cannot be applied: fetch a snapshot, then retry."""

    member_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class CascadeNode:
    """One member conference in a federation conference tree.

    ``link`` is the status of the cascade venue that joins this node to its parent
    (None at the root); ``known`` is False when the named child member or conference
    is not (yet) reported — e.g. a member whose federation data is not synced.
    """

    domain: str
    conference: str
    member_id: int | None
    link: VenueStatus | None
    known: bool
    children: tuple[CascadeNode, ...] = ()

    def walk(self) -> Iterator[CascadeNode]:
        yield self
        for child in self.children:
            yield from child.walk()


# ---------------------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class _MemberState:
    domain: str
    epoch: int | None = None
    seq: int = 0
    in_sync: bool = False
    conferences: dict[str, Conference] = field(default_factory=dict)
    venues: dict[str, dict[str, Venue]] = field(default_factory=dict)


class CascadeState:
    """Every member's reported conferences and venues, checked against ``(epoch, seq)``."""

    def __init__(self) -> None:
        self._members: dict[int, _MemberState] = {}
        self._by_domain: dict[str, int] = {}

    # -- membership ------------------------------------------------------------------

    def bind_member(self, member_id: int, domain: str) -> None:
        """Declare (or rename) a member so cascade venues naming ``domain`` resolve to it."""
        state = self._members.get(member_id)
        if state is None:
            self._members[member_id] = _MemberState(domain=domain)
        elif state.domain != domain:
            self._by_domain.pop(state.domain, None)
            state.domain = domain
        self._by_domain[domain] = member_id

    def forget_member(self, member_id: int) -> list[Delta]:
        """Drop a member entirely; returns the deltas that remove what it had reported."""
        state = self._members.pop(member_id, None)
        if state is None:
            return []
        if self._by_domain.get(state.domain) == member_id:
            del self._by_domain[state.domain]
        return [ConferenceDelta(member_id, n, None) for n in state.conferences]

    def members(self) -> list[int]:
        return list(self._members)

    def position(self, member_id: int) -> tuple[int | None, int]:
        """The ``(epoch, seq)`` applied last for a member ((None, 0) before any snapshot)."""
        state = self._members[member_id]
        return state.epoch, state.seq

    def in_sync(self, member_id: int) -> bool:
        state = self._members.get(member_id)
        return state is not None and state.in_sync

    # -- inputs ----------------------------------------------------------------------

    def apply_snapshot(self, member_id: int, snapshot: Snapshot) -> list[Delta]:
        """Replace a member's state with ``snapshot``; returns what changed as deltas."""
        state = self._state(member_id)
        deltas: list[Delta] = []
        new_numbers = {c.number for c in snapshot.conferences}
        for number in list(state.conferences):
            if number not in new_numbers:
                del state.conferences[number]
                state.venues.pop(number, None)
                deltas.append(ConferenceDelta(member_id, number, None))
        for conference in snapshot.conferences:
            bare = conference.without_venues()
            if state.conferences.get(conference.number) != bare:
                state.conferences[conference.number] = bare
                deltas.append(ConferenceDelta(member_id, conference.number, bare))
            old = state.venues.get(conference.number, {})
            new = {v.id: v for v in conference.venues}
            for venue_id in old.keys() - new.keys():
                deltas.append(VenueDelta(member_id, conference.number, venue_id, None))
            for venue_id, venue in new.items():
                if old.get(venue_id) != venue:
                    deltas.append(VenueDelta(member_id, conference.number, venue_id, venue))
            state.venues[conference.number] = new
        state.epoch, state.seq, state.in_sync = snapshot.epoch, snapshot.seq, True
        return deltas

    def apply_event(self, member_id: int, event: Event) -> list[Delta] | NeedSnapshot:
        """Apply one event in order; NeedSnapshot on a new epoch, a gap or a contradiction.

        Events at or below the applied seq (already covered by a snapshot) are ignored.
        After a NeedSnapshot every event is refused until the next snapshot.
        """
        state = self._state(member_id)
        if not state.in_sync:
            return NeedSnapshot(member_id, "waiting for a snapshot")
        if event.epoch != state.epoch:
            state.in_sync = False
            return NeedSnapshot(member_id, f"new epoch {event.epoch} (had {state.epoch})")
        if event.seq <= state.seq:
            return []
        if event.seq != state.seq + 1:
            state.in_sync = False
            return NeedSnapshot(member_id, f"seq gap: expected {state.seq + 1}, got {event.seq}")
        result = self._apply_change(member_id, state, event.change)
        if isinstance(result, str):
            state.in_sync = False
            return NeedSnapshot(member_id, f"event {event.seq} contradicts state: {result}")
        state.seq = event.seq
        return result

    def _apply_change(
        self, member_id: int, state: _MemberState, change: Change
    ) -> list[Delta] | str:
        if isinstance(change, ConferenceStarted):
            conf = change.conference
            if conf.number in state.conferences:
                return f"conference {conf.number} already running"
            bare = conf.without_venues()
            state.conferences[conf.number] = bare
            state.venues[conf.number] = {v.id: v for v in conf.venues}
            out: list[Delta] = [ConferenceDelta(member_id, conf.number, bare)]
            out.extend(VenueDelta(member_id, conf.number, v.id, v) for v in conf.venues)
            return out
        venues = state.venues.get(change.conference)
        if venues is None:
            return f"unknown conference {change.conference}"
        if isinstance(change, ConferenceEnded):
            del state.conferences[change.conference]
            del state.venues[change.conference]
            return [ConferenceDelta(member_id, change.conference, None)]
        if isinstance(change, LayoutChanged):
            old = state.conferences[change.conference]
            bare = Conference(old.number, old.name, old.kind, change.layout, old.started_at)
            state.conferences[change.conference] = bare
            return [ConferenceDelta(member_id, change.conference, bare)]
        if isinstance(change, VenueJoined | VenueRinging):
            venue = change.venue
        else:
            current = venues.get(change.venue)
            if current is None:
                return f"unknown venue {change.venue} in {change.conference}"
            venue = _changed_venue(current, change)
        venues[venue.id] = venue
        return [VenueDelta(member_id, change.conference, venue.id, venue)]

    def _state(self, member_id: int) -> _MemberState:
        state = self._members.get(member_id)
        if state is None:
            raise KeyError(f"member {member_id} is not bound; call bind_member first")
        return state

    # -- reads -----------------------------------------------------------------------

    def conferences(self, member_id: int) -> list[Conference]:
        """A member's conferences, each with its venues."""
        state = self._state(member_id)
        return [
            _with_venues(c, state.venues.get(n, {}).values()) for n, c in state.conferences.items()
        ]

    def conference(self, member_id: int, number: str) -> Conference | None:
        state = self._state(member_id)
        conf = state.conferences.get(number)
        return None if conf is None else _with_venues(conf, state.venues[number].values())

    def venue(self, member_id: int, number: str, venue_id: str) -> Venue | None:
        """One venue's state, or None if the conference or venue is unknown."""
        return self._state(member_id).venues.get(number, {}).get(venue_id)

    def venue_ids(self, member_id: int, number: str) -> list[str]:
        return list(self._state(member_id).venues.get(number, {}))

    def conference_numbers(self, member_id: int) -> list[str]:
        return list(self._state(member_id).conferences)

    def counts(self, member_id: int | None = None) -> dict[str, object]:
        """JSON-able counts for the API: conferences, venues per status, cascade links.

        Cascade links are counted apart and not as venues.
        """
        ids = self._members if member_id is None else [member_id]
        per_status = {s.value: 0 for s in VenueStatus}
        conferences = links = 0
        for mid in ids:
            state = self._state(mid)
            conferences += len(state.conferences)
            for venues in state.venues.values():
                for venue in venues.values():
                    if venue.cascade is not None:
                        links += 1
                    else:
                        per_status[venue.status.value] += 1
        return {
            "members": len(ids),
            "conferences": conferences,
            "venues": per_status,
            "venues_total": sum(per_status.values()),
            "cascade_links": links,
        }

    def cascade_tree(self, member_id: int, number: str) -> CascadeNode | None:
        """The federation conference rooted at ``member_id``'s conference ``number``."""
        state = self._members.get(member_id)
        if state is None or number not in state.conferences:
            return None
        return self._node(state.domain, number, None, set())

    def _node(
        self, domain: str, number: str, link: VenueStatus | None, seen: set[tuple[str, str]]
    ) -> CascadeNode:
        member_id = self._by_domain.get(domain)
        state = self._members.get(member_id) if member_id is not None else None
        venues = state.venues.get(number) if state is not None else None
        if venues is None or (domain, number) in seen:  # unknown, or a loop: stop here
            return CascadeNode(domain, number, member_id, link, venues is not None)
        seen.add((domain, number))
        children = tuple(
            self._node(v.cascade.member, v.cascade.conference, v.status, seen)
            for v in venues.values()
            if v.cascade is not None
        )
        return CascadeNode(domain, number, member_id, link, True, children)

    def federation_roots(self) -> list[tuple[int, str]]:
        """Conferences that cascade others in but are not themselves cascaded anywhere."""
        cascaded: set[tuple[str, str]] = set()
        parents: list[tuple[int, str]] = []
        for mid, state in self._members.items():
            for number, venues in state.venues.items():
                refs = [v.cascade for v in venues.values() if v.cascade is not None]
                if refs:
                    parents.append((mid, number))
                cascaded.update((r.member, r.conference) for r in refs)
        return [(mid, n) for mid, n in parents if (self._members[mid].domain, n) not in cascaded]


def _with_venues(conf: Conference, venues: Iterable[Venue]) -> Conference:
    return Conference(
        conf.number, conf.name, conf.kind, conf.layout, conf.started_at, tuple(venues)
    )


def _changed_venue(venue: Venue, change: Change) -> Venue:
    v = venue
    if isinstance(change, VenueLeft):
        status, reason = VenueStatus.NOT_JOINED, change.reason
        return Venue(v.id, v.name, status, v.muted, v.camera_on, v.role, v.cascade, None, reason)
    if isinstance(change, VenueFailed):
        status, reason = VenueStatus.FAILED, change.reason
        return Venue(v.id, v.name, status, v.muted, v.camera_on, v.role, v.cascade, None, reason)
    if isinstance(change, MuteChanged):
        muted, camera, stats = change.muted, v.camera_on, v.stats
    elif isinstance(change, CameraChanged):
        muted, camera, stats = v.muted, change.camera_on, v.stats
    elif isinstance(change, StatsUpdated):
        muted, camera, stats = v.muted, v.camera_on, change.stats
    else:  # pragma: no cover - the callers route every other change elsewhere
        raise TypeError(f"not a venue change: {change!r}")
    return Venue(v.id, v.name, v.status, muted, camera, v.role, v.cascade, stats, v.reason)
