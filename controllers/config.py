"""What the hub needs to link one member server, and the tunables of every link."""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass
from urllib.parse import urlsplit

from controllers.messages import DEFAULT_MAX_FRAME


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
        parts = urlsplit(self.url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ConfigError(f"member {self.member_id}: link URL must be wss://HOST:PORT/…")
        if parts.scheme == "ws" and not is_loopback(parts.hostname):
            raise ConfigError(f"member {self.member_id}: plain ws:// is allowed on loopback only")
        if not parts.path.startswith("/fed/link"):
            raise ConfigError(f"member {self.member_id}: link path must start with /fed/link")
        if not self.domain or not self.username:
            raise ConfigError(f"member {self.member_id}: domain and username are required")
        if not self.password_hash.startswith("$argon2id$"):
            raise ConfigError(f"member {self.member_id}: password_hash must be argon2id PHC")


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
    ca_file: str | None = None
    """PEM file of the CAs (or self-signed member certificates) trusted for ``wss://``
    links; ``None`` trusts the system's CAs."""

    def __post_init__(self) -> None:
        if not 0 < self.heartbeat_interval < self.heartbeat_timeout:
            raise ConfigError("need 0 < heartbeat_interval < heartbeat_timeout")
        if not 0 < self.backoff_base <= self.backoff_cap:
            raise ConfigError("need 0 < backoff_base <= backoff_cap")

    @property
    def tick(self) -> float:
        """How often a link checks its timers."""
        return min(self.heartbeat_interval / 3, 0.5)


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return rng.uniform(0.0, min(cap, base * 2 ** min(attempt, 32)))
