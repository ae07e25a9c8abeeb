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
what the members report, iteratively and at most ``MAX_DEPTH`` levels deep (the
federation's own limit), so no report can drive a recursion.

Pure: no I/O, no clocks. ``hub.live.LiveState`` wraps this with the trust rules, the
per-member limits and the subscriptions the hub's readers use.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from hub.conference import (
    CameraChanged,
    CascadeRef,
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
from hub.federation import MAX_LEVEL

MAX_DEPTH = MAX_LEVEL
"""Levels of a federation conference tree (province down to village)."""

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
    ``cut`` is True when the node cascades more in but the tree stops here (a loop, or
    the depth limit).
    """

    domain: str
    conference: str
    member_id: int | None
    link: VenueStatus | None
    known: bool
    children: tuple[CascadeNode, ...] = ()
    cut: bool = False

    def walk(self) -> Iterator[CascadeNode]:
        """Every node, parents before children (depth first, in order)."""
        stack: list[CascadeNode] = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    def as_dict(self) -> dict[str, object]:
        """JSON-able form (built iteratively: no recursion however deep)."""
        out: dict[int, dict[str, object]] = {}
        order = list(self.walk())
        for node in reversed(order):  # children before parents
            out[id(node)] = {
                "domain": node.domain,
                "conference": node.conference,
                "member_id": node.member_id,
                "link": None if node.link is None else node.link.value,
                "known": node.known,
                "cut": node.cut,
                "children": [out.pop(id(c)) for c in node.children],
            }
        return out[id(self)]


@dataclass(frozen=True, slots=True)
class Counts:
    """How much live state some members hold: conferences, venues per status, links.

    Cascade venues are counted as ``cascade_links``, not as venues.
    """

    members: int = 0
    conferences: int = 0
    venues: Mapping[str, int] = field(
        default_factory=lambda: MappingProxyType({s.value: 0 for s in VenueStatus})
    )
    cascade_links: int = 0

    @property
    def venues_total(self) -> int:
        return sum(self.venues.values())

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.members + other.members,
            self.conferences + other.conferences,
            MappingProxyType({k: n + other.venues.get(k, 0) for k, n in self.venues.items()}),
            self.cascade_links + other.cascade_links,
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "members": self.members,
            "conferences": self.conferences,
            "venues": dict(self.venues),
            "venues_total": self.venues_total,
            "cascade_links": self.cascade_links,
        }


Follow = Callable[[int, CascadeRef], bool]
"""Whether the cascade venue ``ref`` reported by member ``id`` is a link down the tree."""


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
    venue_total: int = 0
    counted: Counts | None = None  # cache of counts(); None when something changed
    built: dict[str, Conference] = field(default_factory=dict)  # conference() records


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

    def knows(self, member_id: int) -> bool:
        """Whether the state holds ``member_id`` (O(1); ``members()`` copies them all)."""
        return member_id in self._members

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
        state.venue_total = sum(len(v) for v in state.venues.values())
        state.counted = None
        state.built.clear()
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
        state.counted = None
        state.built.clear()
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
            state.venue_total += len(conf.venues)
            out: list[Delta] = [ConferenceDelta(member_id, conf.number, bare)]
            out.extend(VenueDelta(member_id, conf.number, v.id, v) for v in conf.venues)
            return out
        venues = state.venues.get(change.conference)
        if venues is None:
            return f"unknown conference {change.conference}"
        if isinstance(change, ConferenceEnded):
            del state.conferences[change.conference]
            state.venue_total -= len(state.venues.pop(change.conference))
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
        if venue.id not in venues:
            state.venue_total += 1
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
        """One conference with its venues; the record is built once per change of the
        member (the control lists, the calls and the API read the same ones often)."""
        state = self._state(member_id)
        built = state.built.get(number)
        if built is not None:
            return built
        conf = state.conferences.get(number)
        if conf is None:
            return None
        built = state.built[number] = _with_venues(conf, state.venues[number].values())
        return built

    def venue(self, member_id: int, number: str, venue_id: str) -> Venue | None:
        """One venue's state, or None if the conference or venue is unknown."""
        return self._state(member_id).venues.get(number, {}).get(venue_id)

    def venues(self, member_id: int, number: str) -> list[Venue]:
        """The venues of one conference (empty when it is unknown)."""
        return list(self._state(member_id).venues.get(number, {}).values())

    def venue_ids(self, member_id: int, number: str) -> list[str]:
        return list(self._state(member_id).venues.get(number, {}))

    def conference_numbers(self, member_id: int) -> list[str]:
        return list(self._state(member_id).conferences)

    def conference_count(self, member_id: int) -> int:
        return len(self._state(member_id).conferences)

    def venue_count(self, member_id: int, number: str | None = None) -> int:
        """Venues of one conference, or of all the member's conferences (O(1))."""
        state = self._state(member_id)
        if number is None:
            return state.venue_total
        return len(state.venues.get(number, ()))

    def domain(self, member_id: int) -> str:
        return self._state(member_id).domain

    def tally(self, member_id: int) -> Counts:
        """One member's counts (cached until its state changes)."""
        state = self._state(member_id)
        if state.counted is None:
            per_status = {s.value: 0 for s in VenueStatus}
            links = 0
            for venues in state.venues.values():
                for venue in venues.values():
                    if venue.cascade is not None:
                        links += 1
                    else:
                        per_status[venue.status.value] += 1
            state.counted = Counts(1, len(state.conferences), MappingProxyType(per_status), links)
        return state.counted

    def counts(self, member_id: int | None = None) -> dict[str, object]:
        """JSON-able counts of one member or all (see ``Counts``)."""
        ids = self._members if member_id is None else [member_id]
        total = Counts()
        for mid in ids:
            total += self.tally(mid)
        return total.as_dict()

    def cascade_tree(
        self,
        member_id: int,
        number: str,
        *,
        follow: Follow | None = None,
        max_depth: int = MAX_DEPTH,
    ) -> CascadeNode | None:
        """The federation conference rooted at ``member_id``'s conference ``number``.

        Built iteratively; a node seen before (a loop) or at ``max_depth`` levels stops
        the tree there (``cut``). ``follow`` picks which cascade venues lead down
        (default: all).
        """
        root = self._members.get(member_id)
        if root is None or number not in root.conferences:
            return None
        # Depth first with an explicit stack; children get higher indexes than their
        # parent, so the frozen nodes can be built from the last index back.
        rows: list[tuple[str, str, int | None, VenueStatus | None, bool, bool]] = []
        kids: list[list[int]] = []
        seen: set[tuple[str, str]] = set()
        stack: list[tuple[str, str, VenueStatus | None, int, int]] = [
            (root.domain, number, None, 1, -1)
        ]
        while stack:
            domain, num, link, depth, parent = stack.pop()
            mid = self._by_domain.get(domain)
            state = self._members.get(mid) if mid is not None else None
            venues = state.venues.get(num) if state is not None else None
            index = len(rows)
            kids.append([])
            if parent >= 0:
                kids[parent].append(index)
            down = (
                []
                if venues is None or mid is None
                else [
                    v
                    for v in venues.values()
                    if v.cascade is not None and (follow is None or follow(mid, v.cascade))
                ]
            )
            cut = bool(down) and ((domain, num) in seen or depth >= max_depth)
            rows.append((domain, num, mid, link, venues is not None, cut))
            if cut or not down:
                continue
            seen.add((domain, num))
            for v in reversed(down):
                assert v.cascade is not None
                stack.append((v.cascade.member, v.cascade.conference, v.status, depth + 1, index))
        nodes: dict[int, CascadeNode] = {}
        for i in range(len(rows) - 1, -1, -1):
            d, n, m, link, known, cut = rows[i]
            children = tuple(nodes.pop(k) for k in kids[i])
            nodes[i] = CascadeNode(d, n, m, link, known, children, cut)
        return nodes[0]

    def federation_roots(
        self, *, follow: Follow | None = None, within: Collection[int] | None = None
    ) -> list[tuple[int, str]]:
        """Conferences that cascade others in but are not themselves cascaded anywhere.

        With ``within``, only those members' conferences count, on both sides: the
        roots are the highest federation conferences inside that set (a scope).
        """
        cascaded: set[tuple[str, str]] = set()
        parents: list[tuple[int, str]] = []
        for mid, state in self._members.items():
            if within is not None and mid not in within:
                continue
            for number, venues in state.venues.items():
                refs = [
                    v.cascade
                    for v in venues.values()
                    if v.cascade is not None and (follow is None or follow(mid, v.cascade))
                ]
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
