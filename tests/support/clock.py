"""A clock for tests: it moves only when told to (implements ``controllers.clock.Clock``)."""

from __future__ import annotations


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
