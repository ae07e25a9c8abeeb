"""Where the member links read time: one clock, injected.

The link driver (``controllers.driver``) is pure and takes ``now`` as an argument; the
asyncio client reads it from the ``Clock`` it was given and only *waits* on the event
loop (until the driver's next deadline). Tests pass ``tests.support.clock.ManualClock``
and move time by hand.
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
