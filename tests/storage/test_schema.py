"""The migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from storage.db import Database, normalize_url
from storage.models import Base


def test_migrations_match_models(db_url):
    async def run() -> list:
        db = Database.open(db_url)
        try:
            await db.upgrade()
            await db.upgrade()  # idempotent
            async with db.engine.connect() as conn:
                return await conn.run_sync(
                    lambda c: compare_metadata(
                        MigrationContext.configure(c, opts={"compare_type": False}), Base.metadata
                    )
                )
        finally:
            await db.close()

    diff = asyncio.run(run())
    assert diff == []


def test_migration_status(db_url):
    async def run():
        db = Database.open(db_url)
        try:
            before = await db.migration_status()
            await db.upgrade()
            after = await db.migration_status()
            return before, after
        finally:
            await db.close()

    before, after = asyncio.run(run())
    assert before.current is None and not before.up_to_date
    assert after.up_to_date and after.current == after.head


def test_url_normalization():
    assert normalize_url("sqlite:///x.db").startswith("sqlite+aiosqlite:///")
    assert normalize_url("postgresql://u:p@h/db") == "postgresql+asyncpg://u:p@h/db"
    import pytest

    with pytest.raises(ValueError, match="unsupported"):
        normalize_url("mysql://u@h/db")
