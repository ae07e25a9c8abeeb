"""Shared fixtures: a real database per test (SQLite file, and PostgreSQL when available).

PostgreSQL tests use ``FEDHUB_TEST_PG_URL`` (a role allowed to CREATE DATABASE); each
test gets a fresh database that is dropped afterwards. Without the variable they are
skipped, unless ``FEDHUB_REQUIRE_PG=1`` (CI sets it) turns that into a failure.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

PG_URL = os.environ.get("FEDHUB_TEST_PG_URL", "")


def _pg_admin(sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fedhub.db'}"
        return
    if not PG_URL:
        if os.environ.get("FEDHUB_REQUIRE_PG"):
            pytest.fail("FEDHUB_REQUIRE_PG is set but FEDHUB_TEST_PG_URL is not")
        pytest.skip("no PostgreSQL: set FEDHUB_TEST_PG_URL")
    name = "fedhub_t_" + secrets.token_hex(6)
    _pg_admin(f'CREATE DATABASE "{name}"')
    base, _, _ = PG_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def hub_config(db_url: str, tmp_path: Path):
    from dashboards.services import HubConfig

    return HubConfig(
        data_dir=tmp_path,
        db_url=db_url,
        lockout_failures=5,
        lockout_duration=timedelta(minutes=15),
        ip_failures_per_window=50,
    )
