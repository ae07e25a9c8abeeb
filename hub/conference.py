"""Conference records: conferences, venues, call statistics and their events.

Role: the vocabulary of live state, shared by the federation link (its payloads), the
hub's cascade state and the emulator. Frozen dataclasses that validate when built;
``InvalidRecord`` is the one error. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

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
