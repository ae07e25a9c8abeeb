"""What an emulated member server is: identity, credentials, numbers, contacts, meetings.

Role: plain frozen records built by ``emulator.federation`` (or by hand in tests) and
read by ``emulator.member`` to set the member up. The hub side registers the same
facts (domain, username, password, ranges) in its storage.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.conference import ConferenceKind, VenueRole, VenueStatus
from hub.federation import MAX_LEVEL
from hub.numbering import NumberPlanError, RangeType, validate_number

RANGE_TYPES = tuple(t.value for t in RangeType)


@dataclass(frozen=True, slots=True)
class NumberRangeSpec:
    """A block of numbers of one type; ``start``/``end`` are digit strings of one length."""

    type: str
    start: str
    end: str

    def __post_init__(self) -> None:
        if self.type not in RANGE_TYPES:
            raise ValueError(f"unknown number range type {self.type!r}")
        try:
            validate_number(self.start)
            validate_number(self.end)
        except NumberPlanError as exc:
            raise ValueError(exc.message) from None
        if len(self.start) != len(self.end):
            raise ValueError("range bounds must be digit strings of the same length")
        if int(self.start) > int(self.end):
            raise ValueError("range start is after its end")

    def contains(self, number: str) -> bool:
        return len(number) == len(self.start) and self.start <= number <= self.end

    def number(self, offset: int) -> str:
        """The ``offset``-th number of the range (0-based)."""
        value = int(self.start) + offset
        if value > int(self.end):
            raise ValueError(f"range {self.start}-{self.end} has no offset {offset}")
        return str(value).zfill(len(self.start))


@dataclass(frozen=True, slots=True)
class VenueSpec:
    """A contact of the member (an endpoint). ``reachable=False`` is always offline.

    ``initial`` is its state when the member starts (in ``conference``, if any).
    """

    id: str
    name: str
    number: str
    reachable: bool = True
    initial: VenueStatus = VenueStatus.JOINED
    role: VenueRole = VenueRole.INTERACTIVE
    muted: bool = False
    camera_on: bool = True
    conference: str | None = None


@dataclass(frozen=True, slots=True)
class ConferenceSpec:
    """A conference running when the member starts.

    ``cascade_into`` = (parent member key, parent conference number): the conference is
    joined to its parent's conference as a cascade venue.
    """

    number: str
    name: str
    kind: ConferenceKind
    layout: str = "auto"
    cascade_into: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class EmulatedMemberSpec:
    """One member server of a federation."""

    key: str
    parent_key: str | None
    level: int
    domain: str
    display_name: str
    username: str
    password: str
    ranges: tuple[NumberRangeSpec, ...]
    venues: tuple[VenueSpec, ...] = ()
    conferences: tuple[ConferenceSpec, ...] = ()
    auto_call: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.level <= MAX_LEVEL:
            raise ValueError(f"a federation has at most {MAX_LEVEL} levels")
        if (self.level == 1) != (self.parent_key is None):
            raise ValueError("exactly the level-1 member has no parent")

    def range_of(self, type_: str) -> NumberRangeSpec:
        for r in self.ranges:
            if r.type == type_:
                return r
        raise KeyError(f"{self.key} has no {type_} range")

    @property
    def meeting(self) -> str:
        """The member's federation meeting: its first VMR number."""
        return self.range_of("vmr").number(0)
