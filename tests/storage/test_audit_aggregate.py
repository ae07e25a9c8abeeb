"""Aggregated audit rows: one per source, window and reason; counts written in batches."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from storage.audit import AuditLog, AuditQuery
from storage.db import Database
from storage.models import AuditRow


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_counts_reach_storage_in_batches_and_on_flush(db_url):
    async def run() -> None:
        db = Database.open(db_url)
        await db.upgrade()
        clock = Clock()
        log = AuditLog(db, aggregate_window=timedelta(hours=1), flush_interval=1.0, clock=clock)
        other_node = AuditLog(db, aggregate_window=timedelta(hours=1), clock=clock)

        async def stored() -> list[tuple[str, int]]:
            async with db.session() as s:
                rows = (await s.execute(select(AuditRow.source_ip, AuditRow.count))).all()
                return sorted((ip, n) for ip, n in rows)

        refused = dict(action="auth.login", result="refused", reason="too_many_attempts: x")
        try:
            for _ in range(10):
                await log.record_aggregate(source_ip="192.0.2.1", **refused)
            assert await stored() == [("192.0.2.1", 1)]  # the first is written at once
            clock.now = 1.0
            await log.record_aggregate(source_ip="192.0.2.1", **refused)
            assert await stored() == [("192.0.2.1", 11)]  # the interval passed: all in
            await log.record_aggregate(source_ip="192.0.2.2", **refused)
            await other_node.record_aggregate(source_ip="192.0.2.1", **refused)  # same row
            await log.record_aggregate(source_ip="192.0.2.1", **refused)
            assert await stored() == [("192.0.2.1", 12), ("192.0.2.2", 1)]
            entries = await log.query(AuditQuery())  # a read writes what is held first
            assert sorted((e.source_ip, e.count) for e in entries) == [
                ("192.0.2.1", 13),
                ("192.0.2.2", 1),
            ]
        finally:
            await db.close()

    asyncio.run(run())


def test_held_keys_are_bounded(db_url):
    async def run() -> None:
        db = Database.open(db_url)
        await db.upgrade()
        log = AuditLog(db, max_pending=8)
        try:
            for i in range(40):
                await log.record_aggregate(
                    action="auth.login", result="refused", reason="x", source_ip=f"10.0.0.{i}"
                )
                assert len(log._pending) <= 9
            assert len(await log.query(AuditQuery(limit=1000))) == 40
        finally:
            await db.close()

    asyncio.run(run())
