"""Bearer API tokens for scripts: each acts as the admin that made it, never more.

A token is shown once when made (``fh_`` + random); the table keeps its SHA-256 and a
short prefix to tell tokens apart in listings.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from storage.db import Database
from storage.models import ApiTokenRow, utcnow
from storage.sessions import token_digest

USE_GRAIN = timedelta(seconds=60)
"""A token's ``last_used_at`` is written when it is older than this (not on every call)."""

PREFIX = "fh_"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_RECORDED = 10_000


@dataclass(frozen=True)
class ApiToken:
    id: int
    admin_id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def to_json(self) -> dict[str, object]:
        def iso(d: datetime | None) -> str | None:
            return d.isoformat() if d else None

        return {
            "id": self.id,
            "admin_id": self.admin_id,
            "name": self.name,
            "prefix": self.prefix,
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "last_used_at": iso(self.last_used_at),
            "revoked_at": iso(self.revoked_at),
        }


def _token(r: ApiTokenRow) -> ApiToken:
    return ApiToken(
        r.id, r.admin_id, r.name, r.prefix, r.created_at, r.expires_at, r.last_used_at, r.revoked_at
    )


class TokenStore:
    """API tokens: created, looked up on every scripted call, revoked."""

    def __init__(self, db: Database):
        self._db = db
        # token id -> when this node last wrote its use: many calls at once with one
        # token (a wall of dashboards reconnecting) write it once, not once each
        self._recorded: dict[int, datetime] = {}

    async def create(
        self, admin_id: int, name: str, expires_at: datetime | None = None
    ) -> tuple[str, ApiToken]:
        secret = PREFIX + secrets.token_urlsafe(32)
        row = ApiTokenRow(
            admin_id=admin_id,
            name=name,
            token_hash=token_digest(secret),
            prefix=secret[:10],
            created_at=utcnow(),
            expires_at=expires_at,
        )
        async with self._db.session() as s:
            s.add(row)
            await s.flush()
            return secret, _token(row)

    async def authenticate(self, secret: str) -> ApiToken | None:
        """The live token for ``secret`` (records its use), or ``None``."""
        if not secret.startswith(PREFIX) or len(secret) > 128:
            return None
        now = utcnow()
        async with self._db.reading() as s:
            row = (
                await s.execute(
                    select(ApiTokenRow).where(ApiTokenRow.token_hash == token_digest(secret))
                )
            ).scalar_one_or_none()
        if row is None or row.revoked_at is not None:
            return None
        if row.expires_at is not None and row.expires_at <= now:
            return None
        last = max(row.last_used_at or EPOCH, self._recorded.get(row.id, EPOCH))
        if now - last > USE_GRAIN:
            # written at most once per USE_GRAIN: a script's every call is not a write
            if len(self._recorded) > MAX_RECORDED:
                self._recorded.clear()
            self._recorded[row.id] = now  # before the write: the calls meanwhile skip it
            async with self._db.session() as s:
                await s.execute(
                    update(ApiTokenRow)
                    .where(ApiTokenRow.id == row.id, ApiTokenRow.revoked_at.is_(None))
                    .values(last_used_at=now)
                )
            last = now
        row.last_used_at = last
        return _token(row)

    async def list(self, admin_id: int) -> Sequence[ApiToken]:
        async with self._db.session() as s:
            rows = (
                await s.execute(
                    select(ApiTokenRow)
                    .where(ApiTokenRow.admin_id == admin_id)
                    .order_by(ApiTokenRow.id)
                )
            ).scalars()
            return [_token(r) for r in rows]

    async def revoke_all(self, admin_id: int) -> int:
        """Revoke every live token of ``admin_id``; how many there were."""
        async with self._db.session() as s:
            result = await s.execute(
                update(ApiTokenRow)
                .where(ApiTokenRow.admin_id == admin_id, ApiTokenRow.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def revoke(self, admin_id: int, token_id: int) -> bool:
        async with self._db.session() as s:
            row = await s.get(ApiTokenRow, token_id)
            if row is None or row.admin_id != admin_id:
                return False
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            return True
