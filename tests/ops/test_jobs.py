"""The node's job runner: one job per slot, its state for the asker, its end audited."""

from __future__ import annotations

import asyncio

import pytest

from dashboards.operations import OperationError
from ops.jobs import Jobs
from storage.audit import AuditLog, AuditQuery
from storage.db import Database


async def test_one_job_per_slot_its_state_and_its_audited_end(db_url: str):
    db = Database.open(db_url)
    await db.upgrade()
    audit = AuditLog(db)
    jobs = Jobs(audit)
    gate = asyncio.Event()

    async def slow() -> dict:
        await gate.wait()
        return {"id": "b1", "size": 10}

    async def broken() -> dict:
        raise OperationError(409, "backup_exists", "a backup named 'b1' exists already")

    try:
        job = jobs.start("backup", "backup", slow, by="admin", by_id=1, action="backup.made")
        assert job.state == "running" and jobs.get(job.id) == job
        with pytest.raises(OperationError) as busy:
            jobs.start("backup", "backup", slow, by="other", action="backup.made")
        assert busy.value.status == 409 and busy.value.code == "backup_running"
        assert job.id in busy.value.message
        other = jobs.start("upgrade", "upgrade", broken, by="admin", action="x.y")  # own slot
        still = await jobs.wait(job.id, 0.01)  # bounded wait: returns while it runs
        assert still is not None and still.state == "running"
        gate.set()
        done = await jobs.wait(job.id, 30)
        assert done is not None and done.state == "done" and done.result == {"id": "b1", "size": 10}
        assert done.finished_at is not None
        failed = await jobs.wait(other.id, 30)
        assert failed is not None and failed.state == "failed"
        assert failed.error == {
            "code": "backup_exists",
            "message": "a backup named 'b1' exists already",
        }
        again = await jobs.run("backup", "backup", broken, by="(schedule)", action="backup.made")
        assert again.state == "failed"  # the slot is free once the first has ended
        rows = await audit.query(AuditQuery(action="backup.made"))
        assert [(r.result, r.admin_name, r.target) for r in reversed(rows)] == [
            ("ok", "admin", "backup:b1"),
            ("failed", "(schedule)", ""),
        ]
        assert rows[0].reason.startswith("backup_exists:")
        assert jobs.get("nope") is None and await jobs.wait("nope", 1) is None
    finally:
        await jobs.stop()
        await db.close()


async def test_a_stopping_node_ends_its_jobs_as_failed(db_url: str):
    jobs = Jobs()
    forever = asyncio.Event()

    async def hang() -> dict:
        await forever.wait()
        return {}

    job = jobs.start("backup", "backup", hang, by="admin", action="backup.made")
    await jobs.stop()
    ended = jobs.get(job.id)
    assert ended is not None and ended.state == "failed" and ended.error["code"] == "stopped"
