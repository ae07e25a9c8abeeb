"""Per-source-IP throttling of logins (on top of the per-name lockout in storage).

A sliding window of attempt times per IP, in memory on each node. ``acquire`` counts an
attempt *before* its password is checked — check and count happen with no ``await``
between them, so concurrent requests on one event loop cannot both take the last slot.
A login that succeeds gives its slot back (``release``): only failures stay counted, and
a valid account buys an attacker nothing. The table is bounded so a spray from many
addresses cannot grow it without end.

Cluster: each node counts for itself, so one address gets up to ``max_failures`` per
node and window. The bound that holds cluster-wide is the per-name lockout (kept in the
database); put the nodes behind a load balancer with source-address affinity to make
this one cluster-wide too (docs/api.md, "Trust model").
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
        self._attempts: OrderedDict[str, deque[float]] = OrderedDict()

    def acquire(self, ip: str) -> float:
        """Count an attempt from ``ip`` and return 0, or return the seconds until it may
        try again (nothing counted)."""
        q = self._prune(ip)
        if q is None:
            q = self._attempts[ip] = deque()
        if len(q) >= self.max_failures:
            return max(0.001, q[0] + self.window_s - self._clock())
        q.append(self._clock())
        self._attempts.move_to_end(ip)
        while len(self._attempts) > self.max_ips:
            self._attempts.popitem(last=False)
        return 0.0

    def release(self, ip: str) -> None:
        """Give back the newest slot of ``ip``: its attempt succeeded."""
        q = self._attempts.get(ip)
        if q:
            q.pop()

    def retry_after(self, ip: str) -> float:
        """Seconds until ``ip`` may try again; 0 when it may try now (counts nothing)."""
        q = self._prune(ip)
        if q is None or len(q) < self.max_failures:
            return 0.0
        return max(0.001, q[0] + self.window_s - self._clock())

    def _prune(self, ip: str) -> deque[float] | None:
        q = self._attempts.get(ip)
        if q is None:
            return None
        horizon = self._clock() - self.window_s
        while q and q[0] <= horizon:
            q.popleft()
        return q
