"""Disk quotas for logs and backups, and how the oldest files are pruned to keep them.

A quota is a whole number of MiB and never below its default (an operator may give
more room, not less). When a part is over its quota the oldest files go first; the
newest backup and every current log file are always kept, and so is every audit log
file younger than 180 days, whatever the quota says — and audit rows in the database
are aged out only after ``audit_days`` (never below 180: ``storage/retention.py``).

``plan_pruning`` is the pure rule; ``enforce`` applies it to the directories.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ops.logs import AUDIT_MODULE, log_files
from storage.retention import AUDIT_MIN_DAYS

log = logging.getLogger("fedhub.ops")

MIB = 1024 * 1024
MAX_MIB = 100 * 1024 * 1024  # 100 TiB: anything larger is a typo
DEFAULTS = {"logs_mib": 1024, "backups_mib": 10240, "audit_days": AUDIT_MIN_DAYS}
AUDIT_NOTE = (
    f"The audit log is kept at least {AUDIT_MIN_DAYS} days whatever the quotas say "
    "(Cybersecurity Law art. 21 and the level-3 protection rules require six months of "
    "logs): audit files and rows younger than that are never pruned."
)
SECTION = "quotas"


@dataclass(frozen=True)
class Quotas:
    logs_mib: int = DEFAULTS["logs_mib"]
    backups_mib: int = DEFAULTS["backups_mib"]
    audit_days: int = DEFAULTS["audit_days"]

    def __post_init__(self) -> None:
        for name, default in DEFAULTS.items():
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool):
                raise ValueError(f"{name} must be a whole number")
            if v < default:
                raise ValueError(f"{name} must be at least {default} (its default)")
            if v > (MAX_MIB if name.endswith("_mib") else 36500):
                raise ValueError(f"{name} is too large")

    @classmethod
    def parse(cls, doc: dict[str, Any]) -> Quotas:
        unknown = set(doc) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown quota {sorted(unknown)[0]!r}")
        return cls(**doc)

    def to_json(self) -> dict[str, Any]:
        return {
            "logs_mib": self.logs_mib,
            "backups_mib": self.backups_mib,
            "audit_days": self.audit_days,
        }


@dataclass(frozen=True)
class FileUse:
    path: Path
    size: int
    mtime: float
    protected: bool = False  # counted, never deleted


def plan_pruning(files: Sequence[FileUse], limit: int, *, keep_newest: int = 1) -> list[Path]:
    """Which files to delete so the rest fit in ``limit`` bytes: the oldest first.

    The ``keep_newest`` newest files and every protected file are kept even if the
    part stays over its quota."""
    newest_first = sorted(files, key=lambda f: f.mtime, reverse=True)
    used = sum(f.size for f in files)
    doomed: list[Path] = []
    for f in reversed(newest_first[keep_newest:]):
        if used <= limit:
            break
        if f.protected:
            continue
        doomed.append(f.path)
        used -= f.size
    return doomed


def log_uses(logs_dir: Path, now: datetime) -> list[FileUse]:
    young = (now - timedelta(days=AUDIT_MIN_DAYS)).timestamp()
    out = []
    for p in log_files(logs_dir):
        st = p.stat()
        current = p.name.endswith(".log")
        audit = p.name.startswith(AUDIT_MODULE + ".log")
        out.append(FileUse(p, st.st_size, st.st_mtime, current or (audit and st.st_mtime > young)))
    return out


def backup_uses(backups_dir: Path) -> list[FileUse]:
    if not backups_dir.is_dir():
        return []
    return [
        FileUse(p, p.stat().st_size, p.stat().st_mtime)
        for p in backups_dir.glob("*.fedhub-backup")
        if p.is_file()
    ]


def enforce(
    quotas: Quotas, logs_dir: Path, backups_dir: Path, now: datetime | None = None
) -> list[Path]:
    """Prune both parts to their quotas; the files deleted."""
    now = now or datetime.now(UTC)
    gone = plan_pruning(log_uses(logs_dir, now), quotas.logs_mib * MIB, keep_newest=0)
    gone += plan_pruning(backup_uses(backups_dir), quotas.backups_mib * MIB, keep_newest=1)
    for p in gone:
        p.unlink(missing_ok=True)
        log.info("pruned %s to keep within its disk quota", p.name)
    return gone
