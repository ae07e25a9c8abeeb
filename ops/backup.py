"""Backups of a running hub, and restoring one into a stopped hub.

A backup is one archive (``ops/archive.py``) in ``<data>/backups/<name>.fedhub-backup``
holding a consistent copy of the database (which holds the settings too) and every file
under ``<data>/certs``. It is written under a temporary name and renamed when complete,
so a list never shows half an archive.

A restore verifies the whole archive first — manifest, checksums, authentication,
format, dialect, schema revision — into a staging directory, and only then, with the
hub proven stopped (``ops/presence.py``), puts the database and the certificates in
place and migrates forward if the backup came from an older schema.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.script import ScriptDirectory

from dashboards.operations import OperationError
from ops.archive import (
    ArchiveError,
    FileEntry,
    Manifest,
    check_name,
    file_entry,
    peek,
    read_archive,
    write_archive,
)
from ops.jobs import Jobs
from ops.presence import Presence
from storage import dump
from storage.audit import AuditLog
from storage.db import MIGRATIONS, Database, sqlite_url_for

log = logging.getLogger("fedhub.backup")

SUFFIX = ".fedhub-backup"
CERTS = "certs"
BACKUP_SLOT = "backup"  # one backup or restore at a time per node
DB_MEMBER = {"sqlite": "database/fedhub.sqlite3", "postgresql": "database/fedhub.pgdump"}
CARRY_MARGIN = timedelta(hours=1)
"""How long before its manifest's time a backup's snapshot may have been taken (a long
backup); audit rows from then on are candidates to keep across a restore."""


def node_name() -> str:
    return os.environ.get("FEDHUB_NODE") or socket.gethostname()


def _scripts() -> ScriptDirectory:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg)


def known_revisions() -> frozenset[str]:
    """Every schema revision this code can migrate from."""
    return frozenset(s.revision for s in _scripts().walk_revisions())


@dataclass(frozen=True)
class Target:
    """Where a hub keeps its data: the data directory and the database URL."""

    data_dir: Path
    db_url: str

    @classmethod
    def of(cls, data_dir: Path, db_url: str | None) -> Target:
        return cls(data_dir, db_url or sqlite_url_for(data_dir))

    @property
    def dialect(self) -> str:
        return dump.dialect_of(self.db_url)

    @property
    def backups_dir(self) -> Path:
        return self.data_dir / "backups"


class Backups:
    """Make, list, open and delete this node's backups (the API's ``BackupsPort``)."""

    def __init__(
        self,
        target: Target,
        db: Database,
        version: str,
        *,
        after_create: Callable[[], Awaitable[None]] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        jobs: Jobs | None = None,
    ):
        self.jobs = jobs or Jobs()
        self.target = target
        self._db = db
        self._version = version
        self._clock = clock
        self._after_create = after_create
        self._busy = asyncio.Lock()

    @property
    def dir(self) -> Path:
        return self.target.backups_dir

    def start(
        self,
        name: str | None,
        passphrase: str | None,
        *,
        kind: str = "manual",
        by: str,
        by_id: int | None = None,
    ) -> dict[str, Any]:
        """Begin making a backup in the background (the API's way); the job. Refused at
        once: a bad name (ValueError), a name in use or a backup running (409)."""
        if name is not None:
            self._free(check_name(name))
        job = self.jobs.start(
            BACKUP_SLOT,
            "backup",
            lambda: self.create(name, passphrase, kind=kind),
            by=by,
            by_id=by_id,
            action="backup.made",
        )
        return job.to_json()

    async def job(self, job_id: str, wait: float = 0.0) -> dict[str, Any]:
        """A job of this node as it is (after up to ``wait`` s for it to end); 404."""
        job = await self.jobs.wait(job_id, wait)
        if job is None:
            raise OperationError(404, "not_found", "no such job on this node")
        return job.to_json()

    def _free(self, name: str) -> Path:
        final = self.dir / (name + SUFFIX)
        if final.exists():
            raise OperationError(409, "backup_exists", f"a backup named {name!r} exists already")
        return final

    async def create(
        self, name: str | None, passphrase: str | None, *, kind: str = "manual"
    ) -> dict[str, Any]:
        """Make a backup now and wait for it (the shell's way; the API uses ``start``)."""
        now = self._clock()
        name = check_name(name) if name else f"{kind}-{now.strftime('%Y%m%d-%H%M%S')}"
        final = self._free(name)
        if self._busy.locked():
            raise OperationError(409, "backup_running", "a backup is being made; try again later")
        async with self._busy:
            status = await self._db.migration_status()
            manifest = Manifest(
                name=name,
                kind=kind,
                created_at=now.isoformat(),
                node=node_name(),
                fedhub_version=self._version,
                schema_revision=status.current,
                dialect=self.target.dialect,
                encrypted=bool(passphrase),
            )
            await asyncio.to_thread(self._write, manifest, final, passphrase)
        log.info("backup %s made (%s, %d bytes)", name, kind, final.stat().st_size)
        if self._after_create is not None:
            await self._after_create()
        return self._entry(final)

    def _write(self, manifest: Manifest, final: Path, passphrase: str | None) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".staging-", dir=self.dir) as staging:
            stage = Path(staging)
            db_file = stage / "db"
            if manifest.dialect == "sqlite":
                dump.snapshot_sqlite(self.target.db_url, db_file)
            else:
                dump.dump_postgres(self.target.db_url, db_file)
            sources = [(file_entry(DB_MEMBER[manifest.dialect], db_file), db_file)]
            sources += self._certificate_files(stage)
            manifest = Manifest(**{**manifest.__dict__, "files": tuple(e for e, _ in sources)})
            partial = self.dir / f".{final.name}.partial"
            try:
                with partial.open("wb") as out:
                    write_archive(out, manifest, sources, passphrase)
                    out.flush()
                    os.fsync(out.fileno())
                partial.chmod(0o600)
                try:
                    os.link(partial, final)  # never replaces a backup made meanwhile
                except FileExistsError:
                    raise OperationError(
                        409, "backup_exists", f"a backup named {manifest.name!r} exists already"
                    ) from None
            finally:
                partial.unlink(missing_ok=True)

    def _certificate_files(self, stage: Path) -> list[tuple[FileEntry, Path]]:
        """Every regular file under ``<data>/certs``, copied first so it cannot change."""
        root = self.target.data_dir / CERTS
        out: list[tuple[FileEntry, Path]] = []
        if not root.is_dir():
            return out
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.is_symlink():
                continue
            rel = path.relative_to(root).as_posix()
            copy = stage / "certs" / rel
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, copy)
            out.append((file_entry(f"files/{CERTS}/{rel}", copy), copy))
        return out

    def _entry(self, path: Path) -> dict[str, Any]:
        st = path.stat()
        entry: dict[str, Any] = {"id": path.name[: -len(SUFFIX)], "size": st.st_size}
        try:
            entry.update(peek(path))
        except (ArchiveError, OSError) as e:
            entry["error"] = str(e)
            entry["created_at"] = datetime.fromtimestamp(st.st_mtime, UTC).isoformat()
        return entry

    async def entries(self) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self._entries)

    def _entries(self) -> list[dict[str, Any]]:
        if not self.dir.is_dir():
            return []
        found = [self._entry(p) for p in self.dir.glob("*" + SUFFIX) if p.is_file()]
        return sorted(found, key=lambda e: str(e.get("created_at", "")), reverse=True)

    def path(self, backup_id: str) -> Path:
        try:
            check_name(backup_id)
        except ValueError:
            raise OperationError(404, "not_found", "no such backup") from None
        p = self.dir / (backup_id + SUFFIX)
        if not p.is_file():
            raise OperationError(404, "not_found", f"no backup {backup_id!r}")
        return p

    async def delete(self, backup_id: str) -> None:
        self.path(backup_id).unlink()
        log.info("backup %s deleted", backup_id)

    def usage(self) -> int:
        if not self.dir.is_dir():
            return 0
        return sum(p.stat().st_size for p in self.dir.iterdir() if p.is_file())


