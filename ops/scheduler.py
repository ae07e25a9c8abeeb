"""The daily backup schedule and the housekeeping that keeps the quotas.

``Schedule`` is the settings section ``backups`` (enabled, time of day in the hub's
local time, how many scheduled backups to keep); ``due`` is the pure rule. The
``BackupScheduler`` job ticks every ``interval`` seconds on every node, but acts only
on the node holding the ``backup-schedule`` lease (``storage/lease.py``), so a cluster
makes one backup a day. The last run is stored (settings section ``backup-runs``), so
a node that takes the lease over knows whether today's backup was made; a run missed
while no hub was up is made at the next tick.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ops.backup import BACKUP_SLOT, Backups
from ops.sections import StoredSection
from storage.lease import Lease
from storage.settings import SettingsStore

log = logging.getLogger("fedhub.backup")

SECTION = "backups"
RUNS = "backup-runs"
PASSPHRASE_FILE = "backup.passphrase"  # noqa: S105  (a file name)
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class Schedule:
    enabled: bool = False
    at: str = "02:30"  # HH:MM, the hub's local time
    keep: int = 7

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise ValueError("enabled must be true or false")
        if not isinstance(self.at, str) or not _TIME.match(self.at):
            raise ValueError("at must be a time of day as HH:MM, e.g. 02:30")
        if (
            not isinstance(self.keep, int)
            or isinstance(self.keep, bool)
            or not (1 <= self.keep <= 1000)
        ):
            raise ValueError("keep must be a whole number from 1 to 1000")

    @classmethod
    def parse(cls, doc: dict[str, Any]) -> Schedule:
        unknown = set(doc) - {"enabled", "at", "keep"}
        if unknown:
            raise ValueError(f"unknown setting {sorted(unknown)[0]!r}")
        return cls(**doc)

    def to_json(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "at": self.at, "keep": self.keep}


def due(schedule: Schedule, now: datetime, last_run: datetime | None) -> bool:
    """Whether a scheduled backup is due at ``now`` (aware) given the last one."""
    if not schedule.enabled:
        return False
    local = now.astimezone()
    hour, minute = (int(x) for x in schedule.at.split(":"))
    today_at = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return local >= today_at and (last_run is None or last_run < today_at)


class BackupScheduler:
    """A hub job: makes the scheduled backups and keeps the quotas (see module doc)."""

    def __init__(
        self,
        backups: Backups,
        schedule: StoredSection[Schedule],
        store: SettingsStore,
        lease: Lease,
        housekeeping: Callable[[], Awaitable[None]],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        interval: float = 30.0,
    ):
        self._backups = backups
        self._schedule = schedule
        self._store = store
        self._lease = lease
        self._housekeeping = housekeeping
        self._clock = clock
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="backup-scheduler")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        await self._lease.release()

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("backup schedule tick failed")
            await asyncio.sleep(self._interval)

    async def tick(self) -> str | None:
        """One look: the name of the backup made, if one was due and this node leads."""
        if not await self._lease.try_acquire():
            return None
        made = None
        schedule = await self._schedule.current()
        now = self._clock()
        runs, _ = await self._store.get(RUNS)
        last = datetime.fromisoformat(runs["last"]) if "last" in runs else None
        if due(schedule, now, last):
            passphrase = self._passphrase()
            job = await self._backups.jobs.run(  # the API's runner: one backup at a time
                BACKUP_SLOT,
                "backup",
                lambda: self._backups.create(None, passphrase, kind="scheduled"),
                by="(schedule)",
                action="backup.made",
            )
            if job.result is None:
                log.warning("the scheduled backup failed: %s; tried again next tick", job.error)
                return None
            made = str(job.result["id"])
            await self._store.put(RUNS, {"last": now.isoformat(), "name": made})
            await self._keep(schedule.keep)
        await self._housekeeping()
        return made

    def _passphrase(self) -> str | None:
        path: Path = self._backups.target.data_dir / PASSPHRASE_FILE
        if not path.is_file():
            return None
        return path.read_text(encoding="utf-8").strip() or None

    async def _keep(self, keep: int) -> None:
        scheduled = [e for e in await self._backups.entries() if e.get("kind") == "scheduled"]
        for entry in scheduled[keep:]:
            await self._backups.delete(str(entry["id"]))
