"""Hub nodes: what a node says of itself, its health, and the cluster plan.

A deployment is one primary node, or a cluster of one primary and an even number of
secondaries (an odd total, so that a majority always exists). `NodeInfo` validates a
node's own account (name, role, intranet address, NAT public address, DNS servers);
`health` grades its heartbeats; `parse_cluster` checks the installer's cluster file.
Every refusal is a `NodeError(code, message)`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

ROLES: Final = ("primary", "secondary")
MAX_DNS: Final = 3
MAX_CLUSTER: Final = 99
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class NodeError(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise NodeError(
            "invalid_node",
            f"node name {name[:70]!r}: 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
        )
    return name


def check_address(field: str, value: str) -> str:
    """The canonical form of an IP address, or NodeError naming the field."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise NodeError(
            "invalid_address", f"{field}: {value[:60]!r} is not an IP address"
        ) from None


@dataclass(frozen=True)
class NodeInfo:
    name: str
    role: str
    intranet_address: str
    public_address: str | None = None
    dns_servers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.role not in ROLES:
            raise NodeError("invalid_node", f"role must be one of {', '.join(ROLES)}")
        object.__setattr__(
            self, "intranet_address", check_address("intranet_address", self.intranet_address)
        )
        if self.public_address is not None:
            object.__setattr__(
                self, "public_address", check_address("public_address", self.public_address)
            )
        if len(self.dns_servers) > MAX_DNS:
            raise NodeError("invalid_node", f"at most {MAX_DNS} DNS servers")
        object.__setattr__(
            self, "dns_servers", tuple(check_address("dns_servers", d) for d in self.dns_servers)
        )


def health(last_heartbeat: datetime, now: datetime, interval: timedelta) -> str:
    """'up' (heard within two intervals), 'late' (within five) or 'down'."""
    silent = now - last_heartbeat
    if silent <= 2 * interval:
        return "up"
    if silent <= 5 * interval:
        return "late"
    return "down"


@dataclass(frozen=True)
class ClusterNode:
    name: str
    address: str


@dataclass(frozen=True)
class ClusterPlan:
    primary: ClusterNode
    secondaries: tuple[ClusterNode, ...]

    @property
    def size(self) -> int:
        return 1 + len(self.secondaries)


def parse_cluster(text: str) -> ClusterPlan:
    """A cluster file: one node per line, ``primary NAME ADDRESS`` or ``secondary NAME
    ADDRESS``; ``#`` starts a comment. Exactly one primary, unique names and addresses,
    an odd number of nodes in total."""
    primary: ClusterNode | None = None
    secondaries: list[ClusterNode] = []
    names: set[str] = set()
    addresses: set[str] = set()
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 3 or parts[0] not in ROLES:
            raise NodeError(
                "invalid_cluster", f"line {n}: expected 'primary|secondary NAME ADDRESS'"
            )
        role, name, address = parts
        try:
            node = ClusterNode(check_name(name), check_address("address", address))
        except NodeError as e:
            raise NodeError("invalid_cluster", f"line {n}: {e.message}") from None
        if node.name in names:
            raise NodeError("invalid_cluster", f"line {n}: node {name} is listed twice")
        if node.address in addresses:
            raise NodeError("invalid_cluster", f"line {n}: address {address} is listed twice")
        names.add(node.name)
        addresses.add(node.address)
        if role == "primary":
            if primary is not None:
                raise NodeError(
                    "invalid_cluster", f"line {n}: a second primary ({primary.name} is one)"
                )
            primary = node
        else:
            secondaries.append(node)
    if primary is None:
        raise NodeError("invalid_cluster", "no primary node")
    total = 1 + len(secondaries)
    if total > MAX_CLUSTER:
        raise NodeError("invalid_cluster", f"more than {MAX_CLUSTER} nodes")
    if total % 2 == 0:
        raise NodeError(
            "invalid_cluster",
            f"{total} nodes: a cluster needs an odd total (one primary and an even number "
            "of secondaries) so that a majority always exists",
        )
    return ClusterPlan(primary, tuple(secondaries))
