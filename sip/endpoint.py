"""The per-message pipeline of the redirector, sans-I/O: bytes in → what to send.

`Endpoint.handle(data, origin, now)` applies the source's rate limit, parses,
drops stray responses and known scanners, runs the redirect policy and returns
an `Outcome`: the bytes to send (and, for UDP, the address to send them to:
the source, see `sip.redirect.response_address`) plus an optional `Rejection`
for the caller to log. A request that fails to parse is still answered with its
status (400, 416, 483, 505, 513) when its top Via can be read (`sip.salvage`).
Routing table, policy and limits are plain attributes: swap them at any time,
the next message uses the new ones.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Final

from sip.errors import SipParseError
from sip.guard import RateLimiter, RateSpec, RejectLog, is_scanner
from sip.headers import Via
from sip.message import DEFAULT_LIMITS, Limits, SipRequest, SipResponse, parse_message
from sip.redirect import (
    DEFAULT_POLICY,
    EMPTY_TABLE,
    Origin,
    RedirectPolicy,
    RoutingTable,
    redirect,
    reply,
    response_address,
)
from sip.salvage import error_response


@dataclass(frozen=True, slots=True)
class Rejection:
    """A message refused for `reason`; a log line is due, standing for `count` refusals."""

    reason: str
    detail: str
    count: int = 1


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to do with one inbound message: send `data` (to `address` over UDP, or
    back on the stream when `address` is None) and/or log `rejection`."""

    data: bytes | None = None
    address: tuple[str, int] | None = None
    rejection: Rejection | None = None


NOTHING: Final = Outcome()


def error_reply(
    data: bytes, error: SipParseError, origin: Origin, limits: Limits, policy: RedirectPolicy
) -> Outcome:
    """The status answer to an unparsable request, or NOTHING if it cannot be answered."""
    answer = error_response(data, error, origin, policy, limits)
    if answer is None:
        return NOTHING
    response, top_via = answer
    return _outcome(response, top_via, origin)


def _outcome(response: SipResponse, via: Via, origin: Origin) -> Outcome:
    address = response_address(via, origin) if origin.transport == "udp" else None
    return Outcome(response.to_bytes(), address)


class Endpoint:
    """Stateful only in its guards (token buckets, log throttling) and counters."""

    def __init__(
        self,
        table: RoutingTable = EMPTY_TABLE,
        policy: RedirectPolicy = DEFAULT_POLICY,
        limits: Limits = DEFAULT_LIMITS,
        rate: RateSpec | None = None,
    ) -> None:
        self.table = table
        self.policy = policy
        self.limits = limits
        self.limiter = RateLimiter(rate or RateSpec(rate=50.0, burst=100))
        self.reject_log = RejectLog()
        self.stats: Counter[str] = Counter()

    def reject(self, reason: str, detail: str, origin: Origin, now: float) -> Rejection | None:
        """Count a rejection; a Rejection comes back when a log line is due."""
        self.stats["rejected." + reason] += 1
        count = self.reject_log.record(origin.host, reason, now)
        return None if count is None else Rejection(reason, detail, count)

    def handle(self, data: bytes, origin: Origin, now: float) -> Outcome:
        """Process one datagram or one framed stream message."""
        stats = self.stats
        stats["received"] += 1
        if not self.limiter.allow(origin.host, now):
            return Outcome(rejection=self.reject("rate-limit", "over the rate limit", origin, now))
        first = data[0] if data else 0x0A
        if first < 0x21:
            if not data.strip(b"\r\n\t "):
                stats["keepalive"] += 1
                return NOTHING
            if first not in b"\r\n\t ":  # STUN keepalive (RFC 5626 §4.4.2), binary noise
                stats["ignored.binary"] += 1
                return NOTHING
        try:
            msg = parse_message(data, self.limits)
        except SipParseError as exc:
            out = error_reply(data, exc, origin, self.limits, self.policy)
            rejection = self.reject("malformed", f"{exc.status} {exc.detail}", origin, now)
            return Outcome(out.data, out.address, rejection)
        if not isinstance(msg, SipRequest):
            stats["ignored.response"] += 1
            return NOTHING
        if is_scanner(msg.header("user-agent")):
            ua = msg.header("user-agent") or ""
            return Outcome(rejection=self.reject("scanner", f"ua={ua[:60]!r}", origin, now))
        return self._answer(msg, origin, now)

    def _answer(self, request: SipRequest, origin: Origin, now: float) -> Outcome:
        try:
            response = redirect(request, origin, self.table, self.policy)
        except SipParseError as exc:
            response = reply(request, origin, exc.status, exc.reason, policy=self.policy)
            rejection = self.reject("malformed", f"{exc.status} {exc.detail}", origin, now)
            out = _outcome(response, request.top_via, origin)
            return Outcome(out.data, out.address, rejection)
        if response is None:
            self.stats["absorbed." + request.method] += 1
            return NOTHING
        self.stats[f"answered.{response.status}"] += 1
        return _outcome(response, request.top_via, origin)