# --- restore --------------------------------------------------------------------------


async def verify(archive: Path, target: Target, passphrase: str | None, into: Path) -> Manifest:
    """Check ``archive`` whole and unpack it into ``into``; its manifest. Raises
    :class:`ArchiveError` (corrupt, truncated, tampered, passphrase, foreign, format,
    dialect, schema) — nothing outside ``into`` is touched."""
    try:
        with archive.open("rb") as f:
            manifest = await asyncio.to_thread(read_archive, f, into, passphrase)
    except FileNotFoundError:
        raise ArchiveError("foreign", f"no file {archive}") from None
    if manifest.dialect != target.dialect:
        raise ArchiveError(
            "dialect",
            f"this backup is of a {manifest.dialect} database; the target is "
            f"{target.dialect}: restore it into a hub of the same kind",
        )
    if manifest.schema_revision is not None and (manifest.schema_revision not in known_revisions()):
        raise ArchiveError(
            "schema",
            f"schema revision {manifest.schema_revision!r} is unknown to this fedhub "
            "(the backup comes from a newer version): upgrade fedhub first",
        )
    return manifest


async def put_in_place(
    stage: Path,
    manifest: Manifest,
    target: Target,
    *,
    before: Callable[[Database], Awaitable[None]] | None = None,
) -> None:
    """Make ``target`` hold what a verified ``stage`` holds, with every hub proven
    stopped (raises :class:`ops.presence.HubRunning` before touching anything);
    ``before`` runs first, under the same lock (the automatic pre-restore backup)."""
    db = Database.open(target.db_url)
    presence = Presence(target.data_dir, db, exclusive=True)
    try:
        await presence.start()
        if before is not None:
            await before(db)
        kept = await _audit_since_backup(db, manifest)
        db_file = stage / DB_MEMBER[manifest.dialect]
        if manifest.dialect == "sqlite":
            await db.close()  # no connection may hold the file being replaced
            await asyncio.to_thread(dump.restore_sqlite, db_file, target.db_url)
            db = Database.open(target.db_url)
        else:
            await asyncio.to_thread(dump.restore_postgres, db_file, target.db_url)
        _put_certificates(stage / "files" / CERTS, target.data_dir / CERTS)
        await db.upgrade()
        if kept:
            carried = await AuditLog(db).carry_over(kept)
            log.info("kept %d audit records made since the backup", carried)
    finally:
        await presence.stop()
        await db.close()


