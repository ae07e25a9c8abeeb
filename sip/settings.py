"""The redirect service's stored settings section, translated to ``RedirectSettings``.

Pure: the settings store keeps section ``redirect`` as a JSON document; ``settings_from``
lays it over the defaults and the per-process ``Overrides`` (command-line ports, the
certificate folder) and validates it by building ``RedirectSettings``; ``settings_json``
is the part an admin may see and set. Used by the API, by ``fedhub sip`` and by the hub.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from sip.service import RedirectSettings

SECTION = "redirect"
EDITABLE = (
    "enabled",
    "name",
    "node",
    "host",
    "udp_port",
    "tcp_port",
    "tls_port",
    "rate",
    "burst",
    "max_connections",
    "max_connections_per_address",
    "connection_rate",
    "connection_burst",
    "idle_timeout",
    "contact_expires",
    "register_tls_only",
)
"""What an admin may set; the rest (certificate folder, limits in code) is the node's."""


@dataclass(frozen=True)
class Overrides:
    """Per-process settings that win over storage (command-line ports, cert folder)."""

    cert_dir: Path | None = None
    node_name: str = ""  # this node's name; a redirect ``node`` setting names where it runs
    host: str | None = None
    udp_port: int | None = None
    tcp_port: int | None = None
    tls_port: int | None = None


def settings_from(stored: dict[str, Any], overrides: Overrides) -> RedirectSettings:
    """Stored section over the defaults, then the process overrides; raises ValueError."""
    known = {f.name for f in fields(RedirectSettings)}
    values = {k: v for k, v in stored.items() if k in known and k in EDITABLE}
    for name in ("host", "udp_port", "tcp_port", "tls_port"):
        v = getattr(overrides, name)
        if v is not None:
            values[name] = v
    values["cert_dir"] = overrides.cert_dir
    return RedirectSettings(**values)


def settings_json(s: RedirectSettings) -> dict[str, Any]:
    d = asdict(s)
    return {k: d[k] for k in EDITABLE}
