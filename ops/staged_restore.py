"""A restore asked for through the API: verified now, applied at the node's next start.

A running hub never has its database swapped under it. ``Restores.start`` (``POST
/api/v1/backups/{name}/restore``) refuses at once what it can see — an unknown
backup, a missing confirmation, another node of the cluster still running (a restore
then needs every node stopped: the answer gives the shell command) — and otherwise
runs a job in the node's backup slot that verifies the archive whole (manifest,
checksums, authentication, dialect, schema: the same refusals as ``fedhub backup
restore``, live data untouched) into ``<data>/restore.pending/``, then restarts the
node gracefully (``ops/restart.py``).

At the next start, before anything opens the database, :func:`apply_pending` takes
the exclusive presence lock, makes an automatic ``pre-restore`` backup of the current
data, puts the staged database and certificates in place, migrates, writes
``backup.restore.applied`` (with who asked) to the restored audit log and removes the
staging. If it cannot — another node still runs on the database, the safety backup
or the database tool fails — it sets the staging aside as
``restore.abandoned-<time>``, logs why, and the hub starts on the data it had.

The staging holds the backup decrypted (like the live database itself), mode 0700
under the data directory; the passphrase is never stored.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dashboards.operations import OperationError
from hub.nodes import health
from ops.archive import ArchiveError, Manifest
from ops.backup import BACKUP_SLOT, Backups, Target, put_in_place, verify
from ops.jobs import Job
from ops.restart import Restart
from storage.audit import AuditLog
from storage.db import Database
from storage.models import utcnow
from storage.nodes import NodeStore

log = logging.getLogger("fedhub.backup")

PENDING = "restore.pending"
REQUEST = "request.json"
OFFLINE = (
    "stop every hub node (e.g. 'systemctl stop fedhub' on each), run 'fedhub backup "
    "restore {file}' with the data directory and database of this node, then start them"
)


class Restores:
    """The API's ``RestoresPort``: stage a verified backup, then restart to apply it."""

    def __init__(
        self,
        backups: Backups,
        restart: Restart,
        nodes: NodeStore | None,
        node_name: str,
        heartbeat: timedelta,
    ):
        self._backups = backups
        self._restart = restart
        self._nodes = nodes
        self._node_name = node_name
        self._heartbeat = heartbeat

    @property
    def target(self) -> Target:
        return self._backups.target

    async def start(
        self, backup_id: str, passphrase: str | None, *, by: str, by_id: int | None = None
    ) -> dict[str, Any]:
        archive = self._backups.path(backup_id)  # 404 for an unknown name
        others = await self._running_elsewhere()
        if others:
            raise OperationError(
                409,
                "cluster_running",
                f"nodes {', '.join(sorted(others))} run on this database too: a restore "
                "replaces it for all of them; " + OFFLINE.format(file=archive),
            )

        async def work() -> dict[str, Any]:
            manifest = await self.stage(archive, passphrase, by=by, by_id=by_id)
            return {
                "id": backup_id,
                "name": manifest.name,
                "created_at": manifest.created_at,
                "staged": True,
                "restarting": self._restart.available,
                "next": "this node restarts and applies it before it opens the database"
                if self._restart.available
                else "restart this node ('systemctl restart fedhub') to apply it",
            }

        job = self._backups.jobs.start(
            BACKUP_SLOT,
            "restore",
            work,
            by=by,
            by_id=by_id,
            action="backup.restore.staged",
            target=f"backup:{backup_id}",
            then=self._restart_when_staged,
        )
        return job.to_json()

    def _restart_when_staged(self, job: Job) -> None:
        if job.result is not None and self._restart.available:
            self._restart.request(f"to apply the restore of backup {job.result['id']}")

    async def _running_elsewhere(self) -> list[str]:
        if self._nodes is None:
            return []
        now = utcnow()
        return [
            r.info.name
            for r in await self._nodes.list()
            if r.info.name != self._node_name
            and health(r.last_heartbeat, now, self._heartbeat) != "down"
        ]

    async def stage(
        self, archive: Path, passphrase: str | None, *, by: str, by_id: int | None
    ) -> Manifest:
        """Verify ``archive`` into the pending staging (replacing an older one)."""
        try:
            return await stage(archive, self.target, passphrase, by=by)
        except ArchiveError as e:
            raise OperationError(
                422, f"archive_{e.code}", e.message + "; nothing was changed"
            ) from None


async def stage(archive: Path, target: Target, passphrase: str | None, *, by: str) -> Manifest:
    """Verify ``archive`` whole into ``<data>/restore.pending`` (replacing an older
    staging), to be applied at the next start; :class:`ArchiveError` if refused."""
    data = target.data_dir
    tmp = Path(tempfile.mkdtemp(prefix=".restore-", dir=data))
    try:
        manifest = await verify(archive, target, passphrase, tmp)
        request = {
            "backup": archive.name,
            "by": by,
            "at": datetime.now(UTC).isoformat(),
            "manifest": json.loads(manifest.to_json()),
        }
        (tmp / REQUEST).write_text(json.dumps(request), encoding="utf-8")
        pending = data / PENDING
        if pending.exists():
            log.warning("a staged restore is replaced by backup %s", archive.name)
            shutil.rmtree(pending)
        os.replace(tmp, pending)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("restore of %s staged by %s: applied at the next start", archive.name, by)
    return manifest


def pending(data_dir: Path) -> Path | None:
    p = data_dir / PENDING
    return p if (p / REQUEST).is_file() else None


async def apply_pending(target: Target, version: str) -> Manifest | None:
    """Apply a staged restore, if there is one (see the module doc); its manifest."""
    stage = pending(target.data_dir)
    if stage is None:
        return None
    request = json.loads((stage / REQUEST).read_text(encoding="utf-8"))
    manifest = Manifest.from_json(json.dumps(request["manifest"]).encode())
    safety: dict[str, Any] = {}

    async def backup_first(db: Database) -> None:
        entry = await Backups(target, db, version).create(None, None, kind="pre-restore")
        safety["id"] = entry["id"]

    try:
        await put_in_place(stage, manifest, target, before=backup_first)
    except Exception as e:
        aside = target.data_dir / f"restore.abandoned-{datetime.now(UTC):%Y%m%d%H%M%S}"
        os.replace(stage, aside)
        log.error(
            "the staged restore of %s was NOT applied (%s); the hub starts on its current "
            "data; the staging is kept in %s",
            request["backup"],
            e,
            aside,
        )
        return None
    db = Database.open(target.db_url)
    try:
        await AuditLog(db).record(
            action="backup.restore.applied",
            result="ok",
            admin_name=str(request["by"]),
            target=f"backup:{manifest.name}",
            details={"pre_restore_backup": safety.get("id"), "asked_at": request["at"]},
        )
    finally:
        await db.close()
    shutil.rmtree(stage, ignore_errors=True)
    log.warning(
        "restored backup %s (made %s on %s), asked by %s; the data before it is in backup %s",
        manifest.name,
        manifest.created_at,
        manifest.node,
        request["by"],
        safety.get("id"),
    )
    return manifest
