"""derived data sets versioned per item: federation list, domains and numbers go as deltas

- ``derived_items``: each item of the three derived data sets, stamped with the
  federation revision at which it last changed (a deleted one stays as a marker).
- ``derived_versions``: each derived data set's version and the revision it was
  derived from.
- ``sync_state``: what members acknowledged of the derived sets was the federation
  revision, not a data-set version: forgotten, so they are sent everything once.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

DERIVED = ("federation", "domains", "numbers")


def upgrade() -> None:
    op.create_table(
        "derived_items",
        sa.Column("dataset", sa.String(32), primary_key=True),
        sa.Column("item_key", sa.String(64), primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_derived_items_version", "derived_items", ["dataset", "version"])
    op.create_table(
        "derived_versions",
        sa.Column("dataset", sa.String(32), primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("derived_from", sa.BigInteger(), nullable=False),
    )
    sync_state = sa.table(
        "sync_state", sa.column("dataset", sa.String), sa.column("acked_version", sa.BigInteger)
    )
    op.execute(sync_state.update().where(sync_state.c.dataset.in_(DERIVED)).values(acked_version=0))


def downgrade() -> None:
    op.drop_table("derived_versions")
    op.drop_table("derived_items")
