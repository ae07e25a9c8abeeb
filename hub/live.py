"""The live state service: every member's conferences, checked, bounded, observable.

Role: the one object that holds what member servers report. The composition root
builds one ``LiveState`` and hands it to the member links (as a ``LiveSink``: they
apply snapshots and events) and to the web (as a ``LiveReader``: the API, the live
websocket and the pages read it and subscribe to its changes). Nothing else holds
live state.

Writes are checked before anything changes (``hub.trust``): a member's conference
numbers must lie in its own meeting ranges, its cascade venues must name a child or
its parent, and its state stays within ``MemberLimits``. A refused report returns a
``Refusal`` (the link driver logs it and resets that link) and changes nothing.

Every applied change is published, in order, as one ``LiveChange`` per report with a
``revision`` that grows by one each time. A reader that takes a snapshot
(``conferences``, ``federation_trees``, ``summary``) and subscribes in the same
event-loop step sees every later change exactly once, after ``revision``.

Pure and single-threaded: no I/O, no clocks; subscribers are called synchronously and
must only queue (a fanout with bounded per-client queues), never block.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from hub.cascade import (
    MAX_DEPTH,
    CascadeNode,
    CascadeState,
    Counts,
    Delta,
    NeedSnapshot,
)
from hub.conference import (
    CascadeRef,
    Conference,
    ConferenceStarted,
    Event,
    Snapshot,
    Venue,
    VenueJoined,
    VenueRinging,
)
from hub.trust import ClaimRules, MemberLimits, NoClaims, Relation

log = logging.getLogger("fedhub.live")


@dataclass(frozen=True, slots=True)
class Refusal:
    """A member's report broke a trust rule or a limit; nothing was applied.

    ``reason`` may quote member text: escape it before logging (``hub.logtext``).
    """

    member_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class LiveChange:
    """What one applied report changed, stamped with the state's new ``revision``."""

    revision: int
    member_id: int
    deltas: tuple[Delta, ...]


Listener = Callable[[LiveChange], None]


@dataclass(frozen=True, slots=True)
class Summary:
    """Counts for a set of members: the total and each member's own."""

    total: Counts
    members: MappingProxyType[int, Counts]

    def as_dict(self) -> dict[str, object]:
        return {
            "total": self.total.as_dict(),
            "members": {str(m): c.as_dict() for m, c in self.members.items()},
        }


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a member's conferences (sorted by number) and how many there are."""

    conferences: tuple[Conference, ...]
    total: int
    offset: int
    limit: int


@dataclass(slots=True, eq=False)
class Subscription:
    """A registered listener; ``cancel()`` stops further calls (idempotent)."""

    _owner: LiveState | None
    listener: Listener = field(repr=False)

    def cancel(self) -> None:
        owner, self._owner = self._owner, None
        if owner is not None:
            owner._unsubscribe(self)


class LiveReader(Protocol):
    """What the web reads: snapshots of one revision, and the changes after it.

    Every value returned is immutable (frozen records, tuples, read-only mappings).
    ``within`` is a set of member ids (a caller's scope); ``None`` means all.
    """

    @property
    def revision(self) -> int:
        """Grows by one with every published change (0 before the first)."""
        ...

    def members(self) -> tuple[int, ...]:
        """Members with a link (bound), in id order."""
        ...

    def in_sync(self, member_id: int) -> bool: ...

    def conferences(self, member_id: int, *, offset: int = 0, limit: int = 50) -> Page:
        """A page of the member's conferences with their venues; empty if unknown."""
        ...

    def conference(self, member_id: int, number: str) -> Conference | None: ...

    def venue(self, member_id: int, number: str, venue_id: str) -> Venue | None: ...

    def summary(self, within: Collection[int] | None = None) -> Summary:
        """Counts per member and in total: the one place they are computed."""
        ...

    def federation_trees(self, within: Collection[int] | None = None) -> tuple[CascadeNode, ...]:
        """Cascade trees rooted at the highest federation conferences inside ``within``.

        At most ``MAX_DEPTH`` levels; built iteratively.
        """
        ...

    def cascade_tree(self, member_id: int, number: str) -> CascadeNode | None: ...

    def subscribe(self, listener: Listener) -> Subscription:
        """Call ``listener`` with every later ``LiveChange``, in order, until cancelled."""
        ...


