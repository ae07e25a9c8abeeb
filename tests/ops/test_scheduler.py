"""The daily backup schedule: the pure rule, and the job on an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ops.backup import Backups, Target
from ops.scheduler import SECTION, BackupScheduler, Schedule, due
from ops.sections import StoredSection
from storage.db import Database
from storage.lease import Lease
from storage.settings import SettingsStore


def _local(h: int, m: int = 0, day: int = 30) -> datetime:
    return datetime(2026, 11, day, h, m).astimezone()  # the hub's local time


def test_due_once_a_day_after_the_time():
    s = Schedule(enabled=True, at="02:30", keep=3)
    assert not due(s, _local(2, 29), None)
    assert due(s, _local(2, 30), None)
    assert due(s, _local(23, 0), _local(2, 30, day=29))  # yesterday's run: today's is due
    assert not due(s, _local(23, 0), _local(2, 31))
    assert not due(Schedule(enabled=False), _local(3), None)


@pytest.mark.parametrize(
    "doc",
    [{"at": "24:00"}, {"at": "2:30"}, {"keep": 0}, {"keep": 1.5}, {"enabled": "yes"}, {"x": 1}],
)
def test_schedule_refusals(doc):
    with pytest.raises(ValueError):
        Schedule.parse(doc)


class Clock:
    def __init__(self, t: datetime):
        self.t = t

    def __call__(self) -> datetime:
        return self.t


async def _scheduler(db: Database, data: Path, clock: Clock) -> tuple[BackupScheduler, Backups]:
    settings = SettingsStore(db)
    section = StoredSection(settings, SECTION, Schedule.parse, Schedule.to_json)
    await section.patch({"enabled": True, "at": "02:30", "keep": 2})
    backups = Backups(
        Target(data, str(db.engine.url.render_as_string(False))), db, "t", clock=clock
    )
    housekeeping_runs = []

    async def housekeeping() -> None:
        housekeeping_runs.append(clock())

    sched = BackupScheduler(
        backups, section, settings, Lease(db, "backup-schedule"), housekeeping, clock=clock
    )
    sched.housekeeping_runs = housekeeping_runs  # type: ignore[attr-defined]
    return sched, backups


async def test_one_backup_a_day_and_only_the_newest_kept(tmp_path: Path, db_url: str):
    db = Database.open(db_url)
    await db.upgrade()
    clock = Clock(_local(1, 0).astimezone(UTC))
    try:
        sched, backups = await _scheduler(db, tmp_path, clock)
        await backups.create("manual-keep-me", None)
        assert await sched.tick() is None  # before 02:30
        made = []
        for day in range(4):
            clock.t = (_local(2, 31) + timedelta(days=day)).astimezone(UTC)
            made.append(await sched.tick())
            assert await sched.tick() is None  # the same day again: nothing
        assert all(made)
        ids = {e["id"] for e in await backups.entries()}
        assert ids == {"manual-keep-me", made[-1], made[-2]}  # keep 2 scheduled + manual
        assert len(sched.housekeeping_runs) == 9  # every tick keeps the quotas
        await sched.stop()
    finally:
        await db.close()


@pytest.mark.postgres
async def test_only_the_node_holding_the_lease_makes_the_backup(tmp_path: Path, db_url: str):
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite serves one node")
    db_a, db_b = Database.open(db_url), Database.open(db_url)
    await db_a.upgrade()
    clock = Clock(_local(3).astimezone(UTC))
    try:
        a, _ = await _scheduler(db_a, tmp_path / "a", clock)
        b, _ = await _scheduler(db_b, tmp_path / "b", clock)
        assert await a.tick() is not None
        assert await b.tick() is None  # b never got the lease
        clock.t += timedelta(days=1)
        assert await b.tick() is None
        await a.stop()  # a leaves: b takes over and knows today's is not made
        assert await b.tick() is not None
        await b.stop()
    finally:
        await db_a.close()
        await db_b.close()


async def test_the_schedule_waits_for_a_backup_the_api_started(tmp_path: Path, db_url: str):
    """Scheduled and manual backups share the node's one backup slot: a due backup is
    not made while another runs, and is made at the next tick after it ended."""
    import asyncio

    from dashboards.operations import OperationError

    db = Database.open(db_url)
    await db.upgrade()
    clock = Clock(_local(2, 31).astimezone(UTC))
    try:
        sched, backups = await _scheduler(db, tmp_path, clock)
        gate = asyncio.Event()

        async def held() -> dict:
            await gate.wait()
            return {}

        job = backups.jobs.start("backup", "backup", held, by="admin", action="backup.made")
        with pytest.raises(OperationError) as busy:
            await sched.tick()
        assert busy.value.status == 409
        assert [e["kind"] for e in await backups.entries()] == []
        gate.set()
        assert (await backups.jobs.wait(job.id, 30)).state == "done"  # type: ignore[union-attr]
        made = await sched.tick()
        assert made is not None and made.startswith("scheduled-")
        await sched.stop()
    finally:
        await db.close()
