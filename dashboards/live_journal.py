"""The live journal's feed: cascade deltas into journal entries, off the hot path.

Role: the part of the live hub (dashboards/livehub.py) that turns the state changes
it sees into entries of ``storage.journal.Journal``. On the path from the links to
the dashboards it only *stages* each delta batch (its wall time and its members'
``seq``): no rows, no JSON. Once a period the journal task calls ``write``: the
staged batches become entries (in slices, yielding to the loop between them;
statistics-only changes left out) and the journal writes them in one transaction.
Staged and buffered entries together never exceed the journal's bound: past it a
batch is refused, counted in ``Journal.dropped`` and reported in one log line per
period (docs/live-api.md, "Journal").
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any, Protocol

from hub.cascade import ConferenceDelta, Delta
from storage.journal import Journal

log = logging.getLogger("fedhub.live")

JOURNAL_SLICE = 512
"""Staged delta batches turned into journal entries between two yields to the loop."""


class Positions(Protocol):
    """Where each member's stream stands (``hub.live.LiveState``)."""

    def position(self, member_id: int) -> tuple[int | None, int]: ...


class JournalFeed:
    """Stages delta batches for ``journal``; ``write()`` once a period."""

    def __init__(self, journal: Journal, reader: Positions) -> None:
        self.journal = journal
        self.reader = reader
        self._journaled: dict[tuple[int, str, str], tuple[object, ...]] = {}
        self._staged: list[tuple[float, list[Delta], dict[int, int]]] = []
        self._staged_count = 0
        self._dropped_logged = 0

    @property
    def staged(self) -> int:
        """Deltas staged and not yet turned into entries."""
        return self._staged_count

    def stage(self, deltas: list[Delta]) -> None:
        """Hold a batch for the journal: its time and its members' seq, nothing more.
        The rows are made and written by the journal task (``write``), off the
        path from the links to the dashboards. Past the journal's room the batch is
        refused and counted (``fedhub_journal_dropped_total``, one log line a period)."""
        if self._staged_count + len(deltas) > self.journal.room:
            self.journal.drop(len(deltas))
            return
        seqs: dict[int, int] = {}
        for d in deltas:
            if d.member_id not in seqs:
                try:
                    seqs[d.member_id] = self.reader.position(d.member_id)[1]
                except KeyError:  # a member forgotten in the same batch
                    seqs[d.member_id] = 0
        self._staged.append((time.time(), deltas, seqs))
        self._staged_count += len(deltas)

    async def write(self) -> None:
        """Turn the staged batches into journal entries (in slices, yielding between
        them), then write them in one transaction (``Journal.flush``)."""
        staged, self._staged, self._staged_count = self._staged, [], 0
        for i in range(0, len(staged), JOURNAL_SLICE):
            for wall, deltas, seqs in staged[i : i + JOURNAL_SLICE]:
                try:
                    self._entries(datetime.fromtimestamp(wall, UTC), deltas, seqs)
                except Exception:  # one odd batch must not cost the others
                    log.exception("journaling a live delta batch failed")
                    self.journal.drop(len(deltas))
            await asyncio.sleep(0)  # let the fan-out tick between slices
        del staged
        await self.journal.flush()
        dropped = self.journal.dropped
        if dropped > self._dropped_logged:
            log.warning(
                "the live journal was full: %d entries dropped since the last report "
                "(database slow or unreachable, or a flood beyond %d entries a period)",
                dropped - self._dropped_logged,
                self.journal.room + self.journal.pending,
            )
            self._dropped_logged = dropped

    def _entries(self, at: datetime, deltas: list[Delta], seqs: dict[int, int]) -> None:
        """State changes into the journal; statistics-only changes are left out."""
        append = self.journal.append
        for d in deltas:
            seq = seqs.get(d.member_id, 0)
            if isinstance(d, ConferenceDelta):
                c = d.conference
                data: dict[str, Any] = (
                    {"ended": True}
                    if c is None
                    else {"name": c.name, "kind": c.kind.value, "layout": c.layout}
                )
                if c is None:
                    for key in [k for k in self._journaled if k[:2] == (d.member_id, d.number)]:
                        del self._journaled[key]
                append(d.member_id, d.number, "conference", "", seq, data, at)
                continue
            key = (d.member_id, d.conference, d.venue_id)
            v = d.venue
            if v is None:
                self._journaled.pop(key, None)
                gone = {"removed": True}
                append(d.member_id, d.conference, "venue", d.venue_id, seq, gone, at)
                continue
            shown = (v.status, v.muted, v.camera_on, v.role, v.reason, v.name)
            if self._journaled.get(key) == shown:
                continue  # statistics only
            self._journaled[key] = shown
            data = {
                "status": v.status.value,
                "muted": v.muted,
                "camera_on": v.camera_on,
                "role": v.role.value,
                "reason": v.reason,
            }
            if v.cascade is not None:
                data["cascade"] = {"member": v.cascade.member, "conference": v.cascade.conference}
            append(d.member_id, d.conference, "venue", d.venue_id, seq, data, at)
