"""Admin accounts: roles, scopes, lockout state. Passwords are argon2id PHC strings.

Roles split the duties government customers require: ``admin`` operates its member's
subtree, ``security`` manages admin accounts, ``auditor`` only reads the audit log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select, update

from storage.db import Database
from storage.models import AdminRow, utcnow


class Role(StrEnum):
    ADMIN = "admin"
    SECURITY = "security"
    AUDITOR = "auditor"


@dataclass(frozen=True)
class Admin:
    """What the rest of fedhub knows of an account (never the hash)."""

    id: int
    username: str
    role: Role
    member_id: int | None
    password_change_required: bool
    locked_until: datetime | None
    disabled: bool
    created_at: datetime

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "username": self.username,
            "role": str(self.role),
            "member_id": self.member_id,
            "password_change_required": self.password_change_required,
            "locked_until": self.locked_until.isoformat() if self.locked_until else None,
            "disabled": self.disabled,
            "created_at": self.created_at.isoformat(),
        }


def _admin(r: AdminRow) -> Admin:
    return Admin(
        r.id,
        r.username,
        Role(r.role),
        r.member_id,
        r.password_change_required,
        r.locked_until,
        r.disabled,
        r.created_at,
    )


class UsernameTaken(Exception):
    pass


class AdminStore:
    """Reads and writes admin accounts; the caller enforces who may do what."""

    def __init__(
        self, db: Database, *, max_failures: int = 5, lockout: timedelta = timedelta(minutes=15)
    ):
        self._db = db
        self.max_failures = max_failures
        self.lockout = lockout

    async def count(self) -> int:
        async with self._db.session() as s:
            return len((await s.execute(select(AdminRow.id))).all())

    async def get(self, admin_id: int) -> Admin | None:
        async with self._db.session() as s:
            r = await s.get(AdminRow, admin_id)
            return _admin(r) if r else None

    async def credentials(self, username: str) -> tuple[Admin, str] | None:
        """The account and its hash, for checking a login."""
        async with self._db.session() as s:
            r = (
                await s.execute(select(AdminRow).where(AdminRow.username == username))
            ).scalar_one_or_none()
            return (_admin(r), r.password_hash) if r else None

    async def password_hash(self, admin_id: int) -> str | None:
        async with self._db.session() as s:
            r = await s.get(AdminRow, admin_id)
            return r.password_hash if r else None

    async def list(self, member_ids: set[int] | None) -> Sequence[Admin]:
        """Accounts whose member is in ``member_ids`` (``None``: all accounts)."""
        async with self._db.session() as s:
            q = select(AdminRow).order_by(AdminRow.id)
            rows = (await s.execute(q)).scalars().all()
            return [
                _admin(r)
                for r in rows
                if member_ids is None or (r.member_id is not None and r.member_id in member_ids)
            ]

    async def create(
        self,
        username: str,
        password_hash: str,
        role: Role,
        member_id: int | None,
        *,
        password_change_required: bool = True,
    ) -> Admin:
        async with self._db.session() as s:
            taken = (
                await s.execute(select(AdminRow.id).where(AdminRow.username == username))
            ).first()
            if taken:
                raise UsernameTaken(username)
            r = AdminRow(
                username=username,
                password_hash=password_hash,
                role=str(role),
                member_id=member_id,
                password_change_required=password_change_required,
                failed_logins=0,
                disabled=False,
                created_at=utcnow(),
            )
            s.add(r)
            await s.flush()
            return _admin(r)

    async def set_password(self, admin_id: int, password_hash: str, *, must_change: bool) -> None:
        async with self._db.session() as s:
            await s.execute(
                update(AdminRow)
                .where(AdminRow.id == admin_id)
                .values(
                    password_hash=password_hash,
                    password_change_required=must_change,
                    password_changed_at=utcnow(),
                    failed_logins=0,
                    locked_until=None,
                )
            )

    async def record_failure(self, admin_id: int) -> Admin:
        """Count a failed login; the ``max_failures``-th locks the account."""
        async with self._db.session() as s:
            r = await s.get(AdminRow, admin_id)
            assert r is not None
            r.failed_logins += 1
            if r.failed_logins >= self.max_failures:
                r.locked_until = utcnow() + self.lockout
                r.failed_logins = 0
            await s.flush()
            return _admin(r)

    async def record_success(self, admin_id: int) -> None:
        async with self._db.session() as s:
            await s.execute(
                update(AdminRow)
                .where(AdminRow.id == admin_id)
                .values(failed_logins=0, locked_until=None)
            )

    async def unlock(self, admin_id: int) -> None:
        await self.record_success(admin_id)

    async def set_disabled(self, admin_id: int, disabled: bool) -> None:
        async with self._db.session() as s:
            await s.execute(
                update(AdminRow).where(AdminRow.id == admin_id).values(disabled=disabled)
            )

    async def delete(self, admin_id: int) -> None:
        async with self._db.session() as s:
            r = await s.get(AdminRow, admin_id)
            if r is not None:
                await s.delete(r)
