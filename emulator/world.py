"""One emulated member server's live truth: its conferences and venues.

Role: every change goes through ``MemberWorld``, which stamps it with the member's
``(epoch, seq)`` and applies it to its own ``hub.cascade.CascadeState`` — the same code
the hub runs — so a snapshot is always exactly "the events so far". Mutators return
the ``Event`` to broadcast to the linked hubs, or None when nothing changed (the
caller then sends nothing). Pure: no asyncio, time passed in by the caller.
"""

from __future__ import annotations

from dataclasses import replace

from hub.cascade import CascadeState, NeedSnapshot
from hub.conference import (
    CallStats,
    CameraChanged,
    Change,
    Conference,
    ConferenceEnded,
    ConferenceKind,
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

_ME = 0


class MemberWorld:
    """Conferences and venues of one member, with its event sequence."""

    def __init__(self, domain: str, epoch: int) -> None:
        self.domain = domain
        self.epoch = epoch
        self._state = CascadeState()
        self._state.bind_member(_ME, domain)
        self._state.apply_snapshot(_ME, Snapshot(epoch, 0))
        self._seq_offset = 0  # > 0 only after skip_seq (fault injection)

    # -- reading ---------------------------------------------------------------------

    @property
    def seq(self) -> int:
        return self._state.position(_ME)[1] + self._seq_offset

    def snapshot(self) -> Snapshot:
        return Snapshot(self.epoch, self.seq, tuple(self._state.conferences(_ME)))

    def conference(self, number: str) -> Conference | None:
        return self._state.conference(_ME, number)

    def conference_numbers(self) -> list[str]:
        return self._state.conference_numbers(_ME)

    def venue(self, number: str, venue_id: str) -> Venue | None:
        return self._state.venue(_ME, number, venue_id)

    def venue_ids(self, number: str) -> list[str]:
        return self._state.venue_ids(_ME, number)

    def running(self, number: str) -> bool:
        return number in self._state.conference_numbers(_ME)

    def find_venue(self, venue_id: str) -> tuple[str, Venue] | None:
        """Where a venue is (any conference): ``(conference number, venue)``."""
        for number in self._state.conference_numbers(_ME):
            venue = self._state.venue(_ME, number, venue_id)
            if venue is not None:
                return number, venue
        return None

    # -- changing --------------------------------------------------------------------

    def _emit(self, change: Change) -> Event:
        internal = self._state.position(_ME)[1] + 1
        result = self._state.apply_event(_ME, Event(self.epoch, internal, change))
        if isinstance(result, NeedSnapshot):  # a bug in the emulator, not a member fault
            raise RuntimeError(f"{self.domain}: inconsistent change {change!r}: {result.reason}")
        return Event(self.epoch, internal + self._seq_offset, change)

    def start_conference(
        self,
        number: str,
        name: str,
        kind: ConferenceKind,
        started_at: float,
        layout: str = "auto",
        venues: tuple[Venue, ...] = (),
    ) -> Event | None:
        if self.running(number):
            return None
        return self._emit(
            ConferenceStarted(Conference(number, name, kind, layout, started_at, venues))
        )

    def end_conference(self, number: str) -> Event | None:
        return self._emit(ConferenceEnded(number)) if self.running(number) else None

    def ring(self, number: str, venue: Venue) -> Event | None:
        if not self.running(number):
            return None
        ringing = replace(venue, status=VenueStatus.RINGING, stats=None, reason="")
        return self._emit(VenueRinging(number, ringing))

    def join(self, number: str, venue: Venue, stats: CallStats | None) -> Event | None:
        if not self.running(number):
            return None
        joined = replace(venue, status=VenueStatus.JOINED, stats=stats, reason="")
        return self._emit(VenueJoined(number, joined))

    def leave(self, number: str, venue_id: str, reason: str = "") -> Event | None:
        venue = self.venue(number, venue_id)
        if venue is None or venue.status is VenueStatus.NOT_JOINED:
            return None
        return self._emit(VenueLeft(number, venue_id, reason))

    def fail(self, number: str, venue_id: str, reason: str) -> Event | None:
        if self.venue(number, venue_id) is None:
            return None
        return self._emit(VenueFailed(number, venue_id, reason))

    def set_muted(self, number: str, venue_id: str, muted: bool) -> Event | None:
        venue = self.venue(number, venue_id)
        if venue is None or venue.muted == muted:
            return None
        return self._emit(MuteChanged(number, venue_id, muted))

    def set_camera(self, number: str, venue_id: str, camera_on: bool) -> Event | None:
        venue = self.venue(number, venue_id)
        if venue is None or venue.camera_on == camera_on:
            return None
        return self._emit(CameraChanged(number, venue_id, camera_on))

    def set_layout(self, number: str, layout: str) -> Event | None:
        conf = self.conference(number)
        if conf is None or conf.layout == layout:
            return None
        return self._emit(LayoutChanged(number, layout))

    def set_stats(self, number: str, venue_id: str, stats: CallStats) -> Event | None:
        venue = self.venue(number, venue_id)
        if venue is None or venue.status is not VenueStatus.JOINED:
            return None
        return self._emit(StatsUpdated(number, venue_id, stats))

    # -- fault injection ---------------------------------------------------------------

    def skip_seq(self, n: int = 1) -> None:
        """Make the next event jump ``n`` numbers ahead, as if events were lost."""
        self._seq_offset += n

    def new_epoch(self, epoch: int) -> None:
        """Pretend the member restarted with its state intact: events carry a new epoch."""
        self.epoch = epoch
        state = self._state
        snap = Snapshot(epoch, 0, tuple(state.conferences(_ME)))
        state.apply_snapshot(_ME, snap)
        self._seq_offset = 0
