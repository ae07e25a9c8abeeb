"""Each admin's own page preferences (today: the language), one row per admin."""

from __future__ import annotations

from sqlalchemy import select

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
        async with self._db.session() as s:
            row = await s.get(AdminPreferenceRow, admin_id)
            if row is None:
                s.add(AdminPreferenceRow(admin_id=admin_id, locale=locale, updated_at=utcnow()))
            else:
                row.locale, row.updated_at = locale, utcnow()
