"""Per-source-IP throttling of failed logins (on top of per-account lockout).

A sliding window of failure times per IP, in memory on each node; the table is bounded
so a spray from many addresses cannot grow it without end.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable


class LoginThrottle:
    def __init__(
        self,
        max_failures: int = 20,
        window_s: float = 300.0,
        max_ips: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_ips = max_ips
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, ip: str) -> float:
        """Seconds until ``ip`` may try again; 0 when it may try now."""
        q = self._prune(ip)
        if q is None or len(q) < self.max_failures:
            return 0.0
        return max(0.0, q[0] + self.window_s - self._clock())

    def failed(self, ip: str) -> None:
        q = self._failures.get(ip)
        if q is None:
            q = self._failures[ip] = deque(maxlen=self.max_failures)
        q.append(self._clock())
        self._failures.move_to_end(ip)
        while len(self._failures) > self.max_ips:
            self._failures.popitem(last=False)

    def _prune(self, ip: str) -> deque[float] | None:
        q = self._failures.get(ip)
        if q is None:
            return None
        horizon = self._clock() - self.window_s
        while q and q[0] <= horizon:
            q.popleft()
        return q
