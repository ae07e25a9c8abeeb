"""Migration 0010: what members acknowledged of the derived data sets was a federation
revision, not a data-set version; it is forgotten (they get everything once), the
stored data sets' acknowledgements are kept."""

from __future__ import annotations

from alembic import command
from sqlalchemy import select
from sqlalchemy.engine import Connection

from hub.datasets import Dataset
from storage.datasets import DataStore
from storage.db import Database, _alembic_config
from storage.federation_store import FederationStore
from storage.models import SyncStateRow


def _upgrade_to(conn: Connection, rev: str) -> None:
    cfg = _alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, rev)


async def test_derived_acknowledgements_are_forgotten_stored_ones_kept(db_url: str) -> None:
    db = Database.open(db_url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(_upgrade_to, "0009")
        member = await FederationStore(db).create_member(
            None, parent_id=None, domain="p.gov", display_name="P", username="p", password_hash="x"
        )
        data = DataStore(db)
        for dataset in (Dataset.USER_ACCOUNTS, Dataset.FEDERATION, Dataset.NUMBERS):
            await data.record_sync(member.id, dataset, acked_version=7, success=None, error="")
        await db.upgrade()
        async with db.session() as s:
            rows = (await s.execute(select(SyncStateRow.dataset, SyncStateRow.acked_version))).all()
        assert dict(rows) == {"user_accounts": 7, "federation": 0, "numbers": 0}
        view = await FederationStore(db).current()
        versions = await data.derive(view.revision, view.federation, view.plan)
        assert versions[Dataset.FEDERATION] == view.revision
        assert (await data.changes_since(member.id, Dataset.FEDERATION, 0)).items[0]["domain"] == (
            "p.gov"
        )
    finally:
        await db.close()
