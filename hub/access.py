"""Center access URLs: which of the platform's addresses a client should be given.

The platform has an intranet URL and an extranet URL; a client whose address lies
in one of the intranet networks gets the intranet one, everybody else the
extranet one (each falls back on the other when only one is set). Links in pages
and in mails (password reset) are built from the chosen URL, never from the
request's Host header, which the client controls.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

DEFAULT_INTRANET: Final = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "127.0.0.0/8",
    "::1/128",
    "fc00::/7",
)
MAX_NETWORKS: Final = 256

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _url(name: str, value: str) -> str:
    if not value:
        return ""
    if len(value) > 2048:
        raise ValueError(f"{name} is longer than 2048 characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name} must be an http(s) URL with a host, like https://hub.example")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{name} must not carry a query, a fragment or credentials")
    return value.rstrip("/")


@dataclass(frozen=True)
class AccessUrls:
    intranet_url: str = ""
    extranet_url: str = ""
    intranet_networks: tuple[Network, ...] = tuple(
        ipaddress.ip_network(n) for n in DEFAULT_INTRANET
    )

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> AccessUrls:
        """Validated settings; raises ValueError naming the bad field."""
        unknown = set(values) - {"intranet_url", "extranet_url", "intranet_networks"}
        if unknown:
            raise ValueError(f"unknown field {sorted(unknown)[0]}")
        nets = values.get("intranet_networks")
        if nets is None:
            networks = cls().intranet_networks
        else:
            if len(nets) > MAX_NETWORKS:
                raise ValueError(f"at most {MAX_NETWORKS} intranet networks")
            try:
                networks = tuple(ipaddress.ip_network(str(n), strict=False) for n in nets)
            except ValueError as e:
                raise ValueError(f"intranet_networks: {e}") from None
        return cls(
            _url("intranet_url", str(values.get("intranet_url") or "")),
            _url("extranet_url", str(values.get("extranet_url") or "")),
            networks,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "intranet_url": self.intranet_url,
            "extranet_url": self.extranet_url,
            "intranet_networks": [str(n) for n in self.intranet_networks],
        }

    def is_intranet(self, client_ip: str) -> bool:
        try:
            ip = ipaddress.ip_address(client_ip)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == n.version and ip in n for n in self.intranet_networks)

    def for_client(self, client_ip: str) -> str | None:
        """The base URL (no trailing slash) to give `client_ip`; None if none is set."""
        first, second = (
            (self.intranet_url, self.extranet_url)
            if self.is_intranet(client_ip)
            else (self.extranet_url, self.intranet_url)
        )
        return first or second or None
