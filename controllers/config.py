"""What the hub needs to link one member server, and the tunables of every link.

A link destination is constrained twice: its URL when the configuration is built
(``wss://HOST:PORT/fed/link[/<domain>]``, nothing else — no dot segments, no query,
no credentials, a real port; stored normalised), and every address its host resolves
to right before dialling (``LinkSettings.destination_refusal``: loopback, link-local
and other special addresses are refused unless an allowed network holds them).
"""

from __future__ import annotations

import ipaddress
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from controllers.messages import DEFAULT_MAX_FRAME
from hub.trust import MemberLimits

LINK_PATH = "/fed/link"
_SEGMENT = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(ValueError):
    """A link configuration is unusable; the text says which field and why."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class MemberLinkConfig:
    """One member's link: where to dial and the credentials to prove.

    ``password_hash`` is the stored argon2id PHC string (never a plaintext password).
    ``url`` is ``wss://HOST:PORT/fed/link[/<domain>]``; plain ``ws://`` only on loopback.
    """

    member_id: int
    domain: str
    url: str
    username: str
    password_hash: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", normalise_link_url(self.url, self.member_id))
        if not self.domain or not self.username:
            raise ConfigError(f"member {self.member_id}: domain and username are required")
        if not self.password_hash.startswith("$argon2id$"):
            raise ConfigError(f"member {self.member_id}: password_hash must be argon2id PHC")


def normalise_link_url(url: str, member_id: int | None = None) -> str:
    """``url`` checked and normalised (lower-case scheme and host, explicit port, no
    trailing slash); ``ConfigError`` says what is wrong (naming ``member_id`` when
    given). The path is ``/fed/link`` or ``/fed/link/<domain>``: no dot segments,
    escapes, query, fragment or credentials. The one rule for a link URL: the link
    configuration and the members API both apply it."""
    who = f"member {member_id}: " if member_id is not None else ""
    if not isinstance(url, str) or len(url) > 512 or any(c.isspace() for c in url):
        raise ConfigError(f"{who}link URL must be wss://HOST:PORT/fed/link[/DOMAIN]")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "wss") or not parts.hostname:
        raise ConfigError(f"{who}link URL must be wss://HOST:PORT/…")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(f"{who}link URL must not hold credentials")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise ConfigError(f"{who}link URL must not have a query or fragment")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"{who}link URL port must be a number in 1..65535") from None
    if port == 0:
        raise ConfigError(f"{who}link URL port must be a number in 1..65535")
    host = parts.hostname.lower()
    if scheme == "ws" and not is_loopback(host):
        raise ConfigError(f"{who}plain ws:// is allowed on loopback only")
    path = parts.path.rstrip("/") if parts.path != "/" else parts.path
    tail = path[len(LINK_PATH) :] if path.startswith(LINK_PATH) else None
    if tail is None or (tail and not tail.startswith("/")):
        raise ConfigError(f"{who}link path must be {LINK_PATH} or {LINK_PATH}/<domain>")
    segment = tail[1:]
    if segment and (
        not _SEGMENT.match(segment) or ".." in segment or "/" in segment or "%" in segment
    ):
        raise ConfigError(
            f"{who}link path must be {LINK_PATH} or {LINK_PATH}/<domain> "
            "(no dot segments, escapes or further segments)"
        )
    netloc = f"[{host}]" if ":" in host else host
    netloc += f":{port if port is not None else (443 if scheme == 'wss' else 80)}"
    return urlunsplit((scheme, netloc, path, "", ""))


def parse_networks(networks: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDR strings (``10.0.0.0/8``, ``127.0.0.1``, ``::1/128``) as networks."""
    out: list[IPNetwork] = []
    for text in networks:
        try:
            out.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError as exc:
            raise ConfigError(f"allowed link network {text!r}: {exc}") from None
    return tuple(out)


def _special(addr: IPAddress) -> bool:
    return (
        addr.is_loopback
        or addr.is_link_local
        or addr.is_unspecified
        or addr.is_multicast
        or addr.is_reserved
        or (isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None)
    )


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """Timers and limits shared by every link (seconds, bytes).

    Defaults notice a dead peer within 10 s: a heartbeat every 3 s, and the link is
    reset when nothing at all has arrived for 9 s.
    """

    heartbeat_interval: float = 3.0
    heartbeat_timeout: float = 9.0
    handshake_timeout: float = 10.0
    snapshot_timeout: float = 30.0
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    stable_after: float = 10.0
    close_timeout: float = 2.0
    max_frame: int = DEFAULT_MAX_FRAME
    """Largest frame accepted while a snapshot is awaited (bytes, before decoding)."""
    max_message: int = 512 * 1024
    """Largest frame accepted otherwise: an event carries at most one conference."""
    events_per_second: float = 500.0
    """Sustained events a member may send; ``event_burst`` more may come at once."""
    event_burst: int = 5000
    limits: MemberLimits = field(default_factory=MemberLimits)
    allowed_networks: tuple[str, ...] = ()
    """Where links may go (CIDR). Empty: any address but loopback, link-local and other
    special ones; those are allowed only when a listed network holds them."""
    ca_file: str | None = None
    """PEM file of the CAs (or self-signed member certificates) trusted for ``wss://``
    links; ``None`` trusts the system's CAs."""

    def __post_init__(self) -> None:
        if not 0 < self.heartbeat_interval < self.heartbeat_timeout:
            raise ConfigError("need 0 < heartbeat_interval < heartbeat_timeout")
        if not 0 < self.backoff_base <= self.backoff_cap:
            raise ConfigError("need 0 < backoff_base <= backoff_cap")
        if not 0 < self.max_message <= self.max_frame:
            raise ConfigError("need 0 < max_message <= max_frame")
        if self.events_per_second <= 0 or self.event_burst < 1:
            raise ConfigError("need events_per_second > 0 and event_burst >= 1")
        parse_networks(self.allowed_networks)

    def destination_refusal(self, addresses: Iterable[IPAddress]) -> str | None:
        """Why a link may not dial these (resolved) addresses, or None when it may.

        Every address must pass: a name that resolves to one refused address is refused.
        """
        allowed = parse_networks(self.allowed_networks)
        for addr in addresses:
            listed = any(addr.version == n.version and addr in n for n in allowed)
            if allowed and not listed:
                return f"destination {addr} is not in the allowed link networks"
            if not listed and _special(addr):
                return (
                    f"destination {addr} is a loopback, link-local or special address; "
                    "allow it with the allowed link networks setting"
                )
        return None

    @property
    def tick(self) -> float:
        """How often a link checks its timers."""
        return min(self.heartbeat_interval / 3, 0.5)


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return rng.uniform(0.0, min(cap, base * 2 ** min(attempt, 32)))
