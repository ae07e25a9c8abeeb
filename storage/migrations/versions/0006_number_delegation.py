"""number_ranges.granted_by: numbers are delegated down the member tree

Who holds which numbers follows from the ranges themselves (a range nested in another
is a block given out of it; hub.numbering). This column records whose admin gave a
range: NULL is the federation-wide admin. Every range stored before this revision was
flat (no two overlapped), so each already satisfies the delegation invariant as a block
given by the top: they all keep NULL.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("number_ranges") as batch:
        batch.add_column(sa.Column("granted_by", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_number_ranges_granted_by", "members", ["granted_by"], ["id"], ondelete="RESTRICT"
        )


def downgrade() -> None:
    with op.batch_alter_table("number_ranges") as batch:
        batch.drop_constraint("fk_number_ranges_granted_by", type_="foreignkey")
        batch.drop_column("granted_by")
