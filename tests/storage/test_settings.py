from __future__ import annotations

import asyncio

from storage.db import Database
from storage.settings import SettingsStore


def test_sections_round_trip_with_revisions(db_url):
    async def run() -> None:
        db = Database.open(db_url)
        try:
            await db.upgrade()
            st = SettingsStore(db)
            assert await st.get("redirect") == ({}, 0)
            assert await st.put("redirect", {"enabled": False, "name": "红色"}) == 1
            assert await st.put("redirect", {"enabled": True}) == 2
            assert await st.get("redirect") == ({"enabled": True}, 2)
            assert await st.revision("redirect") == 2 and await st.revision("other") == 0
        finally:
            await db.close()

    asyncio.run(run())
