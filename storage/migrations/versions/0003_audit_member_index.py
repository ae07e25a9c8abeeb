"""audit_log.member_id index: scoped audit queries, and the highest member id ever logged

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_log_member_id", "audit_log", ["member_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_member_id", table_name="audit_log")