class LiveSink(Protocol):
    """What a member link writes: it binds its member, then applies what arrives."""

    def bind_member(self, member_id: int, domain: str) -> None: ...

    def forget_member(self, member_id: int) -> None: ...

    def apply_snapshot(self, member_id: int, snapshot: Snapshot) -> Refusal | None: ...

    def apply_event(self, member_id: int, event: Event) -> Refusal | NeedSnapshot | None:
        """None when applied (or old and ignored); NeedSnapshot: request one, then retry."""
        ...

    def position(self, member_id: int) -> tuple[int | None, int]: ...

    def in_sync(self, member_id: int) -> bool: ...


class LiveState:
    """The hub's live state; implements ``LiveReader`` and ``LiveSink``.

    ``rules`` answer what each member may claim; replace them (``set_rules``) whenever
    the federation changes. Until then ``NoClaims`` refuses every conference.
    """

    def __init__(self, rules: ClaimRules | None = None, limits: MemberLimits | None = None):
        self._state = CascadeState()
        self._rules: ClaimRules = rules if rules is not None else NoClaims()
        self.limits = limits or MemberLimits()
        self._revision = 0
        self._subscriptions: list[Subscription] = []

    def set_rules(self, rules: ClaimRules) -> None:
        """Check later reports against ``rules`` (a new federation revision)."""
        self._rules = rules

    # -- LiveSink ----------------------------------------------------------------

    def bind_member(self, member_id: int, domain: str) -> None:
        self._state.bind_member(member_id, domain)

    def forget_member(self, member_id: int) -> None:
        self._publish(member_id, self._state.forget_member(member_id))

    def apply_snapshot(self, member_id: int, snapshot: Snapshot) -> Refusal | None:
        lim = self.limits
        if len(snapshot.conferences) > lim.conferences:
            return self._refuse(
                member_id,
                f"snapshot holds {len(snapshot.conferences)} conferences, "
                f"more than the limit of {lim.conferences}",
            )
        total = 0
        for conf in snapshot.conferences:
            refusal = self._check_conference(member_id, conf)
            if refusal is not None:
                return refusal
            total += len(conf.venues)
        if total > lim.venues:
            return self._refuse(
                member_id,
                f"snapshot holds {total} venues, more than the limit of {lim.venues} venues",
            )
        self._publish(member_id, self._state.apply_snapshot(member_id, snapshot))
        return None

    def apply_event(self, member_id: int, event: Event) -> Refusal | NeedSnapshot | None:
        if type(event.change) in _GROWING:  # the only changes that can add anything
            refusal = self._check_change(member_id, event)
            if refusal is not None:
                return refusal
        result = self._state.apply_event(member_id, event)
        if isinstance(result, NeedSnapshot):
            return result
        if result:
            self._publish(member_id, result)
        return None

    def position(self, member_id: int) -> tuple[int | None, int]:
        return self._state.position(member_id)

    def in_sync(self, member_id: int) -> bool:
        return self._state.in_sync(member_id)

    # -- checks ------------------------------------------------------------------

    def _refuse(self, member_id: int, reason: str) -> Refusal:
        return Refusal(member_id, reason)

    def _check_ref(self, member_id: int, number: str, ref: CascadeRef) -> Refusal | None:
        if self._rules.relation(member_id, ref.member) is None:
            return self._refuse(
                member_id,
                f"conference {number} has a cascade venue naming {ref.member!r}, "
                "which is neither a child nor the parent of this member",
            )
        return None

    def _check_conference(self, member_id: int, conf: Conference) -> Refusal | None:
        if not self._rules.holds(member_id, conf.number):
            return self._refuse(
                member_id,
                f"conference number {conf.number!r} is not in this member's meeting ranges",
            )
        cascades = 0
        for venue in conf.venues:
            if venue.cascade is not None:
                cascades += 1
                refusal = self._check_ref(member_id, conf.number, venue.cascade)
                if refusal is not None:
                    return refusal
        return self._check_size(member_id, conf.number, len(conf.venues) - cascades, cascades)

    def _check_size(
        self, member_id: int, number: str, ordinary: int, cascades: int
    ) -> Refusal | None:
        lim = self.limits
        if ordinary > lim.venues_per_conference:
            return self._refuse(
                member_id,
                f"conference {number} has {ordinary} venues, "
                f"more than the limit of {lim.venues_per_conference}",
            )
        if cascades > lim.cascades_per_conference:
            return self._refuse(
                member_id,
                f"conference {number} has {cascades} cascade venues, "
                f"more than the limit of {lim.cascades_per_conference}",
            )
        return None

    def _applies(self, member_id: int, event: Event) -> bool:
        epoch, seq = self._state.position(member_id)
        return self._state.in_sync(member_id) and event.epoch == epoch and event.seq == seq + 1

    def _check_change(self, member_id: int, event: Event) -> Refusal | None:
        change, lim = event.change, self.limits
        if isinstance(change, ConferenceStarted):
            conf = change.conference
            refusal = self._check_conference(member_id, conf)
            if refusal is not None or not self._applies(member_id, event):
                return refusal
            if self._state.conference_count(member_id) >= lim.conferences:
                return self._refuse(
                    member_id, f"more than the limit of {lim.conferences} conferences"
                )
            if self._state.venue_count(member_id) + len(conf.venues) > lim.venues:
                return self._refuse(member_id, f"more than the limit of {lim.venues} venues")
        elif isinstance(change, VenueJoined | VenueRinging):
            venue = change.venue
            if venue.cascade is not None:
                refusal = self._check_ref(member_id, change.conference, venue.cascade)
                if refusal is not None:
                    return refusal
            if not self._applies(member_id, event):
                return None
            if self._state.venue(member_id, change.conference, venue.id) is None:
                if self._state.venue_count(member_id) >= lim.venues:
                    return self._refuse(member_id, f"more than the limit of {lim.venues} venues")
                held = self._state.venues(member_id, change.conference)
                cascades = sum(1 for v in held if v.cascade is not None)
                grow = 1 if venue.cascade is not None else 0
                return self._check_size(
                    member_id,
                    change.conference,
                    len(held) - cascades + 1 - grow,
                    cascades + grow,
                )
        return None

    # -- LiveReader --------------------------------------------------------------

    @property
    def revision(self) -> int:
        return self._revision

    def members(self) -> tuple[int, ...]:
        return tuple(sorted(self._state.members()))

    def _known(self, member_id: int) -> bool:
        return self._state.knows(member_id)

    def conferences(self, member_id: int, *, offset: int = 0, limit: int = 50) -> Page:
        if offset < 0 or limit < 1:
            raise ValueError("offset must be >= 0 and limit >= 1")
        if not self._known(member_id):
            return Page((), 0, offset, limit)
        numbers = sorted(self._state.conference_numbers(member_id), key=_number_order)
        chosen = numbers[offset : offset + limit]
        page = tuple(c for n in chosen if (c := self._state.conference(member_id, n)))
        return Page(page, len(numbers), offset, limit)

    def conference(self, member_id: int, number: str) -> Conference | None:
        return self._state.conference(member_id, number) if self._known(member_id) else None

    def venue(self, member_id: int, number: str, venue_id: str) -> Venue | None:
        if not self._known(member_id):
            return None
        return self._state.venue(member_id, number, venue_id)

    def summary(self, within: Collection[int] | None = None) -> Summary:
        ids = [m for m in self.members() if within is None or m in within]
        per = {m: self._state.tally(m) for m in ids}
        total = Counts()
        for counts in per.values():
            total += counts
        return Summary(total, MappingProxyType(per))

    def _down(self, member_id: int, ref: CascadeRef) -> bool:
        return self._rules.relation(member_id, ref.member) is Relation.CHILD

    def federation_trees(self, within: Collection[int] | None = None) -> tuple[CascadeNode, ...]:
        roots = self._state.federation_roots(follow=self._down, within=within)
        trees = (
            self._state.cascade_tree(m, n, follow=self._down, max_depth=MAX_DEPTH)
            for m, n in sorted(roots)
        )
        return tuple(t for t in trees if t is not None)

    def cascade_tree(self, member_id: int, number: str) -> CascadeNode | None:
        return self._state.cascade_tree(member_id, number, follow=self._down)

    def subscribe(self, listener: Listener) -> Subscription:
        sub = Subscription(self, listener)
        self._subscriptions = [*self._subscriptions, sub]
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        self._subscriptions = [s for s in self._subscriptions if s is not sub]

    def _publish(self, member_id: int, deltas: Iterable[Delta]) -> None:
        batch = tuple(deltas)
        if not batch:
            return
        self._revision += 1
        subscriptions = self._subscriptions
        if not subscriptions:
            return
        change = LiveChange(self._revision, member_id, batch)
        for sub in subscriptions:  # a copy-on-write list: (un)subscribing is safe
            try:
                sub.listener(change)
            except Exception:  # one faulty reader must not stop the others or the link
                log.exception("live state subscriber %r failed", sub.listener)


_GROWING = frozenset({ConferenceStarted, VenueJoined, VenueRinging})
"""Changes that can add conferences, venues or cascade references: checked."""


def _number_order(number: str) -> tuple[int, str]:
    return len(number), number
