"""The live journal on SQLite and PostgreSQL: buffered appends, scoped reads, retention."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.journal import INSERT_SLICE, Journal, JournalQuery, Retention
from storage.models import utcnow


def test_append_flush_query_prune(db_url: str) -> None:
    async def run() -> None:
        db = Database.open(db_url)
        try:
            await db.upgrade()
            j = Journal(db, Retention(max_age=timedelta(days=1), max_rows=5), buffer_limit=8)
            old = utcnow() - timedelta(days=2)
            j.append(1, "c1", "venue", "v1", 3, {"status": "joined"}, at=old)
            for i in range(4):
                j.append(2, "c2", "venue", f"v{i}", 10 + i, {"muted": bool(i % 2)})
            j.append(3, "c3", "command", "cmd-1", 0, {"kind": "mute", "status": "ok"})
            assert j.pending == 6
            assert await j.flush() == 6 and j.pending == 0
            # the entry older than a day is gone; at most 5 rows are kept
            rows = await j.query(JournalQuery())
            assert [r.member_id for r in rows] == [3, 2, 2, 2, 2]
            scoped = await j.query(JournalQuery(member_ids=frozenset({2}), conference="c2"))
            assert [r.subject for r in scoped] == ["v3", "v2", "v1", "v0"]
            assert scoped[0].data == {"muted": True} and scoped[0].seq == 13
            window = await j.query(
                JournalQuery(since=utcnow() - timedelta(minutes=5), until=utcnow(), kind="command")
            )
            assert [r.subject for r in window] == ["cmd-1"]
            page = await j.query(JournalQuery(limit=2, before_id=rows[1].id))
            assert [r.id for r in page] == [rows[2].id, rows[3].id]
            for i in range(20):  # the buffer is bounded: the oldest go, counted
                j.append(4, "c4", "venue", f"x{i}")
            assert j.pending == 8 and j.dropped == 12
            await j.flush()  # pruning waits for its minute ...
            assert len(await j.query(JournalQuery())) == 13
            assert await j.prune() == 8  # ... or is asked for
            assert len(await j.query(JournalQuery())) == 5
            assert rows[0].to_json()["kind"] == "command"
        finally:
            await db.close()

    asyncio.run(run())


def test_a_flush_larger_than_a_slice_writes_every_row_in_order(db_url: str) -> None:
    """A flush inserts in slices (the event loop breathes between them), all in one
    transaction: every entry lands, in the order appended, the last slice a short one."""

    async def run() -> None:
        db = Database.open(db_url)
        try:
            await db.upgrade()
            j = Journal(db, Retention(max_rows=10_000), buffer_limit=10_000)
            n = 2 * INSERT_SLICE + 7
            for i in range(n):
                j.append(1, "c1", "venue", f"v{i}", i, {"muted": bool(i % 2)})
            assert await j.flush() == n
            rows = await j.query(JournalQuery(limit=n))
            assert [r.seq for r in rows] == list(reversed(range(n)))
            assert rows[0].data == {"muted": bool((n - 1) % 2)}
        finally:
            await db.close()

    asyncio.run(run())


def test_a_cancelled_flush_keeps_its_batch_and_flushes_take_turns(db_url: str) -> None:
    """The hub stopping cancels the journal task, perhaps mid-flush: the batch is put
    back, not lost, and written once by the next flush. Two flushes at once (the task's
    and the journal API's) take turns, so rows keep the order they were appended in."""

    async def run() -> None:
        db = Database.open(db_url)
        try:
            await db.upgrade()
            opened = asyncio.Event()  # a flush took its batch and waits on the database
            session = db.session

            @contextlib.asynccontextmanager
            async def watched() -> AsyncIterator[AsyncSession]:
                opened.set()
                async with session() as s:
                    yield s

            db.session = watched  # type: ignore[method-assign]
            j = Journal(db, Retention(max_rows=10_000), buffer_limit=10_000)
            n = INSERT_SLICE + 3
            for i in range(n):
                j.append(1, "c1", "venue", f"v{i}", i)
            flushing = asyncio.create_task(j.flush())
            await opened.wait()
            assert j.pending == 0  # the batch is in its hands
            flushing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flushing
            assert j.pending == n and j.dropped == 0
            opened.clear()
            first = asyncio.create_task(j.flush())
            await opened.wait()
            j.append(1, "c1", "venue", "late", n)
            assert await j.flush() == 1  # waited for the first, then wrote the late one
            assert await first == n
            rows = await j.query(JournalQuery(limit=2 * n))
            assert [r.seq for r in rows] == list(reversed(range(n + 1)))  # once each
        finally:
            await db.close()

    asyncio.run(run())
