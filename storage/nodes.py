"""The nodes table: each hub node registers itself at start and heartbeats after.

`register` writes the node's own account (its NAT public address and DNS servers
only when it knows them, so an admin's entry is kept); `heartbeat` moves
`last_heartbeat`; `update` is the admin's edit (the caller refuses the primary's
addresses).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy import select, update

from hub.nodes import NodeInfo
from storage.db import Database
from storage.models import NodeRow


@dataclass(frozen=True)
class NodeRecord:
    info: NodeInfo
    version: str
    started_at: datetime
    last_heartbeat: datetime


def _record(r: NodeRow) -> NodeRecord:
    info = NodeInfo(
        r.name,
        r.role,
        r.intranet_address,
        r.public_address,
        tuple(orjson.loads(r.dns_servers)),
    )
    return NodeRecord(info, r.version, r.started_at, r.last_heartbeat)


class NodeStore:
    def __init__(self, db: Database):
        self._db = db

    async def register(self, info: NodeInfo, version: str, now: datetime) -> NodeRecord:
        async with self._db.session() as s:
            r = await s.get(NodeRow, info.name)
            if r is None:
                r = NodeRow(name=info.name, public_address=None, dns_servers="[]")
                s.add(r)
            r.role = info.role
            r.intranet_address = info.intranet_address
            if info.public_address is not None:
                r.public_address = info.public_address
            if info.dns_servers:
                r.dns_servers = orjson.dumps(list(info.dns_servers)).decode()
            r.version = version[:64]
            r.started_at = now
            r.last_heartbeat = now
            await s.flush()
            return _record(r)

    async def heartbeat(self, name: str, now: datetime) -> bool:
        """False if the node's row is gone (it registers again)."""
        async with self._db.session() as s:
            res = await s.execute(
                update(NodeRow).where(NodeRow.name == name).values(last_heartbeat=now)
            )
            return bool(res.rowcount)  # type: ignore[attr-defined]

    async def list(self) -> list[NodeRecord]:
        async with self._db.session() as s:
            rows = (await s.execute(select(NodeRow).order_by(NodeRow.name))).scalars().all()
            return [_record(r) for r in rows]

    async def get(self, name: str) -> NodeRecord | None:
        async with self._db.session() as s:
            r = await s.get(NodeRow, name)
            return _record(r) if r else None

    async def update(self, info: NodeInfo) -> NodeRecord | None:
        """Store the admin's edit of the node's addresses; None if it is unknown."""
        async with self._db.session() as s:
            r = await s.get(NodeRow, info.name)
            if r is None:
                return None
            r.intranet_address = info.intranet_address
            r.public_address = info.public_address
            r.dns_servers = orjson.dumps(list(info.dns_servers)).decode()
            await s.flush()
            return _record(r)
