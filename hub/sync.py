"""Data-set sync with one member server, per data set: what to send next, pure.

Role: the hub's side of the sync protocol (docs/member-link.md, "Data-set sync") as a
small state machine per (member, data set), driven by the caller's clock. The hub's
data set is at ``version``; the member acknowledged ``acked``. ``next_push(now)`` says
what to send: nothing (in step, or waiting for an ack), the changes since ``acked``
(``base=acked``), or everything (``base=0``) when the member has nothing yet, refused
a delta (it lost its data, or asks) or the hub cannot tell what it holds. The caller
sends it and calls ``sent``; ``ack`` takes the member's answer. Acks are idempotent:
duplicates and stale ones (out of order) change nothing, so the state converges
whatever the link does.

Transitions:

    idle      --next_push-->  in flight (base, revision)
    in flight --ack ok (revision >= acked)--> idle, acked = revision
    in flight --ack refused--> idle, full next time
    in flight --link down / ack timeout--> idle (resent next time)
"""

from __future__ import annotations

from dataclasses import dataclass

ACK_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class Push:
    """Send ``dataset`` at ``revision``: whole if ``base == 0``, else the changes since ``base``."""

    revision: int
    base: int

    @property
    def full(self) -> bool:
        return self.base == 0


@dataclass(slots=True)
class DatasetSync:
    """One member's sync of one data set (see the module docstring)."""

    version: int = 0
    acked: int = 0
    last_success: float | None = None
    last_error: str = ""
    full_needed: bool = False
    in_flight: Push | None = None
    sent_at: float = 0.0

    @property
    def pending(self) -> bool:
        """The member does not hold the hub's version yet (or must be sent everything)."""
        return self.acked != self.version or self.full_needed

    def changed(self, version: int) -> None:
        """The hub's data set is now at ``version`` (never goes back)."""
        self.version = max(self.version, version)

    def next_push(self, now: float, *, force: bool = False, full: bool = False) -> Push | None:
        """What to send now, or None.

        ``force`` sends although in step: the changes since ``acked`` — none, when in
        step, which costs a frame and tells whether the member still holds ``acked``
        (it refuses if not, and gets everything). ``full`` sends everything.
        """
        if self.in_flight is not None:
            if now - self.sent_at < ACK_TIMEOUT_S:
                return None
            self.in_flight = None  # lost: send again
        if full:
            self.full_needed = True
        if not (self.pending or force):
            return None
        whole = self.full_needed or self.acked == 0 or self.acked > self.version
        return Push(self.version, 0 if whole else self.acked)

    def sent(self, push: Push, now: float) -> None:
        self.in_flight = push
        self.sent_at = now

    def ack(self, revision: int, ok: bool, error: str, now: float) -> bool:
        """The member answered for ``revision``; True if that changed anything."""
        flight = self.in_flight
        if ok:
            if revision > self.version:
                return False  # not a revision we sent: ignore
            if flight is not None and revision == flight.revision:
                # what was just sent, even below ``acked``: the hub's data went back
                # (restored from a backup) and the member was sent everything anew
                self.in_flight = None
                self.full_needed = False
            elif revision <= self.acked:
                return False  # a duplicate, or stale (out of order)
            self.acked = revision
            self.last_success = now
            self.last_error = ""
            return True
        if flight is None or revision != flight.revision:
            if revision == 0:  # the member asks for everything
                self.full_needed = True
                self.last_error = error[:512]
                return True
            return False
        self.in_flight = None
        self.full_needed = True
        self.last_error = error[:512] or "refused"
        return True

    def link_down(self) -> None:
        """The link went down: whatever was in flight is sent again after it is back."""
        self.in_flight = None
