"""Settings sections stored as JSON documents, each with a revision.

A section that was never saved reads as ``{}`` with revision 0: the caller merges it
over its own defaults. ``put`` replaces a section whole and bumps its revision, so
every node can tell cheaply whether it must re-apply.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import select

from storage.db import Database
from storage.models import SettingsRow, utcnow


class SettingsStore:
    def __init__(self, db: Database):
        self._db = db

    async def get(self, key: str) -> tuple[dict[str, Any], int]:
        """The stored section and its revision (``({}, 0)`` if never saved)."""
        async with self._db.session() as s:
            row = await s.get(SettingsRow, key)
            if row is None:
                return {}, 0
            return orjson.loads(row.value), row.revision

    async def revision(self, key: str) -> int:
        async with self._db.session() as s:
            rev = (
                await s.execute(select(SettingsRow.revision).where(SettingsRow.key == key))
            ).scalar()
            return int(rev or 0)

    async def put(self, key: str, value: dict[str, Any]) -> int:
        """Replace the section; returns its new revision."""
        async with self._db.session() as s:
            row = await s.get(SettingsRow, key)
            if row is None:
                row = SettingsRow(key=key, value="", revision=0, updated_at=utcnow())
                s.add(row)
            row.value = orjson.dumps(value).decode()
            row.revision += 1
            row.updated_at = utcnow()
            await s.flush()
            return row.revision
