"""The federation store as two nodes see it: one database, two in-memory caches."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from hub.federation import FederationError
from hub.numbering import NumberPlanError
from storage.db import Database
from storage.federation_store import FederationStore


async def _two_nodes(db_url: str):
    a, b = Database.open(db_url), Database.open(db_url)
    await a.upgrade()
    return a, b, FederationStore(a), FederationStore(b)


def test_second_node_sees_changes_and_conflicts(db_url):
    async def run() -> None:
        da, dbb, a, b = await _two_nodes(db_url)
        try:
            prov = await a.create_member(
                None,
                parent_id=None,
                domain="p.example.gov",
                display_name="P",
                username="p",
                password_hash="x",
            )
            assert len((await b.current()).federation) == 1
            await b.add_range(None, prov.id, type="vmr", start="100", end="199")
            # node A's cache is stale; its next change must still see B's range
            with pytest.raises(NumberPlanError) as e:
                await a.add_range(None, prov.id, type="vmr", start="150", end="160")
            assert e.value.code == "range_conflict"
            assert (await a.current()).plan.resolve("150") == (prov.id, "vmr")
        finally:
            await da.close()
            await dbb.close()

    asyncio.run(run())


def test_concurrent_writers_never_overlap(db_url):
    """Many overlapping range requests from two nodes at once: exactly one wins each slot."""

    async def run() -> None:
        da, dbb, a, b = await _two_nodes(db_url)
        try:
            prov = await a.create_member(
                None,
                parent_id=None,
                domain="p.example.gov",
                display_name="P",
                username="p",
                password_hash="x",
            )

            async def attempt(store: FederationStore, i: int) -> bool:
                try:
                    await store.add_range(
                        None,
                        prov.id,
                        type="vmr",
                        start=f"{i // 2 * 10:04d}",
                        end=f"{i // 2 * 10 + 9:04d}",
                    )
                    return True
                except NumberPlanError:
                    return False

            results = await asyncio.gather(*(attempt(a if i % 2 else b, i) for i in range(20)))
            assert sum(results) == 10
            plan = (await a.current()).plan
            assert len(plan) == 10
            ranges = sorted(plan, key=lambda r: int(r.start))
            assert all(int(x.end) < int(y.start) for x, y in itertools.pairwise(ranges))
        finally:
            await da.close()
            await dbb.close()

    asyncio.run(run())


def test_failed_change_leaves_store_intact(db_url):
    async def run() -> None:
        da, dbb, a, _ = await _two_nodes(db_url)
        try:
            prov = await a.create_member(
                None,
                parent_id=None,
                domain="p.example.gov",
                display_name="P",
                username="p",
                password_hash="x",
            )
            with pytest.raises(FederationError):
                await a.create_member(
                    prov.id,
                    parent_id=prov.id,
                    domain="P.example.gov",
                    display_name="Dup",
                    username="q",
                    password_hash="x",
                )
            with pytest.raises(FederationError):
                await a.delete_member(None, 424242)
            view = await a.current()
            assert [m.domain for m in view.federation] == ["p.example.gov"]
        finally:
            await da.close()
            await dbb.close()

    asyncio.run(run())
