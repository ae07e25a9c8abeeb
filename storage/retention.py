"""Ageing out the audit log, never before the legal minimum.

The audit log is kept at least ``AUDIT_MIN_DAYS`` (180) days whatever a disk quota
says: China's Cybersecurity Law (art. 21) and the level-3 protection rules (GB/T 22239)
require network logs to be kept no less than six months. ``prune_audit`` is the only
code that deletes audit rows, and it refuses a cut-off younger than that.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from storage.db import Database
from storage.models import AuditRow, utcnow

AUDIT_MIN_DAYS = 180


def earliest_cutoff(now: datetime) -> datetime:
    """The newest time before which audit rows may go."""
    return now - timedelta(days=AUDIT_MIN_DAYS)


async def prune_audit(db: Database, older_than: datetime, *, now: datetime | None = None) -> int:
    """Delete audit rows written before ``older_than``; how many went.

    Raises ValueError for a cut-off less than 180 days before ``now``."""
    now = now or utcnow()
    if older_than > earliest_cutoff(now):
        raise ValueError(f"the audit log is kept at least {AUDIT_MIN_DAYS} days")
    async with db.session() as s:
        result = await s.execute(delete(AuditRow).where(AuditRow.at < older_than))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def audit_rows(db: Database) -> int:
    async with db.session() as s:
        return int((await s.execute(select(func.count()).select_from(AuditRow))).scalar() or 0)
