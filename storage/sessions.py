"""Server-side browser sessions: revocable, with idle and absolute timeouts.

The cookie carries a random token; only its SHA-256 is stored, so a leaked database
does not hand out live sessions. Each session has its own CSRF token.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from storage.db import Database
from storage.models import SessionRow, utcnow


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    id: str  # the digest, never the token
    admin_id: int
    csrf_token: str
    created_at: datetime
    expires_at: datetime


ACTIVITY_GRAIN = timedelta(seconds=30)
"""The idle timer is restarted at most this often (rewriting the row on every request
would serialize reads)."""


class SessionStore:
    """Create, look up (sliding the idle timer), and revoke sessions.

    ``clock`` tells the time (tests inject one to move past the idle timeout without
    waiting)."""

    def __init__(
        self,
        db: Database,
        *,
        idle: timedelta = timedelta(minutes=30),
        absolute: timedelta = timedelta(hours=12),
        clock: Callable[[], datetime] = utcnow,
    ):
        self._db = db
        self.idle = idle
        self.absolute = absolute
        self.clock = clock

    async def create(self, admin_id: int, source_ip: str, user_agent: str) -> tuple[str, Session]:
        """A new session; returns the token for the cookie (shown once) and the session."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        row = SessionRow(
            id=token_digest(token),
            admin_id=admin_id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
            expires_at=now + self.absolute,
            source_ip=source_ip[:64],
            user_agent=user_agent[:256],
        )
        async with self._db.session() as s:
            s.add(row)
        return token, _session(row)

    async def touch(self, token: str, *, activity: bool = True) -> Session | None:
        """The live session for ``token``, its idle timer restarted; ``None`` if gone.

        ``activity=False`` (a page polling on its own, not the admin doing something)
        looks the session up without restarting the idle timer, so a page left open
        still idles out."""
        now = self.clock()
        key = token_digest(token)
        async with self._db.reading() as s:  # most lookups write nothing
            row = await s.get(SessionRow, key)
        if row is None:
            return None
        if row.expires_at <= now or row.last_seen_at + self.idle <= now:
            async with self._db.session() as s:  # unless another request just slid it
                await s.execute(
                    delete(SessionRow).where(
                        SessionRow.id == key,
                        (SessionRow.expires_at <= now)
                        | (SessionRow.last_seen_at <= now - self.idle),
                    )
                )
            return None
        if activity and now - row.last_seen_at > ACTIVITY_GRAIN:
            async with self._db.session() as s:
                await s.execute(
                    update(SessionRow)
                    .where(SessionRow.id == key, SessionRow.last_seen_at < now)
                    .values(last_seen_at=now)
                )
            row.last_seen_at = now
        return _session(row)

    async def revoke(self, token: str) -> None:
        async with self._db.session() as s:
            await s.execute(delete(SessionRow).where(SessionRow.id == token_digest(token)))

    async def revoke_all(self, admin_id: int, *, except_id: str | None = None) -> int:
        """End every session of an admin (after a password change, lock or deletion)."""
        async with self._db.session() as s:
            q = delete(SessionRow).where(SessionRow.admin_id == admin_id)
            if except_id is not None:
                q = q.where(SessionRow.id != except_id)
            res = await s.execute(q)
            return int(res.rowcount or 0)  # type: ignore[attr-defined]

    async def purge_expired(self) -> int:
        now = self.clock()
        async with self._db.session() as s:
            res = await s.execute(
                delete(SessionRow).where(
                    (SessionRow.expires_at <= now) | (SessionRow.last_seen_at <= now - self.idle)
                )
            )
            return int(res.rowcount or 0)  # type: ignore[attr-defined]

    async def count(self, admin_id: int) -> int:
        async with self._db.session() as s:
            return len(
                (
                    await s.execute(select(SessionRow.id).where(SessionRow.admin_id == admin_id))
                ).all()
            )


def _session(r: SessionRow) -> Session:
    return Session(r.id, r.admin_id, r.csrf_token, r.created_at, r.expires_at)
