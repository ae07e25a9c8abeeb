"""The per-message pipeline of the redirector, sans-I/O: bytes in → what to send.

`Endpoint.handle(data, origin, now)` applies the source's rate limit, parses,
drops stray responses and known scanners, runs the redirect policy and returns
an `Outcome`: the bytes to send (and, for UDP, the address RFC 3261 §18.2.2
names) plus an optional `Rejection` for the caller to log. A message that fails
to parse is still answered with its status (400, 416, 483, 505, 513) when enough
of its head survives to address a response. Routing table, policy and limits are
plain attributes: swap them at any time, the next message uses the new ones.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from typing import Final

from sip.errors import SipParseError
from sip.guard import RateLimiter, RateSpec, RejectLog, is_scanner
from sip.headers import (
    Via,
    is_token,
    parse_cseq,
    parse_name_addr,
    parse_via,
    parse_vias,
    split_values,
)
from sip.message import (
    CALL_ID_RE,
    DEFAULT_LIMITS,
    Limits,
    SipRequest,
    SipResponse,
    header_key,
    parse_message,
)
from sip.redirect import (
    DEFAULT_POLICY,
    EMPTY_TABLE,
    Origin,
    RedirectPolicy,
    RoutingTable,
    redirect,
    reply,
    response_address,
    stamp_via,
)

_LINES_RE: Final = re.compile(r"\r?\n")
_SALVAGED: Final = ("via", "from", "to", "call-id", "cseq")


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


def _salvage(data: bytes, limits: Limits) -> dict[str, list[str]] | None:
    """The raw Via/From/To/Call-ID/CSeq lines of a request that failed to parse,
    or None when it is a response, an ACK, or misses one of them."""
    head = data.lstrip(b"\r\n")[: limits.max_message_size]
    end = head.find(b"\r\n\r\n")
    text = (head if end < 0 else head[:end]).decode("utf-8", "replace")
    lines = _LINES_RE.split(text)
    method = lines[0].split(" ", 1)[0]
    if not is_token(method) or method.upper().startswith("SIP/") or method == "ACK":
        return None
    found: dict[str, list[str]] = {}
    for line in lines[1 : limits.max_headers + 1]:
        name, colon, value = line.partition(":")
        key = header_key(name.strip(" \t"))
        if colon and key in _SALVAGED and "\x00" not in value:
            found.setdefault(key, []).append(value.strip(" \t"))
    if any(key not in found for key in _SALVAGED):
        return None
    return found


def error_reply(
    data: bytes, error: SipParseError, origin: Origin, limits: Limits, policy: RedirectPolicy
) -> Outcome:
    """The status answer to an unparsable request, or NOTHING if it cannot be addressed."""
    found = _salvage(data, limits)
    if found is None:
        return NOTHING
    try:
        # Echo only what parses: a response must itself be valid SIP.
        vias = found["via"]
        first = split_values(vias[0])
        top = parse_via(first[0])
        for value in first[1:] + vias[1:]:
            parse_vias(value)
        cseq = parse_cseq(found["cseq"][0])
        from_value, to_value, call_id = found["from"][0], found["to"][0], found["call-id"][0]
        parse_name_addr(from_value)
        if not CALL_ID_RE.fullmatch(call_id):
            return NOTHING
        if parse_name_addr(to_value).tag is None:
            key = "\x00".join((call_id, from_value, str(cseq), top.branch or ""))
            tag = hashlib.blake2b(key.encode("utf-8", "surrogateescape"), digest_size=8)
            to_value = f"{to_value};tag={tag.hexdigest()}"
        first[0] = str(stamp_via(top, origin))
        headers = [
            ("Via", ", ".join(first)),
            *(("Via", v) for v in vias[1:]),
            ("From", from_value),
            ("To", to_value),
            ("Call-ID", call_id),
            ("CSeq", str(cseq)),
        ]
        if policy.server:
            headers.append(("Server", policy.server))
        headers.append(("Content-Length", "0"))
        response = SipResponse(error.status, error.reason, tuple(headers))
    except SipParseError:
        return NOTHING
    return _outcome(response, top, origin)


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
