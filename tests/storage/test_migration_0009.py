"""Migration 0009 on a database that already holds names equal but for case."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from storage.admins import AdminStore, Role, UsernameTaken
from storage.db import Database, _alembic_config
from storage.models import AdminRow, AuditRow


def _upgrade_to(conn: Connection, rev: str) -> None:
    cfg = _alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, rev)


def test_case_duplicates_are_renamed_and_logged(db_url):
    async def run() -> None:
        db = Database.open(db_url)
        try:
            async with db.engine.begin() as conn:
                await conn.run_sync(_upgrade_to, "0008")
                now = datetime.now(UTC)
                if db.dialect == "sqlite":
                    now = now.replace(tzinfo=None)
                for name in ("admin", "Admin", "ops", "ADMIN", "Admin-2"):
                    await conn.execute(
                        text(
                            "INSERT INTO admins (username, password_hash, role,"
                            " password_change_required, failed_logins, disabled, created_at)"
                            " VALUES (:u, 'x', 'admin', false, 0, false, :at)"
                        ),
                        {"u": name, "at": now},
                    )
            await db.upgrade()
            async with db.session() as s:
                names = [
                    n for (n,) in (await s.execute(select(AdminRow.username).order_by(AdminRow.id)))
                ]
                audit = (
                    (await s.execute(select(AuditRow).where(AuditRow.action == "admin.rename")))
                    .scalars()
                    .all()
                )
            # the oldest keeps its name; 'Admin-2' was taken, so id 2 got a further suffix
            assert names == ["admin", "Admin-2-1", "ops", "ADMIN-4", "Admin-2"]
            assert sorted(a.target for a in audit) == ["admin:2", "admin:4"]
            assert all("only in case" in a.reason for a in audit)
            store = AdminStore(db)
            with pytest.raises(UsernameTaken):
                await store.create("OPS", "x", Role.ADMIN, None)
            with pytest.raises(IntegrityError):  # the index itself, not only the store
                async with db.session() as s:
                    s.add(
                        AdminRow(
                            username="oPs",
                            password_hash="x",
                            role="admin",
                            created_at=datetime.now(UTC),
                        )
                    )
        finally:
            await db.close()

    asyncio.run(run())
