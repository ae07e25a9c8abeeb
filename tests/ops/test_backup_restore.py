"""Backups of a live hub and restores, against real SQLite and PostgreSQL.

The central proof: a backup taken while writers keep committing, restored after the
data is wiped, holds exactly the rows that existed at one instant (row counts and a
content hash of every table). Then every refusal: corrupt, truncated, tampered,
foreign, another dialect, a newer schema, a running hub — each leaving the live data
exactly as it was.
"""

from __future__ import annotations

import asyncio
import io
import secrets
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from dashboards.operations import OperationError
from ops.archive import ArchiveError, Manifest, file_entry, write_archive
from ops.backup import Backups, Target, restore
from ops.presence import HubRunning, Presence
from storage.audit import AuditLog
from storage.db import Database
from storage.dump import DumpError, dump_postgres, fingerprint, prefix_fingerprints
from storage.models import AuditRow
from storage.settings import SettingsStore
from tests.conftest import PG_URL, _pg_admin
from tests.support.federation_data import seed

PASS = "a long backup passphrase"


async def _open(url: str) -> Database:
    db = Database.open(url)
    await db.upgrade()
    return db


async def _seeded(url: str, audit: int = 3000) -> Database:
    db = await _open(url)
    await seed(db, members=60, ranges=600, audit=audit)
    return db


