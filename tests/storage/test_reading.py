"""Read-only sessions, and the lookups every request makes writing only what changed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.exc import OperationalError

from storage.admins import AdminStore, Role
from storage.api_tokens import USE_GRAIN, TokenStore
from storage.db import Database
from storage.models import ApiTokenRow, FederationRevision, SessionRow
from storage.sessions import ACTIVITY_GRAIN, SessionStore


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    d = Database.open(db_url)
    try:
        await d.upgrade()
        yield d
    finally:
        await d.close()


class Writes:
    """Counts the statements that change rows (INSERT, UPDATE, DELETE) on ``db``."""

    def __init__(self, db: Database) -> None:
        self.count = 0
        self.engine = db.engine.sync_engine
        event.listen(self.engine, "before_cursor_execute", self.seen)

    def seen(self, _conn, _cursor, statement: str, *_args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            self.count += 1

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self.seen)


async def test_a_read_does_not_wait_behind_an_open_write(db: Database) -> None:
    async with db.session() as w:
        await w.execute(update(FederationRevision).values(value=FederationRevision.value + 1))
        # the write transaction holds its lock; a reader sees the last committed value
        async with asyncio.timeout(10):
            async with db.reading() as r:
                assert (await r.execute(select(FederationRevision.value))).scalar_one() == 0
    async with db.reading() as r:
        assert (await r.execute(select(FederationRevision.value))).scalar_one() == 1


async def test_writing_in_a_reading_session_fails_on_sqlite(db: Database) -> None:
    if db.dialect != "sqlite":
        pytest.skip("query_only is SQLite's; elsewhere reading() is a plain session")
    with pytest.raises(OperationalError, match="readonly"):
        async with db.reading() as r:
            await r.execute(update(FederationRevision).values(value=5))
    async with db.session() as w:  # the pooled connection writes again in a session
        await w.execute(update(FederationRevision).values(value=6))
    async with db.reading() as r:
        assert (await r.execute(select(FederationRevision.value))).scalar_one() == 6


async def test_a_token_records_its_use_once_per_grain(db: Database) -> None:
    admin = await AdminStore(db).create("ops", "x", Role.ADMIN, None)
    tokens = TokenStore(db)
    secret, _ = await tokens.create(admin.id, "script")
    writes = Writes(db)
    try:
        first = await tokens.authenticate(secret)
        assert first is not None and first.last_used_at is not None
        assert writes.count == 1
        for _ in range(5):
            assert await tokens.authenticate(secret) is not None
        assert writes.count == 1  # within the grain: reads only
        earlier = datetime.now(UTC) - USE_GRAIN - timedelta(seconds=1)
        async with db.session() as s:
            await s.execute(update(ApiTokenRow).values(last_used_at=earlier))
        writes.count = 0
        fresh = TokenStore(db)  # another node (or a restart): it has not written the use
        many = await asyncio.gather(*(fresh.authenticate(secret) for _ in range(20)))
        assert all(t is not None for t in many) and writes.count == 1  # all at once: once
        async with db.session() as s:
            await s.execute(update(ApiTokenRow).values(last_used_at=earlier))
        writes.count = 0
        fresh = TokenStore(db)
        again = await fresh.authenticate(secret)
        assert again is not None and again.last_used_at is not None
        assert again.last_used_at > earlier and writes.count == 1
        assert await tokens.authenticate("fh_unknown") is None
    finally:
        writes.close()


async def test_a_session_slides_once_per_grain_and_an_idle_one_is_removed(
    db: Database,
) -> None:
    admin = await AdminStore(db).create("ops", "x", Role.ADMIN, None)
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    sessions = SessionStore(db, idle=timedelta(minutes=30), clock=lambda: now[0])
    token, _ = await sessions.create(admin.id, "127.0.0.1", "test")
    writes = Writes(db)
    try:
        now[0] += ACTIVITY_GRAIN / 2
        assert await sessions.touch(token) is not None and writes.count == 0
        now[0] += ACTIVITY_GRAIN
        assert await sessions.touch(token) is not None and writes.count == 1
        async with db.reading() as r:
            seen = (await r.execute(select(SessionRow.last_seen_at))).scalar_one()
        assert seen == now[0]  # slid
        now[0] += timedelta(minutes=20)
        assert await sessions.touch(token, activity=False) is not None and writes.count == 1
        now[0] += timedelta(minutes=11)  # 31 minutes since it last slid: idle
        assert await sessions.touch(token) is None and writes.count == 2
        async with db.reading() as r:
            assert (await r.execute(select(SessionRow))).first() is None
    finally:
        writes.close()
