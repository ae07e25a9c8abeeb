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
from enum import StrEnum
from typing import ClassVar

# ---------------------------------------------------------------------------------------
# Domain records (also the payload vocabulary of the federation link)
# ---------------------------------------------------------------------------------------

MAX_ID = 64
MAX_NAME = 128


class InvalidRecord(ValueError):
    """A record was built with values that break its invariants."""


class VenueStatus(StrEnum):
    JOINED = "joined"
    NOT_JOINED = "not_joined"
    RINGING = "ringing"
    FAILED = "failed"


class ConferenceKind(StrEnum):
    VMR = "vmr"
    SCHEDULED = "scheduled"
    INSTANT = "instant"
    BROADCAST = "broadcast_interactive"


class VenueRole(StrEnum):
    INTERACTIVE = "interactive"
    AUDIENCE = "audience"


def _check_text(what: str, value: str, limit: int, *, empty_ok: bool = False) -> None:
    if not isinstance(value, str):
        raise InvalidRecord(f"{what} must be a string")
    if (not value and not empty_ok) or len(value) > limit:
        raise InvalidRecord(f"{what} must be 1..{limit} characters")


def _check_range(what: str, value: float, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRecord(f"{what} must be a number")
    if not low <= value <= high:
        raise InvalidRecord(f"{what}={value} outside {low}..{high}")


@dataclass(frozen=True, slots=True)
class CallStats:
    """Call statistics of one venue as its member server measures them."""

    tx_kbps: int
    rx_kbps: int
    loss_pct: float
    jitter_ms: float
    rtt_ms: float
    width: int
    height: int
    fps: float

    def __post_init__(self) -> None:
        _check_range("tx_kbps", self.tx_kbps, 0, 100_000)
        _check_range("rx_kbps", self.rx_kbps, 0, 100_000)
        _check_range("loss_pct", self.loss_pct, 0, 100)
        _check_range("jitter_ms", self.jitter_ms, 0, 60_000)
        _check_range("rtt_ms", self.rtt_ms, 0, 60_000)
        _check_range("width", self.width, 0, 8192)
        _check_range("height", self.height, 0, 8192)
        _check_range("fps", self.fps, 0, 240)


@dataclass(frozen=True, slots=True)
class CascadeRef:
    """Names the child side of a cascade link: member primary domain + conference number."""

    member: str
    conference: str

    def __post_init__(self) -> None:
        _check_text("cascade member", self.member, 253)
        _check_text("cascade conference", self.conference, MAX_ID)


@dataclass(frozen=True, slots=True)
class Venue:
    """One venue (endpoint, or a cascade link to a child conference) of a conference."""

    id: str
    name: str
    status: VenueStatus
    muted: bool = False
    camera_on: bool = True
    role: VenueRole = VenueRole.INTERACTIVE
    cascade: CascadeRef | None = None
    stats: CallStats | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        _check_text("venue id", self.id, MAX_ID)
        _check_text("venue name", self.name, MAX_NAME)
        _check_text("venue reason", self.reason, MAX_NAME, empty_ok=True)
        object.__setattr__(self, "status", VenueStatus(self.status))
        object.__setattr__(self, "role", VenueRole(self.role))
        if not isinstance(self.muted, bool) or not isinstance(self.camera_on, bool):
            raise InvalidRecord("muted and camera_on must be booleans")


@dataclass(frozen=True, slots=True)
class Conference:
    """A running conference on one member server; ``number`` is its key there."""

    number: str
    name: str
    kind: ConferenceKind
    layout: str = "auto"
    started_at: float = 0.0
    venues: tuple[Venue, ...] = ()

    def __post_init__(self) -> None:
        _check_text("conference number", self.number, MAX_ID)
        _check_text("conference name", self.name, MAX_NAME)
        _check_text("layout", self.layout, MAX_ID)
        object.__setattr__(self, "kind", ConferenceKind(self.kind))
        object.__setattr__(self, "venues", tuple(self.venues))
        ids = [v.id for v in self.venues]
        if len(set(ids)) != len(ids):
            raise InvalidRecord(f"conference {self.number}: duplicate venue ids")

    def without_venues(self) -> Conference:
        return Conference(self.number, self.name, self.kind, self.layout, self.started_at)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A member's whole live state as of ``(epoch, seq)``; events continue at seq + 1."""

    epoch: int
    seq: int
    conferences: tuple[Conference, ...] = ()

    def __post_init__(self) -> None:
        _check_range("epoch", self.epoch, 0, 2**63)
        _check_range("seq", self.seq, 0, 2**63)
        object.__setattr__(self, "conferences", tuple(self.conferences))
        numbers = [c.number for c in self.conferences]
        if len(set(numbers)) != len(numbers):
            raise InvalidRecord("snapshot: duplicate conference numbers")


# --- changes: what one event says happened ------------------------------------------


@dataclass(frozen=True, slots=True)
class ConferenceStarted:
    KIND: ClassVar[str] = "conference_started"
    conference: Conference


@dataclass(frozen=True, slots=True)
class ConferenceEnded:
    KIND: ClassVar[str] = "conference_ended"
    conference: str


@dataclass(frozen=True, slots=True)
class VenueJoined:
    KIND: ClassVar[str] = "venue_joined"
    conference: str
    venue: Venue

    def __post_init__(self) -> None:
        if self.venue.status is not VenueStatus.JOINED:
            raise InvalidRecord("venue_joined carries a joined venue")


@dataclass(frozen=True, slots=True)
class VenueRinging:
    KIND: ClassVar[str] = "venue_ringing"
    conference: str
    venue: Venue

    def __post_init__(self) -> None:
        if self.venue.status is not VenueStatus.RINGING:
            raise InvalidRecord("venue_ringing carries a ringing venue")


@dataclass(frozen=True, slots=True)
class VenueLeft:
    KIND: ClassVar[str] = "venue_left"
    conference: str
    venue: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class VenueFailed:
    KIND: ClassVar[str] = "venue_failed"
    conference: str
    venue: str
    reason: str

    def __post_init__(self) -> None:
        _check_text("failure reason", self.reason, MAX_NAME)


@dataclass(frozen=True, slots=True)
class MuteChanged:
    KIND: ClassVar[str] = "mute_changed"
    conference: str
    venue: str
    muted: bool


@dataclass(frozen=True, slots=True)
class CameraChanged:
    KIND: ClassVar[str] = "camera_changed"
    conference: str
    venue: str
    camera_on: bool


@dataclass(frozen=True, slots=True)
class LayoutChanged:
    KIND: ClassVar[str] = "layout_changed"
    conference: str
    layout: str

    def __post_init__(self) -> None:
        _check_text("layout", self.layout, MAX_ID)


@dataclass(frozen=True, slots=True)
class StatsUpdated:
    KIND: ClassVar[str] = "call_stats"
    conference: str
    venue: str
    stats: CallStats


Change = (
    ConferenceStarted
    | ConferenceEnded
    | VenueJoined
    | VenueRinging
    | VenueLeft
    | VenueFailed
    | MuteChanged
    | CameraChanged
    | LayoutChanged
    | StatsUpdated
)

CHANGE_TYPES: tuple[type[Change], ...] = (
    ConferenceStarted,
    ConferenceEnded,
    VenueJoined,
    VenueRinging,
    VenueLeft,
    VenueFailed,
    MuteChanged,
    CameraChanged,
    LayoutChanged,
    StatsUpdated,
)


@dataclass(frozen=True, slots=True)
class Event:
    """One change on a member server, stamped with that member's ``(epoch, seq)``."""

    epoch: int
    seq: int
    change: Change

    def __post_init__(self) -> None:
        _check_range("epoch", self.epoch, 0, 2**63)
        _check_range("seq", self.seq, 1, 2**63)


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
