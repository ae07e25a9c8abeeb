"""live_journal: the bounded event journal of the live hub (state changes, commands)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "live_journal",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("conference", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
    )
    op.create_index("ix_live_journal_at", "live_journal", ["at"])
    op.create_index(
        "ix_live_journal_member_conference", "live_journal", ["member_id", "conference"]
    )


def downgrade() -> None:
    op.drop_index("ix_live_journal_member_conference", table_name="live_journal")
    op.drop_index("ix_live_journal_at", table_name="live_journal")
    op.drop_table("live_journal")
