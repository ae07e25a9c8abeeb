"""Forgot-password links: single use, expiring, hashed at rest; and admins' mail addresses.

`issue` makes a random token for an admin (only its SHA-256 is stored; any older
unused link of that admin dies with it) and returns it once, for the mail. `consume`
spends a token exactly once, atomically: a second use, an expired or unknown token
all answer ``None`` alike.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update

from storage.db import Database
from storage.models import AdminRow, PasswordResetRow, utcnow
from storage.sessions import token_digest


class PasswordResets:
    def __init__(self, db: Database, *, lifetime: timedelta = timedelta(minutes=30)):
        self._db = db
        self.lifetime = lifetime

    async def issue(self, admin_id: int, source_ip: str, now: datetime | None = None) -> str:
        """A new reset token for `admin_id` (returned once; the caller mails it)."""
        now = now or utcnow()
        token = secrets.token_urlsafe(32)
        async with self._db.session() as s:
            await s.execute(
                delete(PasswordResetRow).where(
                    (PasswordResetRow.admin_id == admin_id) | (PasswordResetRow.expires_at <= now)
                )
            )
            s.add(
                PasswordResetRow(
                    id=token_digest(token),
                    admin_id=admin_id,
                    created_at=now,
                    expires_at=now + self.lifetime,
                    used_at=None,
                    source_ip=source_ip[:64],
                )
            )
        return token

    async def peek(self, token: str, now: datetime | None = None) -> int | None:
        """The admin id of a live token, without spending it."""
        if not token or len(token) > 128:
            return None
        now = now or utcnow()
        async with self._db.session() as s:
            admin_id = (
                await s.execute(
                    select(PasswordResetRow.admin_id).where(
                        PasswordResetRow.id == token_digest(token),
                        PasswordResetRow.used_at.is_(None),
                        PasswordResetRow.expires_at > now,
                    )
                )
            ).scalar()
            return None if admin_id is None else int(admin_id)

    async def consume(self, token: str, now: datetime | None = None) -> int | None:
        """The admin id the token was issued for, spending it; ``None`` if it is unknown,
        used or expired. Of two concurrent uses exactly one wins."""
        if not token or len(token) > 128:
            return None
        now = now or utcnow()
        digest = token_digest(token)
        async with self._db.session() as s:
            admin_id = (
                await s.execute(
                    select(PasswordResetRow.admin_id).where(
                        PasswordResetRow.id == digest,
                        PasswordResetRow.used_at.is_(None),
                        PasswordResetRow.expires_at > now,
                    )
                )
            ).scalar()
            if admin_id is None:
                return None
            res = await s.execute(
                update(PasswordResetRow)
                .where(PasswordResetRow.id == digest, PasswordResetRow.used_at.is_(None))
                .values(used_at=now)
            )
            if res.rowcount != 1:  # type: ignore[attr-defined]
                return None
            return int(admin_id)

    async def last_issued(self, admin_id: int) -> datetime | None:
        """When the admin's newest link was made (to throttle mails per account)."""
        async with self._db.session() as s:
            return (
                await s.execute(
                    select(func.max(PasswordResetRow.created_at)).where(
                        PasswordResetRow.admin_id == admin_id
                    )
                )
            ).scalar()

    async def set_email(self, admin_id: int, email: str | None) -> None:
        async with self._db.session() as s:
            await s.execute(update(AdminRow).where(AdminRow.id == admin_id).values(email=email))

    async def email_of(self, admin_id: int) -> str | None:
        async with self._db.session() as s:
            return (await s.execute(select(AdminRow.email).where(AdminRow.id == admin_id))).scalar()
