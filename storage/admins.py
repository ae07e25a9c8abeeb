"""Admin accounts: roles, scopes, lockout state. Passwords are argon2id PHC strings.

Roles split the duties government customers require: ``admin`` operates its member's
subtree, ``security`` manages admin accounts, ``auditor`` only reads the audit log.
Usernames are unique ignoring case (a unique index on ``lower(username)``), and a login
finds its account ignoring case too.

Login lockout (the rule is ``hub.lockout``) is applied here under a row lock — ``SELECT
… FOR UPDATE`` on PostgreSQL, the database write lock SQLite's ``BEGIN IMMEDIATE``
takes — so it holds across every node sharing the database. Names that are no account
get the same counter in ``login_strangers`` (a digest of the name, never the name);
that table is bounded: counters whose failures are forgotten are dropped, and beyond
``max_strangers`` the oldest go first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.lockout import Attempt, Counter, LockoutPolicy, begin
from storage import upsert
from storage.db import Database
from storage.models import AdminRow, LoginStrangerRow, utcnow


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
    approval_pending_by: int | None = None  # who set its password via the API, awaiting a 2nd

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
            "pending_approval": self.approval_pending_by is not None,
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
        r.approval_pending_by,
    )


def stranger_key(username: str) -> str:
    """What ``login_strangers`` keeps of a name that is no account."""
    return hashlib.sha256(username.lower().encode()).hexdigest()


@dataclass(frozen=True)
class LoginAttempt:
    """A counted login attempt: the account (``None`` for an unknown name), its hash and
    the lockout verdict, given before any password is checked."""

    admin: Admin | None
    password_hash: str | None
    verdict: Attempt


class UsernameTaken(Exception):
    pass


class AdminStore:
    """Reads and writes admin accounts; the caller enforces who may do what."""

    def __init__(
        self,
        db: Database,
        *,
        max_failures: int = 5,
        lockout: timedelta = timedelta(minutes=15),
        max_strangers: int = 10_000,
    ):
        self._db = db
        self.max_failures = max_failures
        self.lockout = lockout
        self.max_strangers = max_strangers

    @property
    def policy(self) -> LockoutPolicy:
        return LockoutPolicy(self.max_failures, self.lockout, self.lockout)

    async def count(self) -> int:
        async with self._db.session() as s:
            return len((await s.execute(select(AdminRow.id))).all())

    async def get(self, admin_id: int) -> Admin | None:
        async with self._db.reading() as s:
            r = await s.get(AdminRow, admin_id)
            return _admin(r) if r else None

    async def credentials(self, username: str) -> tuple[Admin, str] | None:
        """The account (found ignoring case) and its hash. Not for logins: use
        ``begin_login``, which counts the attempt first."""
        async with self._db.session() as s:
            r = (
                await s.execute(
                    select(AdminRow).where(func.lower(AdminRow.username) == username.lower())
                )
            ).scalar_one_or_none()
            return (_admin(r), r.password_hash) if r else None

    async def begin_login(self, username: str) -> LoginAttempt:
        """Count a login attempt for ``username`` (an account or not) and say whether its
        password may be checked — atomically, before anyone checks it."""
        now = utcnow()
        async with self._db.session() as s:
            r = (
                await s.execute(
                    select(AdminRow)
                    .where(func.lower(AdminRow.username) == username.lower())
                    .with_for_update()
                )
            ).scalar_one_or_none()
            if r is not None:
                verdict = _count(self.policy, r, now)
                await s.flush()
                return LoginAttempt(_admin(r), r.password_hash, verdict)
            return LoginAttempt(None, None, await self._count_stranger(s, username, now))

    async def begin_attempt(self, admin_id: int) -> Attempt:
        """Count a password check of a known account (e.g. the old password on a change)."""
        async with self._db.session() as s:
            r = (
                await s.execute(select(AdminRow).where(AdminRow.id == admin_id).with_for_update())
            ).scalar_one()
            return _count(self.policy, r, utcnow())

    async def _count_stranger(self, s: AsyncSession, username: str, now: datetime) -> Attempt:
        key = stranger_key(username)
        ins = upsert.insert(s, LoginStrangerRow).values(key=key, failed_logins=0)
        created = (await s.execute(ins.on_conflict_do_nothing())).rowcount  # type: ignore[attr-defined]
        r = (
            await s.execute(
                select(LoginStrangerRow).where(LoginStrangerRow.key == key).with_for_update()
            )
        ).scalar_one()
        verdict, after = begin(
            self.policy, Counter(r.failed_logins, r.locked_until, r.last_failed_at), now
        )
        r.failed_logins, r.locked_until, r.last_failed_at = (
            after.failed,
            after.locked_until,
            after.last_failed_at,
        )
        if created:
            await self._bound_strangers(s, now)
        return verdict

    async def _bound_strangers(self, s: AsyncSession, now: datetime) -> None:
        # A counter whose failures are forgotten and whose lock ran out says nothing more.
        horizon = now - max(self.policy.memory, self.policy.duration)
        await s.execute(delete(LoginStrangerRow).where(LoginStrangerRow.last_failed_at < horizon))
        n = (await s.execute(select(func.count()).select_from(LoginStrangerRow))).scalar_one()
        if n > self.max_strangers:
            oldest = (
                select(LoginStrangerRow.key)
                .order_by(LoginStrangerRow.last_failed_at)
                .limit(n - self.max_strangers)
            )
            await s.execute(delete(LoginStrangerRow).where(LoginStrangerRow.key.in_(oldest)))

    async def stranger_count(self) -> int:
        async with self._db.session() as s:
            return int(
                (await s.execute(select(func.count()).select_from(LoginStrangerRow))).scalar_one()
            )

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
        approval_pending_by: int | None = None,
    ) -> Admin:
        """A new account; ``UsernameTaken`` if the name is taken ignoring case."""
        try:
            async with self._db.session() as s:
                taken = (
                    await s.execute(
                        select(AdminRow.id).where(func.lower(AdminRow.username) == username.lower())
                    )
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
                    approval_pending_by=approval_pending_by,
                )
                s.add(r)
                await s.flush()
                return _admin(r)
        except IntegrityError:  # the same name, created at the same moment elsewhere
            raise UsernameTaken(username) from None

    async def set_password(
        self,
        admin_id: int,
        password_hash: str,
        *,
        must_change: bool,
        approval_pending_by: int | None = None,
    ) -> None:
        """Store a new password; ``approval_pending_by``: set through the API by that
        security admin, so the account waits for a second person (``None`` clears it:
        its owner or the shell set it)."""
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
                    last_failed_at=None,
                    approval_pending_by=approval_pending_by,
                )
            )

    async def approve(self, admin_id: int) -> None:
        """A second person confirms credentials a security admin set."""
        async with self._db.session() as s:
            await s.execute(
                update(AdminRow).where(AdminRow.id == admin_id).values(approval_pending_by=None)
            )

    async def record_success(self, admin_id: int) -> None:
        async with self._db.session() as s:
            await s.execute(
                update(AdminRow)
                .where(AdminRow.id == admin_id)
                .values(failed_logins=0, locked_until=None, last_failed_at=None)
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


def _count(policy: LockoutPolicy, r: AdminRow, now: datetime) -> Attempt:
    verdict, after = begin(policy, Counter(r.failed_logins, r.locked_until, r.last_failed_at), now)
    r.failed_logins, r.locked_until, r.last_failed_at = (
        after.failed,
        after.locked_until,
        after.last_failed_at,
    )
    return verdict
