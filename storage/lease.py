"""Leases for singleton jobs: exactly one node runs each (member links, schedules, …).

On PostgreSQL a lease is a session advisory lock held on a connection of its own: it
is released when the holder releases it or when its connection dies (the node
crashed), so another node can take over — no home-made consensus. SQLite serves one
node, which always holds every lease.
"""

from __future__ import annotations

import hashlib
import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import Database

log = logging.getLogger("fedhub.lease")


def lease_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``name``."""
    return int.from_bytes(
        hashlib.sha256(f"fedhub:{name}".encode()).digest()[:8], "big", signed=True
    )


class Lease:
    """Try, check and release one named lease. Not safe for concurrent use."""

    def __init__(self, db: Database, name: str):
        self._db = db
        self.name = name
        self.key = lease_key(name)
        self._conn: AsyncConnection | None = None
        self._held = False

    @property
    def held(self) -> bool:
        return self._held

    async def try_acquire(self) -> bool:
        """Take the lease if nobody holds it; True if this node holds it now."""
        if self._held:
            return await self.still_held()
        if self._db.dialect != "postgresql":
            self._held = True
            return True
        try:
            if self._conn is None:
                self._conn = await self._db.engine.connect()
            got = (
                await self._conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key})
            ).scalar()
            await self._conn.commit()
        except Exception as e:
            log.warning("lease %s: %s", self.name, e)
            await self._drop()
            return False
        self._held = bool(got)
        if self._held:
            log.info("this node now holds the %s lease", self.name)
        return self._held

    async def still_held(self) -> bool:
        """Check the holding connection is alive (a dead one has lost the lock)."""
        if not self._held or self._conn is None:
            return self._held
        try:
            await self._conn.execute(text("SELECT 1"))
            await self._conn.commit()
            return True
        except Exception as e:
            log.warning("lost the %s lease: %s", self.name, e)
            await self._drop()
            return False

    async def release(self) -> None:
        if self._conn is not None and self._held:
            try:
                await self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                await self._conn.commit()
            except Exception as e:
                log.warning("lease %s release: %s", self.name, e)
        await self._drop()

    async def _drop(self) -> None:
        self._held = False
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:  # already broken
                log.debug("closing a broken lease connection", exc_info=True)
