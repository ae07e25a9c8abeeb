"""Is a hub running on this data? The hub says so; a restore asks before it touches anything.

A running hub holds a *shared* lock on ``<data>/fedhub.lock`` (``flock``: it dies with
the process, so a crash leaves nothing stale) and, on PostgreSQL, a shared session
advisory lock on its own connection, so every node of a cluster counts. A restore takes
both locks *exclusively* and keeps them until it is done: it is refused while any hub
runs, and a hub that starts during a restore refuses to start.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import IO

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import Database
from storage.lease import lease_key

log = logging.getLogger("fedhub.ops")

LOCK_FILE = "fedhub.lock"
PRESENCE_KEY = lease_key("hub-running")

STOP_FIRST = (
    "stop every hub node first (e.g. 'systemctl stop fedhub' on each node, or end "
    "'fedhub serve'/'fedhub demo'), then run the restore again; start the hub once it is done"
)


class HubRunning(Exception):
    """A hub uses this data directory or database; the message says what to do."""


class Presence:
    """Held by a running hub (``shared``) or by a restore (``exclusive``)."""

    def __init__(self, data_dir: Path, db: Database | None, *, exclusive: bool):
        self._path = data_dir / LOCK_FILE
        self._db = db
        self._exclusive = exclusive
        self._file: IO[str] | None = None
        self._conn: AsyncConnection | None = None

    async def start(self) -> None:
        """Take the locks, or raise :class:`HubRunning`."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        f = self._path.open("a+")
        mode = fcntl.LOCK_EX if self._exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(f.fileno(), mode | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise HubRunning(self._refusal("this data directory")) from None
        self._file = f
        if not self._exclusive:
            f.seek(0)
            f.truncate()
            f.write(f"{os.getpid()}\n")
            f.flush()
        if self._db is not None and self._db.dialect == "postgresql":
            conn = await self._db.engine.connect()
            fn = "pg_try_advisory_lock" if self._exclusive else "pg_try_advisory_lock_shared"
            got = (await conn.execute(text(f"SELECT {fn}(:k)"), {"k": PRESENCE_KEY})).scalar()
            await conn.commit()
            if not got:
                await conn.close()
                await self.stop()
                raise HubRunning(self._refusal("this database"))
            self._conn = conn

    def _refusal(self, what: str) -> str:
        if self._exclusive:
            return f"a hub is running on {what}: {STOP_FIRST}"
        return f"a restore is running on {what}: start the hub when it has finished"

    async def stop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()  # ends the session, and with it the advisory lock
            except Exception:
                log.debug("closing the presence connection", exc_info=True)
        f, self._file = self._file, None
        if f is not None:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            f.close()
