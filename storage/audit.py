"""The admin operation log: append-only through the product.

Every real login attempt (one whose password was checked against an account) and every
change is one row: when, who, from where, what, on what, the result and, for a refusal,
why. What a stranger can repeat at will — throttled logins, logins refused by a lock,
names that are no account — is *aggregated* (``record_aggregate``): one row per source,
window and reason, whose ``count`` rises, so that nobody outside can grow the log by
more than a row per address and window (the names they tried are not kept). Nothing
here deletes a row or changes one other than raising an open aggregate's count, and
callers must never put a password or a token in ``details`` (``record`` scrubs known
secret keys anyway).
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from sqlalchemy import func, insert, select, update

from storage import upsert
from storage.db import Database
from storage.models import AuditRow, utcnow

log = logging.getLogger("fedhub.audit")

SECRET_KEYS = frozenset(
    {"password", "old_password", "new_password", "token", "secret", "csrf_token", "password_hash"}
)
CSV_COLUMNS = (
    "id",
    "at",
    "admin",
    "source_ip",
    "action",
    "target",
    "result",
    "reason",
    "details",
    "count",
)


def scrub(details: dict[str, object]) -> dict[str, object]:
    """``details`` with every secret-looking key masked, recursively."""
    out: dict[str, object] = {}
    for k, v in details.items():
        if k.lower() in SECRET_KEYS:
            out[k] = "***"
        elif isinstance(v, dict):
            out[k] = scrub(v)
        else:
            out[k] = v
    return out


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    admin_id: int | None
    admin_name: str
    member_id: int | None
    source_ip: str
    action: str
    target: str
    result: str
    reason: str
    details: dict[str, object]
    count: int = 1  # > 1 only on an aggregate row: that many like attempts in its window

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "admin_id": self.admin_id,
            "admin": self.admin_name,
            "member_id": self.member_id,
            "source_ip": self.source_ip,
            "action": self.action,
            "target": self.target,
            "result": self.result,
            "reason": self.reason,
            "details": self.details,
            "count": self.count,
        }


@dataclass(frozen=True)
class AuditQuery:
    since: datetime | None = None
    until: datetime | None = None
    admin: str | None = None
    action: str | None = None
    result: str | None = None
    member_ids: frozenset[int] | None = None  # the reader's scope; None = everything
    limit: int = 100
    before_id: int | None = None  # paging: entries older than this id


CARRY_MAX = 200_000
"""Audit rows a restore carries over at most (the rest stay in the pre-restore backup)."""


class AuditLog:
    def __init__(
        self,
        db: Database,
        *,
        aggregate_window: timedelta = timedelta(minutes=5),
        flush_interval: float = 1.0,
        max_pending: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._db = db
        self.aggregate_window = aggregate_window
        self.flush_interval = flush_interval
        self.max_pending = max_pending
        self._clock = clock
        # aggregate key -> [count not yet written, when last written, window end]
        self._pending: dict[str, list[float]] = {}

    async def record(
        self,
        *,
        action: str,
        result: str,
        admin_id: int | None = None,
        admin_name: str = "",
        member_id: int | None = None,
        source_ip: str = "",
        target: str = "",
        reason: str = "",
        details: dict[str, object] | None = None,
    ) -> None:
        row = AuditRow(
            at=utcnow(),
            admin_id=admin_id,
            admin_name=admin_name[:64],
            member_id=member_id,
            source_ip=source_ip[:64],
            action=action[:64],
            target=target[:256],
            result=result[:16],
            reason=reason[:2000],
            details=orjson.dumps(scrub(details or {}), default=str).decode(),
        )
        async with self._db.session() as s:
            s.add(row)
        # the same event in the audit log file (kept 180 days whatever the log quota)
        log.info(
            "%s %s by %r from %s on %r%s",
            row.action,
            row.result,
            row.admin_name,
            row.source_ip or "-",
            row.target,
            f": {row.reason[:200]!r}" if row.reason else "",
        )

    async def rows_since(self, at: datetime, limit: int = CARRY_MAX) -> list[dict[str, object]]:
        """The rows written at or after ``at`` (oldest first, at most ``limit``), as plain
        column values: what a restore carries into the restored log."""
        columns = [c for c in AuditRow.__table__.columns if c.name != "id"]
        async with self._db.session() as s:
            result = await s.execute(
                select(*columns).where(AuditRow.at >= at).order_by(AuditRow.id).limit(limit)
            )
            return [dict(r._mapping) for r in result]

    async def carry_over(self, rows: Iterable[dict[str, object]]) -> int:
        """Append the ``rows`` (``rows_since`` of the log this one replaced) newer than
        this log's newest row; how many. A restore puts back an older log; the records
        made since its backup stay (the audit log is kept 180 days whatever happens)."""
        async with self._db.session() as s:
            newest = (await s.execute(select(func.max(AuditRow.at)))).scalar()
            fresh = [
                {**r, "aggregate_key": None}  # its counting window ended with the old log
                for r in rows
                if newest is None or r["at"] > newest  # type: ignore[operator]
            ]
            if fresh:
                await s.execute(insert(AuditRow), fresh)
        return len(fresh)

    async def record_aggregate(
        self,
        *,
        action: str,
        result: str,
        source_ip: str,
        reason: str,
        admin_id: int | None = None,
        member_id: int | None = None,
        target: str = "",
    ) -> None:
        """Count one more attempt in the row for (source, window, reason, target).

        The first of a window on this node inserts the row (or, if another node did,
        raises its count); later ones are counted in memory and added to the row at
        most every ``flush_interval`` (and by ``flush``, which reads and shutdown
        call), so a flood costs no database write per request."""
        now = utcnow()
        window = self.aggregate_window.total_seconds()
        start = int(now.timestamp() // window * window)
        code = reason.partition(":")[0]
        key = f"{action}|{source_ip[:64]}|{start}|{code[:40]}|{target[:40]}"
        pending = self._pending.get(key)
        if pending is not None:
            pending[0] += 1
            if self._clock() - pending[1] >= self.flush_interval:
                await self._flush_key(key)
            return
        self._pending[key] = [0, self._clock(), start + window]
        await self._retire(start)
        values = {
            "at": now,
            "admin_id": admin_id,
            "admin_name": "",
            "member_id": member_id,
            "source_ip": source_ip[:64],
            "action": action[:64],
            "target": target[:256],
            "result": result[:16],
            "reason": reason[:2000],
            "details": orjson.dumps(
                {"aggregated": True, "window_s": int(window)}, default=str
            ).decode(),
            "count": 1,
            "aggregate_key": key,
        }
        async with self._db.session() as s:
            ins = upsert.insert(s, AuditRow).values(**values)
            await s.execute(
                ins.on_conflict_do_update(
                    index_elements=[AuditRow.aggregate_key], set_={"count": AuditRow.count + 1}
                )
            )
        # one line per source, window and reason in the audit log file, like the row
        log.info(
            "%s %s (aggregated: more like it from here in this %d s window are counted) "
            "from %s on %r: %r",
            action,
            result,
            int(window),
            source_ip or "-",
            target,
            reason[:200],
        )

    async def flush(self) -> None:
        """Write every count still held in memory."""
        for key in list(self._pending):
            await self._flush_key(key)

    async def _flush_key(self, key: str) -> None:
        pending = self._pending.get(key)
        if pending is None:
            return
        n, pending[0], pending[1] = pending[0], 0, self._clock()
        if n:
            async with self._db.session() as s:
                await s.execute(
                    update(AuditRow)
                    .where(AuditRow.aggregate_key == key)
                    .values(count=AuditRow.count + n)
                )

    async def _retire(self, current_window: int) -> None:
        """Forget keys whose window has ended (after writing their counts), and keep the
        table bounded when a spray from many addresses opens many windows at once."""
        done = [k for k, p in self._pending.items() if p[2] <= current_window]
        if len(self._pending) > self.max_pending:
            done = list(self._pending)[: len(self._pending) // 2]
        for key in done:
            await self._flush_key(key)
            self._pending.pop(key, None)

    async def count_rows(self) -> int:
        """How many rows the log holds (for tests and health checks)."""
        await self.flush()
        async with self._db.session() as s:
            return int((await s.execute(select(func.count()).select_from(AuditRow))).scalar_one())

    async def query(self, q: AuditQuery) -> Sequence[AuditEntry]:
        """Newest first, filtered; scope filtering keeps entries by admins inside it."""
        await self.flush()
        stmt = select(AuditRow).order_by(AuditRow.id.desc())
        if q.since is not None:
            stmt = stmt.where(AuditRow.at >= q.since)
        if q.until is not None:
            stmt = stmt.where(AuditRow.at < q.until)
        if q.admin:
            stmt = stmt.where(AuditRow.admin_name == q.admin)
        if q.action:
            stmt = stmt.where(AuditRow.action == q.action)
        if q.result:
            stmt = stmt.where(AuditRow.result == q.result)
        if q.before_id is not None:
            stmt = stmt.where(AuditRow.id < q.before_id)
        if q.member_ids is not None:
            stmt = stmt.where(AuditRow.member_id.in_(sorted(q.member_ids)))
        stmt = stmt.limit(q.limit)
        async with self._db.session() as s:
            rows = (await s.execute(stmt)).scalars().all()
        return [_entry(r) for r in rows]


def _entry(r: AuditRow) -> AuditEntry:
    return AuditEntry(
        r.id,
        r.at,
        r.admin_id,
        r.admin_name,
        r.member_id,
        r.source_ip,
        r.action,
        r.target,
        r.result,
        r.reason,
        orjson.loads(r.details),
        r.count,
    )


def to_csv(entries: Iterable[AuditEntry]) -> str:
    """CSV export; cells that a spreadsheet would run as formulas are quoted with '."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for e in entries:
        cells = [
            e.id,
            e.at.isoformat(),
            e.admin_name,
            e.source_ip,
            e.action,
            e.target,
            e.result,
            e.reason,
            orjson.dumps(e.details).decode(),
            e.count,
        ]
        w.writerow([_safe_cell(c) for c in cells])
    return buf.getvalue()


def _safe_cell(v: object) -> object:
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return v
