"""Abuse guards for a public SIP port, pure (the caller passes the clock).

`RateLimiter` is a token bucket per source IP: `allow(ip, now)` spends one token
or says no. `is_scanner(user_agent)` spots the well-known SIP scanners, which are
dropped without an answer. `RejectLog` decides when a rejection deserves a log
line: the first one of a source and reason at once, then at most one per interval
carrying the count of the ones it stood for, so a flood cannot flood the log.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Final

SCANNER_AGENTS: Final = (
    "friendly-scanner",
    "sipvicious",
    "sipcli",
    "vaxsipuseragent",
    "sip-scan",
    "sipscan",
    "sundayddr",
    "iwar",
    "sivus",
    "smap",
    "pplsip",
    "sipptk",
    "siparmyknife",
    "voipsipsdk",
)
_SCANNER_RE: Final = re.compile("|".join(re.escape(a) for a in SCANNER_AGENTS), re.IGNORECASE)


def is_scanner(user_agent: str | None) -> bool:
    """True for a User-Agent of a known SIP scanner (case-insensitive substring)."""
    return user_agent is not None and _known_scanner(user_agent)


@functools.lru_cache(maxsize=1024)  # devices repeat their User-Agent on every message
def _known_scanner(user_agent: str) -> bool:
    return _SCANNER_RE.search(user_agent) is not None


@dataclass(frozen=True)
class RateSpec:
    """`rate` tokens per second, `burst` tokens at most; rate 0 disables the limit."""

    rate: float
    burst: int

    def __post_init__(self) -> None:
        if self.rate < 0 or self.burst < 1:
            raise ValueError("rate must be >= 0 and burst >= 1")


class RateLimiter:
    """Token bucket per source IP. Remembers at most `max_sources` sources; past that,
    sources whose bucket has refilled are forgotten first (they lose nothing)."""

    def __init__(self, spec: RateSpec, max_sources: int = 65_536) -> None:
        self._spec = spec
        self._max_sources = max_sources
        self._buckets: dict[str, list[float]] = {}  # ip -> [tokens, last refill time]

    @property
    def spec(self) -> RateSpec:
        return self._spec

    def configure(self, spec: RateSpec) -> None:
        """Change rate and burst in place; buckets keep their tokens, capped at the burst."""
        self._spec = spec
        for bucket in self._buckets.values():
            bucket[0] = min(bucket[0], spec.burst)

    def allow(self, ip: str, now: float) -> bool:
        spec = self._spec
        if spec.rate == 0:
            return True
        bucket = self._buckets.get(ip)
        if bucket is None:
            if len(self._buckets) >= self._max_sources:
                self._prune(now)
            self._buckets[ip] = [spec.burst - 1.0, now]
            return True
        tokens = bucket[0] + (now - bucket[1]) * spec.rate
        if tokens > spec.burst:
            tokens = spec.burst
        bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            return False
        bucket[0] = tokens - 1.0
        return True

    def _prune(self, now: float) -> None:
        spec = self._spec
        full = [
            ip
            for ip, (tokens, last) in self._buckets.items()
            if tokens + (now - last) * spec.rate >= spec.burst
        ]
        for ip in full:
            del self._buckets[ip]
        if len(self._buckets) >= self._max_sources:  # all busy: forget the oldest half
            for ip in list(self._buckets)[: len(self._buckets) // 2]:
                del self._buckets[ip]

    def __len__(self) -> int:
        return len(self._buckets)


class RejectLog:
    """Throttles rejection log lines per (source IP, reason)."""

    def __init__(self, interval: float = 1.0, max_keys: int = 65_536) -> None:
        self._interval = interval
        self._max_keys = max_keys
        self._state: dict[tuple[str, str], list[float]] = {}  # key -> [last line, suppressed]

    def record(self, ip: str, reason: str, now: float) -> int | None:
        """Count one rejection. Returns how many rejections the line to write now stands
        for (1 or more), or None when no line is due yet."""
        key = (ip, reason)
        state = self._state.get(key)
        if state is None:
            if len(self._state) >= self._max_keys:
                self._state.clear()
            self._state[key] = [now, 0.0]
            return 1
        state[1] += 1
        if now - state[0] < self._interval:
            return None
        count = int(state[1])
        state[0], state[1] = now, 0.0
        return count
