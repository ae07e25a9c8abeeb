"""Where the member links read time: one clock, injected.

The link driver (``controllers.driver``) is pure and takes ``now`` as an argument; the
asyncio client reads it from the ``Clock`` it was given and only *waits* on the event
loop (until the driver's next deadline). Tests pass a ``ManualClock`` and move time by
hand.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Where the core reads time.

    Guarantees: ``monotonic()`` never goes backwards and is the only reading used for
    durations, timeouts and RTT; ``time()`` is wall-clock seconds since the Unix epoch,
    used only for display ("since") and may jump.
    """

    def monotonic(self) -> float: ...

    def time(self) -> float: ...


class SystemClock:
    """The real clock: ``time.monotonic`` and ``time.time``."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()


class ManualClock:
    """A clock for tests: starts at ``start`` and moves only when told to."""

    def __init__(self, start: float = 1_000.0, wall: float = 1_700_000_000.0) -> None:
        self._now = start
        self._wall_offset = wall - start

    def monotonic(self) -> float:
        return self._now

    def time(self) -> float:
        return self._now + self._wall_offset

    def advance(self, seconds: float) -> None:
        """Move time forward; negative steps are refused (monotonic guarantee)."""
        if seconds < 0:
            raise ValueError("a monotonic clock cannot go backwards")
        self._now += seconds
