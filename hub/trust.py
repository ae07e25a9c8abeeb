"""What a member server may claim about its live state, and how much of it.

Role: the trust boundary between a member server and the hub's live state. A member
speaks only for itself: the conference numbers it reports lie in its own meeting
ranges, and each cascade venue names one of its children (the link down) or its
parent (the uplink). ``ClaimRules`` answers those two questions; ``PlanRules`` answers
them from the federation tree and number plan of one committed revision. The live
state (``hub.live``) asks before it applies anything and refuses the rest; the link
driver then logs the reason and resets that link.

``MemberLimits`` bounds what one member may make the hub hold. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from hub.federation import Federation
from hub.numbering import NumberPlan, NumberPlanError, RangeType

MEETING_TYPES = frozenset(
    {
        RangeType.GENERAL_MEETING,
        RangeType.INSTANT_MEETING,
        RangeType.SCHEDULED_MEETING,
        RangeType.VMR,
    }
)
"""Range types whose numbers a member may use for its conferences."""


class Relation(StrEnum):
    """How the member a cascade venue names stands to the member that reports it."""

    CHILD = "child"  # the reporting member's conference cascades the child's in
    PARENT = "parent"  # the uplink: the reporting member's side of its parent's cascade


class ClaimRules(Protocol):
    """Answers what a member may claim; implementations must be cheap (called per event).

    Guarantees: answers reflect one committed federation revision; an unknown member
    holds nothing and relates to nobody.
    """

    def holds(self, member_id: int, number: str) -> bool:
        """True when ``number`` lies in one of ``member_id``'s own meeting ranges."""
        ...

    def relation(self, member_id: int, domain: str) -> Relation | None:
        """``domain``'s relation to ``member_id`` (child, parent), or None for anyone else."""
        ...


class PlanRules:
    """``ClaimRules`` over a federation tree and its number plan (one revision).

    The caller must not change ``federation`` or ``plan`` afterwards; build a new
    ``PlanRules`` for the next revision.
    """

    __slots__ = ("_federation", "_plan")

    def __init__(self, federation: Federation, plan: NumberPlan) -> None:
        self._federation, self._plan = federation, plan

    def holds(self, member_id: int, number: str) -> bool:
        try:
            rng = self._plan.range_for(number)
        except NumberPlanError:  # not 1-15 digits: no range can hold it
            return False
        return rng is not None and rng.member_id == member_id and rng.type in MEETING_TYPES

    def relation(self, member_id: int, domain: str) -> Relation | None:
        named = self._federation.by_domain(domain)
        if named is None or member_id not in self._federation:
            return None
        if named.parent_id == member_id:
            return Relation.CHILD
        if self._federation.get(member_id).parent_id == named.id:
            return Relation.PARENT
        return None


class NoClaims:
    """``ClaimRules`` that refuse everything: the live state before the federation is read."""

    def holds(self, member_id: int, number: str) -> bool:
        return False

    def relation(self, member_id: int, domain: str) -> Relation | None:
        return None


@dataclass(frozen=True, slots=True)
class MemberLimits:
    """How much live state one member may make the hub hold.

    Defaults sit well above what one conference server runs (the product's largest
    meetings have a few hundred venues) and keep what a hostile member can make the
    hub hold to a few MB.
    """

    conferences: int = 200
    venues_per_conference: int = 500
    """Ordinary venues (endpoints) of one conference."""
    cascades_per_conference: int = 2500
    """Cascade venues of one conference; each must name a child or the parent anyway."""
    venues: int = 5000
    """Venues of all the member's conferences together, cascade venues included."""

    def __post_init__(self) -> None:
        values = (self.conferences, self.venues_per_conference, self.cascades_per_conference)
        if min(*values, self.venues) < 1:
            raise ValueError("member limits must be at least 1")
