"""This node's account of itself: read from ``DATA/node.json``, registered at start,
heartbeat while it runs.

``node.json`` (written by the installer or ``fedhub node set``) holds ``name``,
``role``, ``intranet_address``, ``public_address`` and ``dns_servers``. Missing
values are found out: the host name, ``primary``, the address the host would use to
reach the outside (no packet is sent), the resolvers of ``/etc/resolv.conf``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from hub.nodes import MAX_DNS, NodeError, NodeInfo
from hub.version import fedhub_version
from storage.models import utcnow
from storage.nodes import NodeStore

log = logging.getLogger("fedhub.nodes")

NODE_FILE = "node.json"
HEARTBEAT = timedelta(seconds=15)


def _outbound_address() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: routing decision only, nothing sent
            return str(s.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def _resolvers(path: Path = Path("/etc/resolv.conf")) -> tuple[str, ...]:
    found: list[str] = []
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                found.append(parts[1].split("%")[0])
    return tuple(found[:MAX_DNS])


def read_identity(data_dir: Path) -> dict[str, Any]:
    path = data_dir / NODE_FILE
    try:
        values = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except orjson.JSONDecodeError as e:
        raise NodeError("invalid_node", f"{path} is not JSON: {e}") from None
    if not isinstance(values, dict):
        raise NodeError("invalid_node", f"{path} must hold a JSON object")
    return values


def identity(data_dir: Path) -> NodeInfo:
    """This node's account: the file's values over what is found out."""
    v = read_identity(data_dir)
    unknown = set(v) - {"name", "role", "intranet_address", "public_address", "dns_servers"}
    if unknown:
        raise NodeError("invalid_node", f"{data_dir / NODE_FILE}: unknown key {sorted(unknown)[0]}")
    dns = v.get("dns_servers")
    return NodeInfo(
        name=str(v.get("name") or socket.gethostname().split(".")[0] or "node"),
        role=str(v.get("role") or "primary"),
        intranet_address=str(v.get("intranet_address") or _outbound_address()),
        public_address=v.get("public_address"),
        dns_servers=tuple(dns) if isinstance(dns, list) else _resolvers(),
    )


def write_identity(data_dir: Path, info: NodeInfo) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / NODE_FILE
    body = {
        "name": info.name,
        "role": info.role,
        "intranet_address": info.intranet_address,
        "public_address": info.public_address,
        "dns_servers": list(info.dns_servers),
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))
    os.replace(tmp, path)
    return path


class NodeHeartbeat:
    """Registers this node at start and heartbeats every `interval` until stopped."""

    def __init__(
        self,
        store: NodeStore,
        info: NodeInfo,
        *,
        interval: timedelta = HEARTBEAT,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.store = store
        self.info = info
        self.interval = interval
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.store.register(self.info, fedhub_version(), self._clock())
        log.info(
            "node %s (%s) registered at %s",
            self.info.name,
            self.info.role,
            self.info.intranet_address,
        )
        self._task = asyncio.create_task(self._run(), name="node-heartbeat")

    async def beat(self) -> None:
        if not await self.store.heartbeat(self.info.name, self._clock()):
            await self.store.register(self.info, fedhub_version(), self._clock())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval.total_seconds())
            try:
                await self.beat()
            except Exception:
                log.exception("node heartbeat failed")
