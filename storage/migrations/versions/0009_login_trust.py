"""login trust: case-insensitive admin usernames, atomic lockout for unknown names,
aggregated audit rows, API-set credentials awaiting a second person

- ``admins``: a unique index on ``lower(username)``. Existing names that differ only in
  case are *renamed* (the oldest account keeps its name, every later one becomes
  ``NAME-ID``), each rename written to the audit log and to the migration's log, so
  the hub starts and an operator can tell the people concerned; ``approval_pending_by``
  and ``last_failed_at`` columns.
- ``login_strangers``: lockout counters of login names that are no account (keyed by a
  digest of the lower-cased name, never the name), bounded by the store.
- ``audit_log``: ``count`` and ``aggregate_key`` (unique): refused anonymous attempts
  are one row per source, window and reason, with a count.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import orjson
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

log = logging.getLogger("fedhub.migrations")


def upgrade() -> None:
    _rename_case_duplicates()
    with op.batch_alter_table("admins") as b:
        b.add_column(sa.Column("approval_pending_by", sa.Integer(), nullable=True))
        b.add_column(sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ux_admins_username_lower", "admins", [sa.text("lower(username)")], unique=True)
    op.create_table(
        "login_strangers",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_login_strangers_last_failed_at", "login_strangers", ["last_failed_at"])
    with op.batch_alter_table("audit_log") as b:
        b.add_column(sa.Column("count", sa.Integer(), nullable=False, server_default="1"))
        b.add_column(sa.Column("aggregate_key", sa.String(length=200), nullable=True))
    op.create_index("ux_audit_log_aggregate_key", "audit_log", ["aggregate_key"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_audit_log_aggregate_key", table_name="audit_log")
    with op.batch_alter_table("audit_log") as b:
        b.drop_column("aggregate_key")
        b.drop_column("count")
    op.drop_index("ix_login_strangers_last_failed_at", table_name="login_strangers")
    op.drop_table("login_strangers")
    op.drop_index("ux_admins_username_lower", table_name="admins")
    with op.batch_alter_table("admins") as b:
        b.drop_column("last_failed_at")
        b.drop_column("approval_pending_by")


def _rename_case_duplicates() -> None:
    """Give every admin whose name equals an older one's but for case a name of its own."""
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, username FROM admins ORDER BY id")).all()
    taken = {name.lower() for _, name in rows}
    first: dict[str, str] = {}
    for admin_id, name in rows:
        low = name.lower()
        if low not in first:
            first[low] = name
            continue
        new = _free_name(name, admin_id, taken)
        taken.add(new.lower())
        conn.execute(
            sa.text("UPDATE admins SET username = :new WHERE id = :id"),
            {"new": new, "id": admin_id},
        )
        reason = (
            f"admin username {name!r} differed from the older {first[low]!r} only in case; "
            f"renamed to {new!r} (migration 0008: usernames are unique ignoring case)"
        )
        log.warning("%s", reason)
        now = datetime.now(UTC)
        conn.execute(
            sa.text(
                "INSERT INTO audit_log (at, admin_id, admin_name, member_id, source_ip, action,"
                " target, result, reason, details)"
                " VALUES (:at, NULL, '(migration)', NULL, '', 'admin.rename',"
                " :target, 'ok', :reason, :details)"
            ),
            {
                "at": now.replace(tzinfo=None) if conn.dialect.name == "sqlite" else now,
                "target": f"admin:{admin_id}",
                "reason": reason,
                "details": orjson.dumps({"old": name, "new": new}).decode(),
            },
        )


def _free_name(name: str, admin_id: int, taken: set[str]) -> str:
    n = 0
    while True:
        suffix = f"-{admin_id}" + (f"-{n}" if n else "")
        candidate = name[: 64 - len(suffix)] + suffix
        if candidate.lower() not in taken:
            return candidate
        n += 1
