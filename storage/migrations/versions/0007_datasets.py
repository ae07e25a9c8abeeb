"""federation data sets: accounts, rooms, vmrs, routes, their versions and sync state

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _member(primary_key: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "member_id",
        sa.Integer(),
        sa.ForeignKey("members.id", ondelete="CASCADE"),
        nullable=False,
        primary_key=primary_key,
    )


def _stamps() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _member(),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("number", sa.String(15), nullable=False, unique=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(128), nullable=False),
        sa.Column("ha1_md5", sa.String(32), nullable=False),
        sa.Column("ha1_sha256", sa.String(64), nullable=False),
        *_stamps(),
    )
    op.create_index("ix_accounts_member_id", "accounts", ["member_id"])
    op.create_table(
        "rooms",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _member(),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("location", sa.String(256), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("remark", sa.Text(), nullable=False),
        *_stamps(),
        sa.UniqueConstraint("member_id", "name", name="uq_rooms_member_name"),
    )
    op.create_index("ix_rooms_member_id", "rooms", ["member_id"])
    op.create_table(
        "vmrs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _member(),
        sa.Column("number", sa.String(15), nullable=False, unique=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("remark", sa.Text(), nullable=False),
        *_stamps(),
    )
    op.create_index("ix_vmrs_member_id", "vmrs", ["member_id"])
    op.create_table(
        "routes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _member(),
        sa.Column("prefix", sa.String(15), nullable=False),
        sa.Column("destination", sa.String(253), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("remark", sa.Text(), nullable=False),
        *_stamps(),
        sa.UniqueConstraint("member_id", "prefix", name="uq_routes_member_prefix"),
    )
    op.create_index("ix_routes_member_id", "routes", ["member_id"])
    op.create_table(
        "dataset_versions",
        _member(primary_key=True),
        sa.Column("dataset", sa.String(32), primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "dataset_tombstones",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _member(),
        sa.Column("dataset", sa.String(32), nullable=False),
        sa.Column("item_key", sa.String(64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )
    op.create_index(
        "ix_dataset_tombstones_member", "dataset_tombstones", ["member_id", "dataset", "version"]
    )
    op.create_table(
        "sync_state",
        _member(primary_key=True),
        sa.Column("dataset", sa.String(32), primary_key=True),
        sa.Column("acked_version", sa.BigInteger(), nullable=False),
        sa.Column("last_success", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "sync_state",
        "dataset_tombstones",
        "dataset_versions",
        "routes",
        "vmrs",
        "rooms",
        "accounts",
    ):
        op.drop_table(table)
