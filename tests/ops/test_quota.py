"""Disk quotas: the pure pruning rule, the directories, and the audit log's 180 days."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from ops.quota import AUDIT_NOTE, DEFAULTS, MIB, FileUse, Quotas, enforce, plan_pruning
from storage.db import Database
from storage.models import AuditRow
from storage.retention import AUDIT_MIN_DAYS, prune_audit

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _use(name: str, size: int, age_days: float, protected: bool = False) -> FileUse:
    return FileUse(Path(name), size, (NOW - timedelta(days=age_days)).timestamp(), protected)


def test_pruning_takes_the_oldest_first_until_it_fits():
    files = [_use("d", 10, 4), _use("a", 10, 1), _use("c", 10, 3), _use("b", 10, 2)]
    assert plan_pruning(files, 25) == [Path("d"), Path("c")]
    assert plan_pruning(files, 40) == []


def test_pruning_keeps_the_newest_and_protected_files_even_over_quota():
    files = [_use("new", 100, 0), _use("old", 10, 9), _use("audit", 10, 8, protected=True)]
    assert plan_pruning(files, 1) == [Path("old")]
    assert plan_pruning(files, 1, keep_newest=0) == [Path("old"), Path("new")]


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ({"logs_mib": DEFAULTS["logs_mib"] - 1}, "at least"),
        ({"backups_mib": 100}, "at least"),
        ({"audit_days": 179}, "at least 180"),
        ({"logs_mib": 2048.5}, "whole number"),
        ({"logs_mib": "4096"}, "whole number"),
        ({"logs_mib": True}, "whole number"),
        ({"disk": 1}, "unknown"),
        ({"logs_mib": 10**12}, "too large"),
    ],
)
def test_quota_refusals(doc, reason):
    with pytest.raises(ValueError) as e:
        Quotas.parse(doc)
    assert reason in str(e.value)


def test_quotas_default_and_grow():
    assert Quotas.parse({}).to_json() == DEFAULTS
    assert Quotas.parse({"logs_mib": 4096}).logs_mib == 4096
    assert "180 days" in AUDIT_NOTE


def _file(path: Path, size: int, age_days: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.truncate(size)  # sparse: the apparent size is what the quota counts
    t = (NOW - timedelta(days=age_days)).timestamp()
    os.utime(path, (t, t))
    return path


def test_enforce_prunes_oldest_logs_and_backups_keeping_newest_and_young_audit(tmp_path: Path):
    logs, backups = tmp_path / "logs", tmp_path / "backups"
    q = Quotas()
    big = q.logs_mib * MIB // 3
    current = _file(logs / "api.log", big, 0)
    api_old = _file(logs / "api.log.20260101T000000000000Z", big, 330)
    api_mid = _file(logs / "api.log.20261001T000000000000Z", big, 60)
    audit_young = _file(logs / "audit.log.20260901T000000000000Z", big, 179)
    audit_old = _file(logs / "audit.log.20250101T000000000000Z", big, 700)
    sip_new = _file(logs / "sip.log.20261129T000000000000Z", big, 1)
    bsize = q.backups_mib * MIB // 2
    b_old = _file(backups / "a.fedhub-backup", bsize, 3)
    b_mid = _file(backups / "b.fedhub-backup", bsize, 2)
    b_new = _file(backups / "c.fedhub-backup", bsize, 1)
    gone = enforce(q, logs, backups, NOW)
    # the young audit file is older than api_mid, yet api_mid goes and it stays
    assert set(gone) == {audit_old, api_old, api_mid, b_old}
    for kept in (current, audit_young, sip_new, b_mid, b_new):
        assert kept.exists()
    assert not b_old.exists() and not api_old.exists()


async def test_audit_rows_younger_than_180_days_are_never_pruned(tmp_path: Path, db_url: str):
    db = Database.open(db_url)
    await db.upgrade()
    try:
        ages = [1, 90, 179, 180.5, 181, 400]
        async with db.session() as s:
            await s.execute(
                insert(AuditRow),
                [
                    {"at": NOW - timedelta(days=d), "action": f"age.{d}", "result": "ok"}
                    for d in ages
                ],
            )
        with pytest.raises(ValueError):
            await prune_audit(db, NOW - timedelta(days=AUDIT_MIN_DAYS - 1), now=NOW)
        n = await prune_audit(db, NOW - timedelta(days=AUDIT_MIN_DAYS), now=NOW)
        async with db.session() as s:
            left = sorted((await s.execute(select(AuditRow.action))).scalars())
        assert n == 3
        assert left == ["age.1", "age.179", "age.90"]
    finally:
        await db.close()
