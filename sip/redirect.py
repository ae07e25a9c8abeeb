"""The redirect policy, pure: (request, where it came from, routing table) → response.

A device that cannot resolve its server's domain sends REGISTER (or INVITE,
MESSAGE, SUBSCRIBE) to the one redirect node; `redirect()` answers 302 with a
Contact at the member server that owns the To domain (REGISTER) or the dialled
number (by range, else by the Request-URI domain). ACK is absorbed (None),
CANCEL and OPTIONS get 200, other methods 405. `sips:` keeps TLS (RFC 5630 §5.4),
the Contact carries its validity (RFC 3261 §21.3.3), the To-tag is a hash of the
request so retransmissions get the same answer without any state, and the top
Via gets `received`/`rport` (RFC 3581). The caller sends the response where
`response_address()` says (the source address, never a `maddr`) or back on the
stream it came from.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from hub.numbering import is_number
from sip.errors import SipParseError
from sip.headers import Via, is_token, parse_vias, split_values
from sip.message import SipRequest, SipResponse
from sip.uri import SipUri, check_host

ALLOWED_METHODS: Final = ("INVITE", "ACK", "CANCEL", "OPTIONS", "REGISTER", "MESSAGE", "SUBSCRIBE")
ALLOW: Final = ", ".join(ALLOWED_METHODS)
ROUTED_METHODS: Final = frozenset({"INVITE", "MESSAGE", "SUBSCRIBE"})
TRANSPORTS: Final = frozenset({"udp", "tcp", "tls"})
_TEL_SEPARATORS: Final = str.maketrans("", "", "-.()")


def _check_port(name: str, port: int | None) -> None:
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"{name} must be 1-65535, not {port}")


@dataclass(frozen=True)
class MemberServer:
    """Where a member's SIP server listens; `tls_port` None means it has no TLS."""

    member_id: int
    domain: str
    host: str
    port: int = 5060
    tls_port: int | None = 5061

    def __post_init__(self) -> None:
        if self.member_id < 0:
            raise ValueError("member_id must not be negative")
        for name in ("domain", "host"):
            try:
                check_host(getattr(self, name))
            except SipParseError as exc:
                raise ValueError(f"bad {name}: {exc.detail}") from None
        _check_port("port", self.port)
        _check_port("tls_port", self.tls_port)


def no_numbers(number: str) -> int | None:
    """The number resolver of a table without number ranges."""
    return None


@dataclass(frozen=True)
class RoutingTable:
    """Member servers by lower-cased primary domain, plus number → member_id lookup.

    `resolve_number` receives 1-15 ASCII digits only. The table is immutable:
    build a new one and hand it to the service to change routes.
    """

    servers: Mapping[str, MemberServer]
    resolve_number: Callable[[str], int | None] = no_numbers
    _by_member: Mapping[int, MemberServer] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        servers = dict(self.servers)
        for key, server in servers.items():
            if key != server.domain.lower().rstrip("."):
                raise ValueError(f"key {key!r} is not the lower-cased domain of {server!r}")
        by_member: dict[int, MemberServer] = {}
        for server in servers.values():
            if server.member_id in by_member:
                raise ValueError(f"member {server.member_id} has more than one server")
            by_member[server.member_id] = server
        object.__setattr__(self, "servers", MappingProxyType(servers))
        object.__setattr__(self, "_by_member", MappingProxyType(by_member))

    @classmethod
    def of(
        cls,
        servers: Iterable[MemberServer],
        resolve_number: Callable[[str], int | None] = no_numbers,
    ) -> RoutingTable:
        return cls({s.domain.lower().rstrip("."): s for s in servers}, resolve_number)

    def by_domain(self, domain: str) -> MemberServer | None:
        return self.servers.get(domain.lower().rstrip("."))

    def by_member(self, member_id: int) -> MemberServer | None:
        return self._by_member.get(member_id)

    def by_number(self, number: str) -> MemberServer | None:
        if not is_number(number):
            return None
        member_id = self.resolve_number(number)
        return None if member_id is None else self._by_member.get(member_id)


EMPTY_TABLE: Final = RoutingTable({})