async def _audit_since_backup(db: Database, manifest: Manifest) -> list[dict[str, Any]]:
    """The live audit rows a restore must not lose: those since shortly before the
    backup began (the restored log's newest row decides which of them are new)."""
    try:
        began = datetime.fromisoformat(manifest.created_at)
        return await AuditLog(db).rows_since(began - CARRY_MARGIN)
    except Exception as e:  # an empty or foreign database: nothing of ours to keep
        log.info("no audit records to keep across the restore (%s)", e)
        return []


async def restore(archive: Path, target: Target, passphrase: str | None = None) -> Manifest:
    """Verify ``archive``, then make ``target`` hold exactly what it holds.

    Raises :class:`ArchiveError` (the archive is refused; nothing was touched),
    :class:`ops.presence.HubRunning` (a hub runs; nothing was touched) or
    :class:`storage.dump.DumpError` (the database tool failed; on PostgreSQL its
    transaction was rolled back, on SQLite the old file is still in place)."""
    target.data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".restore-", dir=target.data_dir) as staging:
        stage = Path(staging)
        manifest = await verify(archive, target, passphrase, stage)
        await put_in_place(stage, manifest, target)
    log.info(
        "restored backup %s (made %s on %s)", manifest.name, manifest.created_at, manifest.node
    )
    return manifest


def _put_certificates(staged: Path, live: Path) -> None:
    """Replace the certificates directory with the backup's; the old one is kept aside."""
    if not staged.is_dir():
        return
    if live.exists():
        aside = live.with_name(f"{live.name}.before-restore-{datetime.now(UTC):%Y%m%d%H%M%S}")
        os.replace(live, aside)
    shutil.copytree(staged, live)
    for p in live.rglob("*"):
        if p.is_file():
            p.chmod(0o600)
