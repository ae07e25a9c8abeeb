"""Each admin's own page preferences (today: the language), one row per admin."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.db import Database
from storage.models import AdminPreferenceRow, utcnow


class PreferenceStore:
    """Reads and writes ``admin_preferences``; the caller validates the values."""

    def __init__(self, db: Database):
        self._db = db

    async def locale(self, admin_id: int) -> str | None:
        """The admin's chosen language, or ``None`` if it never chose one."""
        async with self._db.session() as s:
            return (
                await s.execute(
                    select(AdminPreferenceRow.locale).where(AdminPreferenceRow.admin_id == admin_id)
                )
            ).scalar()

    async def set_locale(self, admin_id: int, locale: str) -> None:
        """Store the choice; one statement (insert or update), so two first choices at
        once (two tabs) both succeed, the later one winning."""
        insert = pg_insert if self._db.dialect == "postgresql" else sqlite_insert
        now = utcnow()
        stmt = insert(AdminPreferenceRow).values(admin_id=admin_id, locale=locale, updated_at=now)
        stmt = stmt.on_conflict_do_update(
            index_elements=[AdminPreferenceRow.admin_id],
            set_={"locale": locale, "updated_at": now},
        )
        async with self._db.session() as s:
            await s.execute(stmt)
