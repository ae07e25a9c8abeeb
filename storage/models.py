"""SQLAlchemy 2 table models: what fedhub keeps on disk.

The schema itself is owned by the Alembic migrations in ``migrations/versions``; these
classes must match them (a test compares the two).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, whatever the backend keeps (SQLite keeps naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class FederationRevision(Base):
    """One row: bumped by every change to members or number ranges.

    Each node caches the federation in memory and reloads it when the stored revision
    moves; the UPDATE that bumps it is also the write lock that serializes changes.
    """

    __tablename__ = "federation_revision"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


class MemberRow(Base):
    __tablename__ = "members"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    level: Mapped[int] = mapped_column(Integer, nullable=False)
    domain: Mapped[str] = mapped_column(String(253), nullable=False, unique=True)
    display_name: Mapped[str] = mapped_column(String(128), nullable=False)
    username: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    password_hash: Mapped[str] = mapped_column(String(256), nullable=False)
    remark: Mapped[str] = mapped_column(Text, nullable=False, default="")
    server_url: Mapped[str | None] = mapped_column(String(512), nullable=True)
    sip_host: Mapped[str | None] = mapped_column(String(253), nullable=True)
    sip_port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class NumberRangeRow(Base):
    """A block of numbers held by a member, given by an admin above it (see granted_by)."""

    __tablename__ = "number_ranges"
    __table_args__ = (Index("ix_number_ranges_extent", "length", "start_value", "end_value"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    start: Mapped[str] = mapped_column(String(15), nullable=False)
    end: Mapped[str] = mapped_column(String(15), nullable=False)
    length: Mapped[int] = mapped_column(Integer, nullable=False)
    start_value: Mapped[int] = mapped_column(BigInteger, nullable=False)
    end_value: Mapped[int] = mapped_column(BigInteger, nullable=False)
    remark: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # The member whose admin gave the range (out of its subtree's blocks); NULL: the
    # federation-wide admin. Who holds which numbers follows from the ranges themselves
    # (nesting and member levels: hub.numbering); this only records who gave them.
    granted_by: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="RESTRICT"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class AdminRow(Base):
    __tablename__ = "admins"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    password_hash: Mapped[str] = mapped_column(String(256), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    password_change_required: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)  # for reset mails
    # the security admin who set this account's password through the API; until a second
    # person (another security admin, or the shell) approves, the account cannot log in
    approval_pending_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


# 'Admin' next to 'admin' would read as one person in the audit log
Index("ux_admins_username_lower", func.lower(AdminRow.username), unique=True)


class LoginStrangerRow(Base):
    """Lockout counter of a login name that is no account, so that it locks like one.

    Keyed by the SHA-256 of the lower-cased name (the name itself is never stored);
    ``storage.admins`` bounds the table.
    """

    __tablename__ = "login_strangers"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failed_logins: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)


class SessionRow(Base):
    """A browser session; the cookie holds a random token, the table its SHA-256."""

    __tablename__ = "sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    admin_id: Mapped[int] = mapped_column(
        ForeignKey("admins.id", ondelete="CASCADE"), nullable=False, index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    source_ip: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    user_agent: Mapped[str] = mapped_column(String(256), nullable=False, default="")


class ApiTokenRow(Base):
    """A bearer token for scripts; acts as the admin that made it, never more."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    admin_id: Mapped[int] = mapped_column(
        ForeignKey("admins.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AuditRow(Base):
    """One line of the admin operation log. Written once, never deleted; an aggregate row
    (``aggregate_key`` set) only has its ``count`` raised while its window lasts."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_member_id", "member_id"),
        Index("ux_audit_log_aggregate_key", "aggregate_key", unique=True),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    admin_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    admin_name: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    member_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    source_ip: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    action: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    target: Mapped[str] = mapped_column(String(256), nullable=False, default="")
    result: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    details: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    # refused anonymous attempts: one row per source, window and reason, counting them
    count: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    aggregate_key: Mapped[str | None] = mapped_column(String(200), nullable=True)


class SettingsRow(Base):
    """One settings section (e.g. ``redirect``) as a JSON document with its revision."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)
    revision: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class PasswordResetRow(Base):
    """A forgot-password link: single use, expiring; only the token's SHA-256 is kept."""

    __tablename__ = "password_resets"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    admin_id: Mapped[int] = mapped_column(
        ForeignKey("admins.id", ondelete="CASCADE"), nullable=False, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    source_ip: Mapped[str] = mapped_column(String(64), nullable=False, default="")


class NodeRow(Base):
    """One hub node as it registered itself, with its last heartbeat."""

    __tablename__ = "nodes"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    intranet_address: Mapped[str] = mapped_column(String(45), nullable=False)
    public_address: Mapped[str | None] = mapped_column(String(45), nullable=True)
    dns_servers: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    version: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_heartbeat: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class JournalRow(Base):
    """One event of the live journal (storage/journal.py): bounded, pruned by retention."""

    __tablename__ = "live_journal"
    __table_args__ = (
        Index("ix_live_journal_at", "at"),
        Index("ix_live_journal_member_conference", "member_id", "conference"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    member_id: Mapped[int] = mapped_column(Integer, nullable=False)
    conference: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    subject: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    data: Mapped[str] = mapped_column(Text, nullable=False, default="{}")


class AdminPreferenceRow(Base):
    """What one admin chose for its own pages (the language); gone with the admin."""

    __tablename__ = "admin_preferences"
    admin_id: Mapped[int] = mapped_column(
        ForeignKey("admins.id", ondelete="CASCADE"), primary_key=True
    )
    locale: Mapped[str] = mapped_column(String(16), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


# --- federation data sets (hub/datasets.py): pushed to member servers -----------------


class DatasetItem:
    """What every stored data-set item has (mixed into each item table): its id, its
    member, the data-set version that last changed it (hub/datasets.py, sync), and when."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), nullable=False, index=True
    )
    version: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class AccountRow(DatasetItem, Base):
    """A user, room-device or other account of a member server.

    The password is kept only as the SIP digest secrets the member server needs to
    authenticate the account's devices (HA1 = H(number:domain:password), MD5 and
    SHA-256, RFC 7616); the plaintext is never stored, returned or logged.
    """

    __tablename__ = "accounts"
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    number: Mapped[str] = mapped_column(String(15), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    display_name: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    ha1_md5: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    ha1_sha256: Mapped[str] = mapped_column(String(64), nullable=False, default="")


class RoomRow(DatasetItem, Base):
    """A physical meeting room of a member (name unique within the member)."""

    __tablename__ = "rooms"
    __table_args__ = (UniqueConstraint("member_id", "name", name="uq_rooms_member_name"),)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    location: Mapped[str] = mapped_column(String(256), nullable=False, default="")
    capacity: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    remark: Mapped[str] = mapped_column(Text, nullable=False, default="")


class VmrRow(DatasetItem, Base):
    """A virtual meeting room; its number lies in the member's vmr/general_meeting ranges."""

    __tablename__ = "vmrs"
    number: Mapped[str] = mapped_column(String(15), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    remark: Mapped[str] = mapped_column(Text, nullable=False, default="")


class RouteRow(DatasetItem, Base):
    """A call route of a member: dialled numbers starting with ``prefix`` go to ``destination``."""

    __tablename__ = "routes"
    __table_args__ = (UniqueConstraint("member_id", "prefix", name="uq_routes_member_prefix"),)
    prefix: Mapped[str] = mapped_column(String(15), nullable=False)
    destination: Mapped[str] = mapped_column(String(253), nullable=False)
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    remark: Mapped[str] = mapped_column(Text, nullable=False, default="")


class DatasetVersionRow(Base):
    """The version of one member's stored data set: bumped by every change to it."""

    __tablename__ = "dataset_versions"
    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    dataset: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, nullable=False)


class DatasetTombstoneRow(Base):
    """A deleted item, kept until the member acknowledged a version past it."""

    __tablename__ = "dataset_tombstones"
    __table_args__ = (Index("ix_dataset_tombstones_member", "member_id", "dataset", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), nullable=False
    )
    dataset: Mapped[str] = mapped_column(String(32), nullable=False)
    item_key: Mapped[str] = mapped_column(String(64), nullable=False)
    version: Mapped[int] = mapped_column(BigInteger, nullable=False)


class SyncStateRow(Base):
    """What a member server acknowledged of one data set, and how the last push went."""

    __tablename__ = "sync_state"
    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    dataset: Mapped[str] = mapped_column(String(32), primary_key=True)
    acked_version: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    last_success: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, nullable=False, default="")


class DerivedItemRow(Base):
    """One item of a derived data set (federation list, domains, number resources).

    The same for every member: stamped with the federation revision at which it last
    changed, and kept as a deleted marker once gone, so a member receives only what
    changed since the version it acknowledged.
    """

    __tablename__ = "derived_items"
    __table_args__ = (Index("ix_derived_items_version", "dataset", "version"),)
    dataset: Mapped[str] = mapped_column(String(32), primary_key=True)
    item_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    deleted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class DerivedVersionRow(Base):
    """A derived data set's version (the federation revision that last changed it) and
    the federation revision it was last derived from."""

    __tablename__ = "derived_versions"
    dataset: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, nullable=False)
    derived_from: Mapped[int] = mapped_column(BigInteger, nullable=False)
