"""A staged restore that cannot be applied at start is set aside; the hub keeps its data."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from ops.backup import Backups, Target
from ops.presence import Presence
from ops.restart import Restart
from ops.staged_restore import PENDING, Restores, apply_pending, pending
from storage.audit import AuditLog, AuditQuery
from storage.db import Database


async def test_a_staged_restore_is_abandoned_while_another_hub_runs(tmp_path: Path, db_url: str):
    target = Target(tmp_path, db_url)
    db = Database.open(db_url)
    await db.upgrade()
    backups = Backups(target, db, "t")
    await backups.create("b1", None)
    await AuditLog(db).record(action="after.backup", result="ok")
    restores = Restores(backups, Restart(), None, "me", timedelta(seconds=15))
    await restores.stage(backups.path("b1"), None, by="admin", by_id=1)
    assert pending(tmp_path) is not None
    other_hub = Presence(tmp_path, db, exclusive=False)  # another process serves this data
    await other_hub.start()
    try:
        assert await apply_pending(target, "t") is None
    finally:
        await other_hub.stop()
    assert pending(tmp_path) is None and not (tmp_path / PENDING).exists()
    assert len(list(tmp_path.glob("restore.abandoned-*"))) == 1  # noqa: ASYNC240  (kept)
    rows = await AuditLog(db).query(AuditQuery(action="after.backup"))
    assert len(rows) == 1, "the live data is what it was"
    assert [e["kind"] for e in await backups.entries()] == ["manual"]  # no safety backup made
    await db.close()
