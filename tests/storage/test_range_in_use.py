"""Taking a range back while accounts or VMRs are added in it: one wins, never both.

The in-use check runs in the removal's own transaction (``FederationStore.remove_range``
with ``DataStore.refuse_range_in_use`` as its guard), and an account or VMR re-checks
its number's stored range under a share lock in its own transaction, so whichever
commits first decides: no item is left holding a number of a range taken back. Each
test pauses one side inside its transaction (at the point the race used to open) and
runs the other side meanwhile, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from hub.datasets import DataError
from hub.numbering import NumberRange
from storage.datasets import ACCOUNTS, VMRS, DataStore, Scope
from storage.db import Database
from storage.federation_store import FederationStore
from tests.support.federation_data import province_and_city


@dataclass
class World:
    federation: FederationStore
    data: DataStore
    member: int
    accounts: NumberRange
    vmrs: NumberRange

    async def scope(self) -> Scope:
        view = await self.federation.current()
        return Scope(view.federation, view.plan, None)

    async def remove(self, rng: NumberRange) -> NumberRange:
        return await self.federation.remove_range(
            None, self.member, rng.id, guard=self.data.refuse_range_in_use
        )

    async def ranges(self) -> set[int]:
        view = await self.federation.current()
        return {r.id for r in view.plan.ranges_of(self.member)}


@pytest.fixture
async def world(db_url: str) -> AsyncIterator[World]:
    db = Database.open(db_url)
    await db.upgrade()
    federation, data = FederationStore(db), DataStore(db)
    _, city = await province_and_city(federation)
    accounts = await federation.add_range(
        None, city.id, type="system_account", start="1000", end="1999"
    )
    vmrs = await federation.add_range(None, city.id, type="vmr", start="2000", end="2999")
    try:
        yield World(federation, data, city.id, accounts, vmrs)
    finally:
        await db.close()


class Pause:
    """Hold a coroutine at one point until released; say when it got there."""

    def __init__(self) -> None:
        self.reached, self.go = asyncio.Event(), asyncio.Event()

    def around(self, fn: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        async def paused(*args: Any) -> None:
            await fn(*args)
            self.reached.set()
            await self.go.wait()

        return paused


async def _let_run(task: asyncio.Task[Any]) -> None:
    """Give ``task`` every chance to get as far as it can (it may block in the database)."""
    for _ in range(20):
        await asyncio.sleep(0)
        if task.done():
            return


async def test_an_account_started_while_its_range_is_taken_back_is_refused(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = await world.scope()  # checked against the plan before the removal
    pause = Pause()
    monkeypatch.setattr(
        DataStore, "refuse_range_in_use", pause.around(DataStore.refuse_range_in_use)
    )
    removal = asyncio.create_task(world.remove(world.accounts))
    await pause.reached.wait()  # the removal found the range unused and holds its lock
    values = {"kind": "user", "number": "1500", "name": "late"}
    create = asyncio.create_task(world.data.create(stale, ACCOUNTS, world.member, values))
    await _let_run(create)
    assert not create.done() or create.exception() is not None  # it could not slip in
    pause.go.set()
    assert (await removal).id == world.accounts.id
    with pytest.raises(DataError) as refused:
        await create
    assert refused.value.code == "number_outside_ranges"
    assert await world.data.items(ACCOUNTS, world.member) == []
    assert world.accounts.id not in await world.ranges()


async def test_a_range_taken_back_while_a_vmr_is_added_in_it_is_refused(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    pause = Pause()
    held = DataStore._hold_number

    async def hold(s: AsyncSession, *args: Any) -> None:
        await held(s, *args)
        pause.reached.set()
        await pause.go.wait()

    monkeypatch.setattr(DataStore, "_hold_number", staticmethod(hold))
    create = asyncio.create_task(
        world.data.create(await world.scope(), VMRS, world.member, {"number": "2042", "name": "V"})
    )
    await pause.reached.wait()  # the VMR's range is share-locked, the VMR not stored yet
    removal = asyncio.create_task(world.remove(world.vmrs))
    await _let_run(removal)
    assert not removal.done()  # it waits for the VMR's transaction
    pause.go.set()
    vmr = await create
    with pytest.raises(DataError) as refused:
        await removal
    assert refused.value.code == "range_in_use"
    assert refused.value.details["used_by"] == [
        {"resource": "vmrs", "number": "2042", "id": vmr.id}
    ]
    assert world.vmrs.id in await world.ranges()


async def test_racing_many_at_once_never_leaves_an_item_outside_its_ranges(world: World) -> None:
    """No pause: removals and creations in the same ranges at once, several rounds."""
    for n in range(6):
        rng = await world.federation.add_range(
            None, world.member, type="system_account", start=f"5{n}00", end=f"5{n}99"
        )
        stale = await world.scope()
        values = {"kind": "user", "number": f"5{n}42", "name": f"racer{n}"}
        outcomes = await asyncio.gather(
            world.data.create(stale, ACCOUNTS, world.member, values),
            world.remove(rng),
            return_exceptions=True,
        )
        created, removed = (not isinstance(o, BaseException) for o in outcomes)
        assert created != removed, outcomes  # exactly one of them won
        for o in outcomes:
            assert not isinstance(o, BaseException) or isinstance(o, DataError), o
        numbers = {a.number for a in await world.data.items(ACCOUNTS, world.member)}
        assert (values["number"] in numbers) == created
        assert (rng.id in await world.ranges()) == created
