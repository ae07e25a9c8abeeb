"""The operations side of a hub node: backups, logs, quotas, the schedule, the presence lock.

``build_operations(config, db, settings)`` (composed by ``ops/hub.py``) makes the web
layer's ``BackupsPort``, ``LogsPort`` and the settings sections ``quotas``, ``backups``
and ``logs``, and the jobs a running hub holds: the presence lock (a restore is
refused while it is held; taken before migrations, so ``ops/hub.py`` runs it first
and stops it last) and the backup scheduler with its housekeeping (quotas, audit
retention).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dashboards.operations import SectionPort
from dashboards.services import Hook, HubConfig
from hub.version import fedhub_version
from ops.backup import Backups, Target
from ops.jobs import Jobs
from ops.logs import SECTION as LOGS_SECTION
from ops.logs import LogSettings, LogsService, ModuleFiles, installed
from ops.presence import Presence
from ops.quota import AUDIT_NOTE, DEFAULTS, MIB, Quotas, enforce
from ops.quota import SECTION as QUOTAS_SECTION
from ops.restart import Restart
from ops.scheduler import SECTION as SCHEDULE_SECTION
from ops.scheduler import BackupScheduler, Schedule
from ops.sections import StoredSection
from ops.staged_restore import Restores, apply_pending
from ops.upgrade import Upgrades, VenvInstaller, install_root
from storage.audit import AuditLog
from storage.db import Database
from storage.lease import Lease
from storage.nodes import NodeStore
from storage.retention import audit_rows, prune_audit
from storage.settings import SettingsStore

log = logging.getLogger("fedhub.ops")


@dataclass(frozen=True)
class OperationsParts:
    """What the operations side hands the web, and the jobs it runs."""

    backups: Backups
    logs: LogsService
    sections: dict[str, SectionPort]
    presence: Presence
    """Taken before anything touches the database, released last."""
    restart: Restart
    """Bound to the server by ``fedhub serve``; unbound, a restart is refused."""
    restores: Restores
    upgrades: Upgrades
    apply_pending_restore: Hook
    """Run before anything opens the database (before the presence lock)."""
    on_start: tuple[Hook, ...]
    on_stop: tuple[Hook, ...]


def build_operations(
    config: HubConfig,
    db: Database,
    settings: SettingsStore,
    audit: AuditLog,
    *,
    nodes: NodeStore | None = None,
    node_name: str = "",
    heartbeat: timedelta = timedelta(seconds=15),
    log_handler: ModuleFiles | None = None,  # default: the one ``ops.logs.install`` set
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    schedule_interval: float = 30.0,
) -> OperationsParts:
    """The operations ports and jobs of one node (not started)."""
    log_handler = log_handler or installed()
    target = Target.of(config.data_dir, config.db_url)
    logs = LogsService(config.data_dir / "logs")

    async def quota_usage(q: Quotas) -> dict[str, Any]:
        return {
            "defaults": dict(DEFAULTS),
            "usage": {
                "logs_bytes": await asyncio.to_thread(logs.usage),
                "logs_quota_bytes": q.logs_mib * MIB,
                "backups_bytes": await asyncio.to_thread(backups.usage),
                "backups_quota_bytes": q.backups_mib * MIB,
                "audit_rows": await audit_rows(db),
            },
            "note": AUDIT_NOTE,
        }

    async def keep_quotas(q: Quotas | None = None) -> None:
        q = q or await quotas.current()
        await asyncio.to_thread(enforce, q, logs.logs_dir, target.backups_dir, clock())

    async def housekeeping() -> None:
        q = await quotas.current()
        await keep_quotas(q)
        n = await prune_audit(db, clock() - timedelta(days=q.audit_days), now=clock())
        if n:
            log.info("aged out %d audit rows older than %d days", n, q.audit_days)

    async def apply_logs(s: LogSettings) -> None:
        if log_handler is not None:
            log_handler.set_json(s.json)

    quotas: StoredSection[Quotas] = StoredSection(
        settings,
        QUOTAS_SECTION,
        Quotas.parse,
        Quotas.to_json,
        extra=quota_usage,
        apply=keep_quotas,
    )
    jobs = Jobs(audit, clock=clock)
    backups = Backups(
        target, db, fedhub_version(), after_create=keep_quotas, clock=clock, jobs=jobs
    )
    schedule: StoredSection[Schedule] = StoredSection(
        settings, SCHEDULE_SECTION, Schedule.parse, Schedule.to_json
    )
    log_settings: StoredSection[LogSettings] = StoredSection(
        settings, LOGS_SECTION, LogSettings.parse, LogSettings.to_json, apply=apply_logs
    )
    scheduler = BackupScheduler(
        backups,
        schedule,
        settings,
        Lease(db, "backup-schedule"),
        housekeeping,
        clock=clock,
        interval=schedule_interval,
    )

    async def apply_stored_log_settings() -> None:
        await apply_logs(await log_settings.current())

    async def apply_pending_restore() -> None:
        await apply_pending(target, fedhub_version())

    restart = Restart()

    return OperationsParts(
        backups=backups,
        logs=logs,
        sections={
            QUOTAS_SECTION: quotas,
            SCHEDULE_SECTION: schedule,
            LOGS_SECTION: log_settings,
        },
        presence=Presence(config.data_dir, db, exclusive=False),
        restart=restart,
        restores=Restores(backups, restart, nodes, node_name, heartbeat),
        upgrades=Upgrades(install_root(), backups, restart, VenvInstaller.from_environment()),
        apply_pending_restore=apply_pending_restore,
        on_start=(apply_stored_log_settings, scheduler.start),
        on_stop=(scheduler.stop, jobs.stop),
    )