@dataclass(frozen=True)
class Origin:
    """Where a request came from: transport ('udp', 'tcp', 'tls') and source address."""

    transport: str
    host: str
    port: int

    def __post_init__(self) -> None:
        if self.transport not in TRANSPORTS:
            raise ValueError(f"unknown transport {self.transport!r}")


@dataclass(frozen=True)
class RedirectPolicy:
    """Answer details: the Contact validity in seconds, the Server header (empty: none),
    the option-tags this server supports, and whether REGISTER must arrive over TLS."""

    contact_expires: int = 3600
    server: str = "fedhub-redirect"
    supported: frozenset[str] = frozenset()
    register_tls_only: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.contact_expires <= 2**32 - 1:
            raise ValueError("contact_expires must be 0..2**32-1")
        if any(c in self.server for c in "\r\n\x00"):
            raise ValueError("server must be one line")
        if not all(is_token(t) for t in self.supported):
            raise ValueError("supported option-tags must be tokens")


DEFAULT_POLICY: Final = RedirectPolicy()


def stamp_via(via: Via, origin: Origin) -> Via:
    """The top Via with `received` (RFC 3261 §18.2.1) and a filled `rport` (RFC 3581)."""
    if via.rport_requested:
        return via.stamped(origin.host, origin.port)
    if via.host != origin.host:
        return via.stamped(origin.host, None)
    return via


def echo_vias(lines: list[str], top: Via, origin: Origin) -> list[tuple[str, str]]:
    """The Via header lines to echo: the top one stamped, then every following value
    as long as the header still parses as written (a chain cut at the first bad value
    still routes to the previous hop, which is where the answer goes). Each line is
    checked as it will be sent: values that parse one by one can split differently
    once joined (an unbalanced quote or angle bracket swallows the comma)."""
    first = str(stamp_via(top, origin))
    count = 1
    out: list[tuple[str, str]] = []
    try:
        for value in split_values(lines[0])[1:]:
            candidate = f"{first}, {value}"
            if len(parse_vias(candidate)) != count + 1:
                break
            first, count = candidate, count + 1
        out.append(("Via", first))
        for line in lines[1:]:
            parse_vias(line)
            out.append(("Via", line))
    except SipParseError:
        if not out:
            out.append(("Via", first))
    return out


def response_address(via: Via, origin: Origin) -> tuple[str, int]:
    """Where to send a response over UDP given the request's top Via: always the
    source IP, with the source port when rport was asked for (RFC 3581 §4), else
    the sent-by port (default 5060; 5061 for TLS). A `maddr` is ignored (unlike
    RFC 3261 §18.2.2): answering to an address the request names would make the
    redirector a reflector for spoofed requests. Stream transports answer on the
    connection the request came in on."""
    if via.rport_requested:
        return origin.host, origin.port
    return origin.host, via.port or (5061 if origin.transport == "tls" else 5060)


