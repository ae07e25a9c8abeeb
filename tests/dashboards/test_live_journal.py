"""The live hub's journal feed on SQLite and PostgreSQL: staged on the delta path,
written in one batch, bounded (a flood past it counted and logged), still queryable."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from sqlalchemy import event

from dashboards.livehub import LiveHub
from hub.broker import InMemoryBroker
from hub.cascade import CascadeState
from hub.conference import CameraChanged, Event, MuteChanged, StatsUpdated
from storage.db import Database
from storage.journal import Journal, JournalQuery
from tests.hub.test_controllist import chain
from tests.hub.test_fanout import STATS


class Reader:
    """``LiveView`` over a pure cascade state (the live hub reads no more)."""

    def __init__(self, state: CascadeState) -> None:
        self.state = state

    def __getattr__(self, name: str) -> Any:
        return getattr(self.state, name)


class Feed:
    """A live hub fed by hand: events applied to the state, deltas published."""

    def __init__(self, journal: Journal) -> None:
        self.state = chain()
        self.hub = LiveHub(Reader(self.state), InMemoryBroker(), journal=journal)  # type: ignore[arg-type]
        self.seq = dict.fromkeys(range(1, 6), 0)

    def event(self, member: int, change: Any) -> None:
        self.seq[member] += 1
        out = self.state.apply_event(member, Event(1, self.seq[member], change))
        assert isinstance(out, list)
        self.hub.publish_deltas(out)


def inserts(db: Database) -> list[tuple[bool, int]]:
    """Every INSERT into the journal from now on: (executemany, rows)."""
    seen: list[tuple[bool, int]] = []

    def before(conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO LIVE_JOURNAL"):
            seen.append((many, len(params) if many else 1))

    event.listen(db.engine.sync_engine, "before_cursor_execute", before)
    return seen


def test_state_changes_are_staged_then_written_in_one_batch(db_url: str) -> None:
    async def run() -> None:
        db = Database.open(db_url)
        try:
            await db.upgrade()
            journal = Journal(db)
            feed = Feed(journal)
            seen = inserts(db)
            feed.event(4, CameraChanged("c4", "m4a", False))
            for i in range(40):
                feed.event(2, MuteChanged("c2", "m2a", i % 2 == 0))
                feed.event(3, CameraChanged("c3", "m3a", i % 2 == 1))
            feed.event(4, StatsUpdated("c4", "m4a", STATS[1]))  # statistics: not journaled
            assert journal.pending == 0, "the delta path builds no journal rows"
            await feed.hub.write_journal()
            assert journal.written == 81 and journal.dropped == 0
            batch = [n for many, n in seen if many]
            if db.engine.dialect.name == "sqlite":  # PostgreSQL may split it in pages
                assert seen == [(True, 81)], "one executemany for the whole period"
            assert sum(batch) == 81
            rows = await journal.query(JournalQuery(member_ids=frozenset({2}), limit=1000))
            assert len(rows) == 40 and rows[0].data["muted"] is False and rows[0].seq == 40
            assert [r.seq for r in rows] == list(range(40, 0, -1))
            (camera,) = await journal.query(JournalQuery(member_ids=frozenset({4})))
            assert camera.data["camera_on"] is False  # and the statistics after it left out
        finally:
            await db.close()

    asyncio.run(run())


def test_a_flood_past_the_journal_room_is_counted_and_logged_once(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def run() -> None:
        db = Database.open(db_url)
        try:
            await db.upgrade()
            journal = Journal(db, buffer_limit=10)
            feed = Feed(journal)
            for i in range(25):
                feed.event(2, MuteChanged("c2", "m2a", i % 2 == 0))
            assert journal.dropped == 15  # the first ten are staged, the rest refused
            with caplog.at_level(logging.WARNING, logger="fedhub.live"):
                await feed.hub.write_journal()
                await feed.hub.write_journal()  # nothing new dropped: no second line
            full = [r for r in caplog.records if "journal was full" in r.getMessage()]
            assert len(full) == 1 and "15 entries dropped" in full[0].getMessage()
            assert journal.written == 10
            rows = await journal.query(JournalQuery(kind="venue"))
            assert [r.seq for r in rows] == list(range(10, 0, -1)), "what was kept is whole"
            for i in range(5):  # room again once written
                feed.event(3, MuteChanged("c3", "m3a", i % 2 == 0))
            await feed.hub.write_journal()
            assert journal.written == 15 and journal.dropped == 15
        finally:
            await db.close()

    asyncio.run(run())