def _certs(data: Path) -> None:
    (data / "certs" / "sip").mkdir(parents=True, exist_ok=True)
    (data / "certs" / "web.pem").write_text("-----BEGIN CERTIFICATE-----\nweb\n")
    (data / "certs" / "sip" / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\nsip\n")


async def _wipe(db: Database, target: Target) -> None:
    if db.dialect == "sqlite":
        path = str(db.engine.url.database)  # the test's database file, not the data dir's
        await db.close()
        for suffix in ("", "-wal", "-shm"):
            await asyncio.to_thread(Path(path + suffix).unlink, missing_ok=True)
    else:
        async with db.engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await db.close()
    for p in sorted((target.data_dir / "certs").rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()


async def test_backup_under_write_load_restores_one_consistent_instant(db_url: str, tmp_path: Path):
    target = Target(tmp_path / "data", db_url)
    target.data_dir.mkdir()
    _certs(target.data_dir)
    db = await _seeded(db_url, audit=30_000)
    audit, settings = AuditLog(db), SettingsStore(db)
    stop, warmed_up = asyncio.Event(), asyncio.Event()
    written = 0

    async def writer() -> None:
        # each step commits an audit row and, after it, the settings section naming it
        nonlocal written
        while not stop.is_set():
            written += 1
            await audit.record(action="load.write", result="ok", target=f"seq:{written}")
            await settings.put("load", {"seq": written})
            if written >= 20:
                warmed_up.set()
            await asyncio.sleep(0)

    task = asyncio.create_task(writer())
    await warmed_up.wait()
    before = written
    entry = await Backups(target, db, "test").create("under-load", PASS)
    during = written - before
    stop.set()
    await task
    assert during > 0, "the writer made no progress while the backup ran"
    original = await fingerprint(db, {"settings": "key <> 'load'"})
    audit_prefix = await prefix_fingerprints(db, "audit_log")
    await _wipe(db, target)
    assert not (target.data_dir / "certs" / "web.pem").exists()

    manifest = await restore(target.backups_dir / f"{entry['id']}.fedhub-backup", target, PASS)
    assert manifest.name == "under-load" and manifest.encrypted
    restored_db = Database.open(db_url)
    try:
        async with restored_db.session() as s:
            last = (
                await s.execute(
                    select(func.max(AuditRow.id)).where(AuditRow.action == "load.write")
                )
            ).scalar()
        load, _ = await SettingsStore(restored_db).get("load")
        # consistent: the section never names a row the copy lacks, nor lags more than one
        async with restored_db.session() as s:
            rows = (
                await s.execute(select(func.count()).where(AuditRow.action == "load.write"))
            ).scalar()
        assert rows - 1 <= load.get("seq", 0) <= rows
        restored = await fingerprint(restored_db, {"settings": "key <> 'load'"})
        members = restored["members"]
        # equal to the original at that instant: every table; the log cut at the copy
        assert restored.pop("audit_log") == audit_prefix[last]
        assert restored == {k: v for k, v in original.items() if k != "audit_log"}
        assert len(restored) >= 8
        assert members[0] == 60 and restored["number_ranges"][0] == 600
    finally:
        await restored_db.close()
    assert (target.data_dir / "certs" / "web.pem").read_text().endswith("web\n")
    assert (target.data_dir / "certs" / "sip" / "key.pem").exists()


async def _made(target: Target, db: Database, name: str, passphrase: str | None = None) -> Path:
    entry = await Backups(target, db, "test").create(name, passphrase)
    return target.backups_dir / f"{entry['id']}.fedhub-backup"


def _certs_on_disk(data: Path) -> dict[str, bytes]:
    return {
        p.relative_to(data).as_posix(): p.read_bytes()
        for p in sorted(data.rglob("*"))
        if p.is_file() and "certs" in p.parts
    }


async def _live_state(url: str, data: Path) -> tuple[dict, dict]:
    db = Database.open(url)
    try:
        fp = await fingerprint(db)
    finally:
        await db.close()
    return fp, await asyncio.to_thread(_certs_on_disk, data)


def _damaged(kind: str, raw: bytes) -> bytes:
    if kind == "corrupt":
        b = bytearray(raw)
        b[len(b) // 2] ^= 0xFF
        return bytes(b)
    if kind == "truncated":
        return raw[: len(raw) * 2 // 3]
    if kind == "tampered":  # a byte near the end: inside the last file or the end marker
        b = bytearray(raw)
        b[-11000] ^= 0x01
        return bytes(b)
    if kind == "foreign":
        return b"\x1f\x8b\x08\x00" + secrets.token_bytes(5000)  # a random "gzip"
    raise AssertionError(kind)


@pytest.mark.parametrize("passphrase", [None, PASS])
@pytest.mark.parametrize("kind", ["corrupt", "truncated", "tampered", "foreign"])
async def test_damaged_archive_is_refused_and_live_data_untouched(
    db_url: str, tmp_path: Path, kind: str, passphrase: str | None
):
    target = Target(tmp_path / "data", db_url)
    target.data_dir.mkdir()
    _certs(target.data_dir)
    db = await _seeded(db_url)
    good = await _made(target, db, "good", passphrase)
    # the live data moves on after the backup: a refused restore must keep the new state
    await AuditLog(db).record(action="after.backup", result="ok")
    (target.data_dir / "certs" / "web.pem").write_text("-----BEGIN CERTIFICATE-----\nnewer\n")
    await db.close()
    before = await _live_state(db_url, target.data_dir)
    bad = tmp_path / "bad.fedhub-backup"
    bad.write_bytes(_damaged(kind, good.read_bytes()))
    with pytest.raises(ArchiveError) as e:
        await restore(bad, target, passphrase)
    assert e.value.message
    assert await _live_state(db_url, target.data_dir) == before
    assert not list(target.data_dir.glob(".restore-*")), "staging left behind"


async def test_wrong_passphrase_is_refused_and_live_data_untouched(db_url: str, tmp_path: Path):
    target = Target(tmp_path / "data", db_url)
    db = await _seeded(db_url)
    archive = await _made(target, db, "sealed", PASS)
    await db.close()
    before = await _live_state(db_url, target.data_dir)
    for wrong in ("another passphrase", None):
        with pytest.raises(ArchiveError) as e:
            await restore(archive, target, wrong)
        assert e.value.code == "passphrase"
    assert await _live_state(db_url, target.data_dir) == before


async def test_restore_into_a_running_hub_is_refused_with_instructions(db_url: str, tmp_path: Path):
    target = Target(tmp_path / "data", db_url)
    db = await _seeded(db_url)
    archive = await _made(target, db, "b1")
    await AuditLog(db).record(action="after.backup", result="ok")
    await SettingsStore(db).put("after", {"made": "after the backup"})
    async with db.session() as s:
        audit_rows = (await s.execute(select(func.count()).select_from(AuditRow))).scalar()
    hub = Presence(target.data_dir, db, exclusive=False)  # what a serving hub holds
    await hub.start()
    try:
        before = await _live_state(db_url, target.data_dir)
        with pytest.raises(HubRunning) as e:
            await restore(archive, target)
        assert "stop every hub node first" in str(e.value)
        assert await _live_state(db_url, target.data_dir) == before
    finally:
        await hub.stop()
        await db.close()
    await restore(archive, target)  # once the hub is stopped it goes through
    restored = Database.open(db_url)
    try:
        # the data is the backup's; the audit records made since are kept, none twice
        assert await SettingsStore(restored).get("after") == ({}, 0)
        async with restored.session() as s:
            actions = (await s.execute(select(AuditRow.action))).scalars().all()
        assert Counter(actions)["after.backup"] == 1
        assert len(actions) == audit_rows  # what the backup held, plus the one since
    finally:
        await restored.close()


@pytest.mark.postgres
async def test_restore_is_refused_while_another_node_serves_the_same_database(
    tmp_path: Path, db_url: str
):
    if not db_url.startswith("postgresql"):
        pytest.skip("a cluster shares PostgreSQL")
    db = await _seeded(db_url)
    here = Target(tmp_path / "node-a", db_url)
    archive = await _made(here, db, "b1")
    other_node = Presence(tmp_path / "node-b", db, exclusive=False)  # another data dir
    await other_node.start()
    try:
        with pytest.raises(HubRunning) as e:
            await restore(archive, here)
        assert "this database" in str(e.value)
    finally:
        await other_node.stop()
        await db.close()


async def test_a_hub_does_not_start_during_a_restore(tmp_path: Path, db_url: str):
    db = await _open(db_url)
    restoring = Presence(tmp_path, db, exclusive=True)
    await restoring.start()
    try:
        with pytest.raises(HubRunning) as e:
            await Presence(tmp_path, db, exclusive=False).start()
        assert "restore is running" in str(e.value)
    finally:
        await restoring.stop()
        await db.close()


async def _fresh_pg() -> str:
    name = "fedhub_t_" + secrets.token_hex(6)
    await asyncio.to_thread(_pg_admin, f'CREATE DATABASE "{name}"')
    return PG_URL.rpartition("/")[0] + "/" + name


async def test_backup_of_one_data_directory_restores_into_another(db_url: str, tmp_path: Path):
    source = Target(tmp_path / "machine-a", db_url)
    source.data_dir.mkdir()
    _certs(source.data_dir)
    db = await _seeded(db_url)
    archive = await _made(source, db, "moving", PASS)
    original = await fingerprint(db)
    await db.close()
    moved = tmp_path / "usb" / "moving.fedhub-backup"
    moved.parent.mkdir()
    moved.write_bytes(archive.read_bytes())
    if db_url.startswith("sqlite"):
        other_url = f"sqlite+aiosqlite:///{tmp_path / 'machine-b' / 'fedhub.db'}"
    else:
        other_url = await _fresh_pg()
    try:
        dest = Target(tmp_path / "machine-b", other_url)
        await restore(moved, dest, PASS)
        db2 = Database.open(other_url)
        try:
            assert await fingerprint(db2) == original
        finally:
            await db2.close()
        assert (dest.data_dir / "certs" / "sip" / "key.pem").read_text().endswith("sip\n")
    finally:
        if not db_url.startswith("sqlite"):
            name = other_url.rpartition("/")[2]
            await asyncio.to_thread(_pg_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_backup_of_another_dialect_is_refused(tmp_path: Path, db_url: str):
    db = await _seeded(db_url)
    archive = await _made(Target(tmp_path / "a", db_url), db, "x")
    await db.close()
    other = (
        f"sqlite+aiosqlite:///{tmp_path / 'b' / 'fedhub.db'}"
        if db_url.startswith("postgresql")
        else (PG_URL or "postgresql://nobody@127.0.0.1:1/none")
    )
    with pytest.raises(ArchiveError) as e:
        await restore(archive, Target(tmp_path / "b", other))
    assert e.value.code == "dialect"
    assert not (tmp_path / "b" / "fedhub.db").exists()


async def test_backup_from_a_newer_schema_is_refused(tmp_path: Path):
    src = tmp_path / "db"
    src.write_bytes(b"not really a database")
    entry = file_entry("database/fedhub.sqlite3", src)
    manifest = Manifest(
        name="future",
        kind="manual",
        created_at="2031-01-01T00:00:00+00:00",
        node="n",
        fedhub_version="9.0.0",
        schema_revision="0999",
        dialect="sqlite",
        files=(entry,),
    )
    archive = tmp_path / "future.fedhub-backup"
    with archive.open("wb") as f:
        write_archive(f, manifest, [(entry, src)])
    with pytest.raises(ArchiveError) as e:
        await restore(archive, Target.of(tmp_path / "data", None))
    assert e.value.code == "schema" and "upgrade fedhub first" in e.value.message
    assert not (tmp_path / "data" / "fedhub.db").exists()


async def test_list_download_and_delete(tmp_path: Path):
    target = Target.of(tmp_path, None)
    db = await _seeded(target.db_url)
    try:
        b = Backups(target, db, "test")
        await b.create("one", None)
        await b.create("two", PASS)
        with pytest.raises(Exception) as e:
            await b.create("one", None)
        assert getattr(e.value, "status", None) == 409
        (target.backups_dir / "junk.fedhub-backup").write_bytes(b"garbage")
        listed = {e["id"]: e for e in await b.entries()}
        assert set(listed) == {"one", "two", "junk"}
        assert listed["two"]["encrypted"] is True and listed["one"]["dialect"] == "sqlite"
        assert "error" in listed["junk"]
        assert b.path("one").read_bytes()[:512] == io.BytesIO(
            (target.backups_dir / "one.fedhub-backup").read_bytes()
        ).read(512)
        for bad in ("../fedhub", "one/../../x", ""):
            with pytest.raises(Exception) as e:
                b.path(bad)
            assert getattr(e.value, "status", None) == 404
        await b.delete("one")
        assert {e["id"] for e in await b.entries()} == {"two", "junk"}
    finally:
        await db.close()


async def test_a_verified_archive_whose_database_will_not_load_leaves_the_live_data(
    db_url: str, tmp_path: Path
):
    """Checksums can be right and the content still unusable (made by hand, a bug): the
    database tool's failure must leave the old data in place (SQLite: the file is never
    swapped; PostgreSQL: the one transaction rolls back)."""
    target = Target(tmp_path / "data", db_url)
    target.data_dir.mkdir()
    _certs(target.data_dir)
    db = await _seeded(db_url)
    await db.close()
    before = await _live_state(db_url, target.data_dir)
    dialect = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    junk = tmp_path / "junk"
    junk.write_bytes(
        b"PGDMP" + secrets.token_bytes(4000)
        if dialect == "postgresql"
        else b"SQLite format 3\x00" + secrets.token_bytes(8000)
    )
    member = "database/fedhub.pgdump" if dialect == "postgresql" else "database/fedhub.sqlite3"
    entry = file_entry(member, junk)
    manifest = Manifest(
        name="junk",
        kind="manual",
        created_at="2026-11-30T00:00:00+00:00",
        node="n",
        fedhub_version="t",
        schema_revision="0001",
        dialect=dialect,
        files=(entry,),
    )
    archive = tmp_path / "junk.fedhub-backup"
    with archive.open("wb") as f:
        write_archive(f, manifest, [(entry, junk)])
    with pytest.raises(DumpError):
        await restore(archive, target)
    assert await _live_state(db_url, target.data_dir) == before


async def test_postgres_tools_missing_is_a_clear_error(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(DumpError) as e:
        await asyncio.to_thread(dump_postgres, "postgresql://u@127.0.0.1/none", tmp_path / "out")
    assert "pg_dump is not installed" in str(e.value)


async def test_one_backup_at_a_time(tmp_path: Path):
    target = Target.of(tmp_path, None)
    db = await _open(target.db_url)
    try:
        b = Backups(target, db, "t")
        async with b._busy:  # a backup is being made
            with pytest.raises(OperationError) as e:
                await b.create("second", None)
        assert e.value.status == 409 and e.value.code == "backup_running"
        assert not b.dir.exists() or not list(b.dir.glob("*.fedhub-backup"))
    finally:
        await db.close()