def to_tag(request: SipRequest) -> str:
    """A To-tag that is the same for every retransmission of a request, and for
    the CANCEL of an INVITE (same Call-ID, From-tag, CSeq number and branch)."""
    key = "\x00".join(
        (
            request.call_id,
            request.from_.tag or "",
            str(request.cseq.seq),
            request.top_via.branch or "",
        )
    )
    return hashlib.blake2b(key.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()


def reply(
    request: SipRequest,
    origin: Origin,
    status: int,
    reason: str,
    extra: Iterable[tuple[str, str]] = (),
    policy: RedirectPolicy = DEFAULT_POLICY,
) -> SipResponse:
    """A response to `request` (RFC 3261 §8.2.6): Vias (top one stamped), From,
    To with a tag, Call-ID, CSeq copied; `extra` headers; no body."""
    headers = echo_vias(list(request.header_lines("via")), request.top_via, origin)
    to_value = request.header("to") or ""
    if request.to.tag is None and status > 100:
        to_value = f"{to_value};tag={to_tag(request)}"
    headers += [
        ("From", request.header("from") or ""),
        ("To", to_value),
        ("Call-ID", request.call_id),
        ("CSeq", f"{request.cseq.seq} {request.method}"),
    ]
    headers.extend(extra)
    if policy.server:
        headers.append(("Server", policy.server))
    headers.append(("Content-Length", "0"))
    return SipResponse(status, reason, tuple(headers))


def _default_port(scheme: str) -> int:
    return 5061 if scheme == "sips" else 5060


def _same_target(a: SipUri, b: SipUri) -> bool:
    return (
        a.scheme == b.scheme
        and a.host_key == b.host_key
        and (a.port or _default_port(a.scheme)) == (b.port or _default_port(b.scheme))
        and (a.user or "") == (b.user or "")
    )


@functools.lru_cache(maxsize=4096)
def _target(
    server: MemberServer, user: str | None, secure: bool, transport: str, phone: bool
) -> SipUri | None:
    """The Contact URI at `server`, keeping the transport the request used; None
    when the request needs TLS and the server has none. Memoized: a REGISTER
    flood asks for the same few URIs over and over."""
    params: list[tuple[str, str | None]] = []
    if phone:
        params.append(("user", "phone"))
    if secure or transport == "tls":
        if server.tls_port is None:
            return None
        if not secure:
            params.append(("transport", "tls"))
        scheme, port = ("sips" if secure else "sip"), server.tls_port
    else:
        scheme, port = "sip", server.port
        if transport == "tcp":
            params.append(("transport", "tcp"))
    return SipUri(scheme, host=server.host, user=user, port=port, params=tuple(params))


def _number_of(uri: SipUri) -> str | None:
    if uri.scheme == "tel":
        return (uri.user or "").translate(_TEL_SEPARATORS)
    return uri.user


def _route(request: SipRequest, table: RoutingTable) -> tuple[MemberServer | None, str | None]:
    """(server, user part of the target) for the request, server None if unknown."""
    if request.method == "REGISTER":
        to_uri = request.to.sip_uri
        if to_uri is None or to_uri.scheme == "tel":
            return None, None
        return table.by_domain(to_uri.host_key), None
    uri = request.uri
    number = _number_of(uri)
    server = table.by_number(number) if number else None
    if server is None and uri.scheme != "tel":
        server = table.by_domain(uri.host_key)
    return server, number


def redirect(
    request: SipRequest,
    origin: Origin,
    table: RoutingTable,
    policy: RedirectPolicy = DEFAULT_POLICY,
) -> SipResponse | None:
    """The answer to `request`, or None when nothing must be sent (ACK).
    Raises SipParseError if a header the answer depends on is malformed."""
    method = request.method
    if method == "ACK":
        return None
    if request.max_forwards == 0 and method != "OPTIONS":
        return reply(request, origin, 483, "Too Many Hops", policy=policy)
    if method != "CANCEL":
        unsupported = [t for t in request.require if t not in policy.supported]
        if unsupported:
            extra = [("Unsupported", ", ".join(unsupported))]
            return reply(request, origin, 420, "Bad Extension", extra, policy)
    if method == "OPTIONS":
        extra = [("Allow", ALLOW), ("Accept", "application/sdp")]
        return reply(request, origin, 200, "OK", extra, policy)
    if method == "CANCEL":
        return reply(request, origin, 200, "OK", policy=policy)
    if method != "REGISTER" and method not in ROUTED_METHODS:
        return reply(request, origin, 405, "Method Not Allowed", [("Allow", ALLOW)], policy)
    if method == "REGISTER":
        if request.to.sip_uri is None:
            return reply(request, origin, 416, "Unsupported URI Scheme", policy=policy)
        if policy.register_tls_only and origin.transport != "tls":
            return reply(request, origin, 403, "Registration Requires TLS", policy=policy)
    server, user = _route(request, table)
    if server is None:
        return reply(request, origin, 404, "Not Found", policy=policy)
    uri = request.uri
    phone = uri.scheme == "tel" or uri.param("user") == "phone"
    secure = uri.scheme == "sips" or (method == "REGISTER" and request.to.uri.scheme == "sips")
    target = _target(server, user, secure, origin.transport, phone)
    if target is None:
        return reply(request, origin, 480, "No TLS Route To Member", policy=policy)
    if _same_target(target, uri):
        return reply(request, origin, 482, "Loop Detected", policy=policy)
    expires = str(policy.contact_expires)
    extra = [("Contact", f"<{target}>;expires={expires}"), ("Expires", expires)]
    return reply(request, origin, 302, "Moved Temporarily", extra, policy)
