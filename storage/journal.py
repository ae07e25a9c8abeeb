"""The live journal: what happened in the federation's conferences, and when.

Role: a bounded, append-only record of live state changes (conferences started,
changed, ended; venues joining, leaving, failing, muting, turning cameras; links going
down and up), commands with their results, and one-click calls. ``append`` only
buffers a tuple (the live path never waits on the database, nor encodes JSON);
``flush`` encodes the buffered entries and writes them with one multi-row insert
(executemany) in one transaction, and at most once a minute prunes by the retention
setting (age and row count). A buffer over ``buffer_limit`` drops its oldest entries
and counts them (``dropped``); a caller that stages entries of its own before
appending them counts what it could not stage with ``drop`` (same counter), so a
flood or a database outage cannot grow memory without end and is never silent.

Call statistics are not journaled: they are measurements, not changes, and would
drown the rest.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import orjson
from sqlalchemy import Table, delete, func, insert, select

from storage.db import Database
from storage.models import JournalRow, utcnow

INSERT_SLICE = 500
"""Rows per insert statement of a flush (all in its one transaction). The rows and
their bound parameters are made on the caller's event loop: thousands at once would
hold it for tens of milliseconds, and every live dashboard's frames with it."""


@dataclass(frozen=True)
class Retention:
    """How much of the journal is kept: entries younger than ``max_age``, at most
    ``max_rows`` of them (the oldest go first)."""

    max_age: timedelta = timedelta(days=7)
    max_rows: int = 1_000_000


@dataclass(frozen=True)
class JournalEntry:
    id: int
    at: datetime
    member_id: int
    conference: str
    kind: str
    subject: str
    seq: int
    data: dict[str, Any]

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "member_id": self.member_id,
            "conference": self.conference,
            "kind": self.kind,
            "subject": self.subject,
            "seq": self.seq,
            "data": self.data,
        }


@dataclass(frozen=True)
class JournalQuery:
    member_ids: frozenset[int] | None = None  # None: every member
    conference: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    kind: str | None = None
    limit: int = 200
    before_id: int | None = None  # paging: entries older than this id


_TABLE = cast(Table, JournalRow.__table__)
_Buffered = tuple[datetime, int, str, str, str, int, "dict[str, Any] | None"]


def _row(
    at: datetime,
    member_id: int,
    conference: str,
    kind: str,
    subject: str,
    seq: int,
    data: dict[str, Any] | None,
) -> dict[str, Any]:
    """The table row of a buffered entry (columns cut to their sizes, data as JSON)."""
    return {
        "at": at,
        "member_id": member_id,
        "conference": conference[:64],
        "kind": kind[:32],
        "subject": subject[:64],
        "seq": seq,
        "data": orjson.dumps(data or {}, default=str).decode(),
    }


class Journal:
    """Buffered appends, batched writes, scoped reads; see the module docstring."""

    def __init__(
        self,
        db: Database,
        retention: Retention | None = None,
        *,
        buffer_limit: int = 100_000,
        prune_every: timedelta = timedelta(minutes=1),
    ) -> None:
        self._db = db
        self.retention = retention or Retention()
        self._buffer: deque[_Buffered] = deque()
        self._limit = buffer_limit
        self._prune_every = prune_every
        self._pruned_at: datetime | None = None
        self._flushing = asyncio.Lock()
        self.dropped = 0
        self.written = 0

    def append(
        self,
        member_id: int,
        conference: str,
        kind: str,
        subject: str = "",
        seq: int = 0,
        data: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> None:
        """Buffer one entry (time now unless ``at``); written at the next ``flush``."""
        if len(self._buffer) >= self._limit:
            self._buffer.popleft()
            self.dropped += 1
        self._buffer.append((at or utcnow(), member_id, conference, kind, subject, seq, data))

    def drop(self, entries: int) -> None:
        """Count ``entries`` a caller had to refuse because the journal was full."""
        self.dropped += entries

    @property
    def pending(self) -> int:
        return len(self._buffer)

    @property
    def room(self) -> int:
        """Entries that can still be buffered before the oldest are dropped."""
        return max(0, self._limit - len(self._buffer))

    async def flush(self) -> int:
        """Write what is buffered (one transaction); prune when due. Returns rows written.

        One flush at a time (the journal task's and the journal API's), so rows are
        written in the order they were appended. On a database error, or when the flush
        is cancelled (the hub stopping), the batch is put back (still bounded) and the
        error raised: the next flush writes it.
        """
        async with self._flushing:
            batch = list(self._buffer)
            self._buffer.clear()
            if batch:
                try:
                    async with self._db.session() as s:
                        for i in range(0, len(batch), INSERT_SLICE):
                            rows = [_row(*entry) for entry in batch[i : i + INSERT_SLICE]]
                            await s.execute(insert(_TABLE), rows)  # Core executemany
                except BaseException:
                    room = max(0, self._limit - len(self._buffer))
                    self.dropped += max(0, len(batch) - room)
                    self._buffer.extendleft(reversed(batch[len(batch) - room :] if room else []))
                    raise
                self.written += len(batch)
            now = utcnow()
            if self._pruned_at is None or now - self._pruned_at >= self._prune_every:
                await self.prune(now)
            return len(batch)

    async def prune(self, now: datetime | None = None) -> int:
        """Delete entries past the retention (too old, or beyond ``max_rows``)."""
        now = now or utcnow()
        self._pruned_at = now
        r = self.retention
        async with self._db.session() as s:
            gone = await s.execute(delete(JournalRow).where(JournalRow.at < now - r.max_age))
            removed = int(getattr(gone, "rowcount", 0) or 0)
            top = (await s.execute(select(func.max(JournalRow.id)))).scalar()
            if top is not None and top > r.max_rows:
                extra = await s.execute(delete(JournalRow).where(JournalRow.id <= top - r.max_rows))
                removed += int(getattr(extra, "rowcount", 0) or 0)
        return removed

    async def query(self, q: JournalQuery) -> Sequence[JournalEntry]:
        """Newest first, filtered by scope, conference, time window and kind."""
        stmt = select(JournalRow).order_by(JournalRow.id.desc())
        if q.member_ids is not None:
            stmt = stmt.where(JournalRow.member_id.in_(sorted(q.member_ids)))
        if q.conference is not None:
            stmt = stmt.where(JournalRow.conference == q.conference)
        if q.since is not None:
            stmt = stmt.where(JournalRow.at >= q.since)
        if q.until is not None:
            stmt = stmt.where(JournalRow.at < q.until)
        if q.kind is not None:
            stmt = stmt.where(JournalRow.kind == q.kind)
        if q.before_id is not None:
            stmt = stmt.where(JournalRow.id < q.before_id)
        stmt = stmt.limit(q.limit)
        async with self._db.session() as s:
            rows = (await s.execute(stmt)).scalars().all()
        return [
            JournalEntry(
                r.id,
                r.at,
                r.member_id,
                r.conference,
                r.kind,
                r.subject,
                r.seq,
                orjson.loads(r.data),
            )
            for r in rows
        ]
