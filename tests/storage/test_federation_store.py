"""The federation store as two nodes see it: one database, two in-memory caches."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from hub.federation import FederationError, FrozenFederation, Member
from hub.numbering import FrozenPlan, NumberPlanError
from sip.redirect import MemberServer, RoutingTable
from storage.db import Database
from storage.federation_store import FederationBatch, FederationStore, FederationView


@pytest.fixture
async def nodes(db_url: str) -> AsyncIterator[tuple[FederationStore, FederationStore]]:
    """Two nodes' stores on one (upgraded, empty) database."""
    a, b = Database.open(db_url), Database.open(db_url)
    try:
        await a.upgrade()
        yield FederationStore(a), FederationStore(b)
    finally:
        await a.close()
        await b.close()


async def _province(store: FederationStore | FederationBatch, **server: Any) -> Member:
    """``p.example.gov``, the top of the federation (with ``server``'s address fields)."""
    return await store.create_member(
        None,
        parent_id=None,
        domain="p.example.gov",
        display_name="P",
        username="p",
        password_hash="x",
        **server,
    )


async def test_second_node_sees_changes_and_conflicts(
    nodes: tuple[FederationStore, FederationStore],
) -> None:
    a, b = nodes
    prov = await _province(a)
    assert len((await b.current()).federation) == 1
    await b.add_range(None, prov.id, type="vmr", start="100", end="199")
    # node A's cache is stale; its next change must still see B's range
    with pytest.raises(NumberPlanError) as e:
        await a.add_range(None, prov.id, type="vmr", start="150", end="160")
    assert e.value.code == "range_conflict"
    assert (await a.current()).plan.resolve("150") == prov.id


async def test_concurrent_writers_never_overlap(
    nodes: tuple[FederationStore, FederationStore],
) -> None:
    """Many overlapping range requests from two nodes at once: exactly one wins each slot."""

    a, b = nodes
    prov = await _province(a)

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


async def test_failed_change_leaves_store_intact(
    nodes: tuple[FederationStore, FederationStore],
) -> None:
    a, _ = nodes
    prov = await _province(a)
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


# -- snapshots: a view is one committed revision, never changed afterwards -----------


class InjectedFailure(Exception):
    pass


@contextlib.contextmanager
def failing_commits():
    """Every transaction that wrote something fails at COMMIT (after the pure check, the
    writes and the flush): as a lost connection or a deferred constraint would."""

    def mark(state: ORMExecuteState) -> None:
        if state.is_update or state.is_delete or state.is_insert:
            state.session.info["wrote"] = True

    def boom(session: Session) -> None:
        if session.info.pop("wrote", False) or session.new or session.dirty or session.deleted:
            raise InjectedFailure("commit refused")

    event.listen(Session, "do_orm_execute", mark)
    event.listen(Session, "before_commit", boom)
    try:
        yield
    finally:
        event.remove(Session, "before_commit", boom)
        event.remove(Session, "do_orm_execute", mark)


def routing(view: FederationView) -> RoutingTable:
    """The SIP routing table as the hub builds it from a view."""
    servers = [
        MemberServer(m.id, m.domain, s.sip_host, s.sip_port or 5060)
        for m in view.federation
        if (s := view.servers.get(m.id)) is not None and s.sip_host
    ]
    return RoutingTable.of(servers, view.plan.resolve)


def picture(view: FederationView) -> tuple[object, ...]:
    """Everything a reader can see in a view, as plain values."""
    return (
        view.revision,
        sorted((m.id, m.parent_id, m.domain, m.display_name, m.username) for m in view.federation),
        [r.as_dict() for r in view.plan],
        sorted(view.servers.items()),
    )


async def _province_with_city(store: FederationStore) -> tuple[int, int, int]:
    prov = await _province(store, sip_host="127.0.0.1", sip_port=5070)
    city = await store.create_member(
        None,
        parent_id=prov.id,
        domain="c.example.gov",
        display_name="C",
        username="c",
        password_hash="x",
        sip_host="127.0.0.2",
    )
    rng = await store.add_range(None, city.id, type="vmr", start="2000", end="2999")
    return prov.id, city.id, rng.id


async def test_failed_commit_leaves_every_view_and_route_unchanged(
    nodes: tuple[FederationStore, FederationStore],
) -> None:
    a, _ = nodes
    prov, city, rid = await _province_with_city(a)
    before = await a.current()
    seen = picture(before)
    table = routing(before)
    assert table.by_number("2500") == table.by_member(city)
    assert before.plan.resolve("1500") is None and table.by_number("1500") is None
    attempts = [
        lambda: a.add_range(None, prov, type="vmr", start="1000", end="1999"),
        lambda: a.remove_range(None, city, rid),
        lambda: a.create_member(
            None,
            parent_id=prov,
            domain="x.example.gov",
            display_name="X",
            username="x",
            password_hash="x",
            sip_host="127.0.0.9",
        ),
        lambda: a.update_member(None, city, {"sip_host": "127.0.0.3", "domain": "d.gov"}),
        lambda: a.delete_member(None, city, cascade=True),
    ]
    with failing_commits():
        for attempt in attempts:
            with pytest.raises(InjectedFailure):
                await attempt()
            now = await a.current()
            assert picture(now) == seen and picture(before) == seen
            for view in (before, now):
                assert view.plan.resolve("1500") is None
                assert view.plan.resolve("2500") == city
                assert routing(view).by_number("1500") is None
            # the table built before the failure routes exactly as before
            assert table.by_number("1500") is None
            assert table.by_number("2500") == table.by_member(city)
            assert table.by_member(city).host == "127.0.0.2"  # type: ignore[union-attr]
            assert table.by_domain("x.example.gov") is None
    # Without the injected failure the same change lands, in a new view only.
    await a.add_range(None, prov, type="vmr", start="1000", end="1999")
    after = await a.current()
    assert after.plan.resolve("1500") == prov and routing(after).by_number("1500")
    assert before.plan.resolve("1500") is None and table.by_number("1500") is None
    assert picture(before) == seen


async def test_view_held_across_changes_never_changes(
    nodes: tuple[FederationStore, FederationStore],
) -> None:
    a, b = nodes
    prov, city, rid = await _province_with_city(a)
    held = await a.current()
    seen = picture(held)
    town = await a.create_member(
        None,
        parent_id=city,
        domain="t.example.gov",
        display_name="T",
        username="t",
        password_hash="x",
    )
    await a.add_range(None, town.id, type="vmr", start="3000", end="3999")
    await a.update_member(None, prov, {"sip_host": "127.0.0.8", "remark": "moved"})
    await b.remove_range(None, city, rid)  # another node's change, then reloaded here
    await a.add_range(None, city, type="general_meeting", start="5000", end="5999")
    await a.delete_member(None, town.id, cascade=True)
    latest = await a.current()
    assert latest.revision > held.revision
    assert picture(held) == seen
    assert held.plan.resolve("2500") == city and held.plan.resolve("5500") is None
    assert latest.plan.resolve("2500") is None and latest.plan.resolve("5500") == city
    # A reader cannot change a published view either.
    with pytest.raises(FrozenPlan):
        held.plan.remove(rid)
    with pytest.raises(FrozenFederation):
        held.federation.remove(city)
    with pytest.raises(TypeError):
        held.servers[city] = None  # type: ignore[index]
    assert picture(held) == seen


def test_migration_keeps_flat_ranges_as_given_by_the_top(db_url):
    """Ranges stored before delegation (revision 0003) load unchanged after 0006: each is
    a block given by the top (granted_by NULL), and the deepest-holder lookup finds them."""
    from alembic import command
    from sqlalchemy import text

    from storage.db import _alembic_config
    from storage.models import MemberRow, NumberRangeRow

    async def run() -> None:
        db = Database.open(db_url)
        try:

            def upgrade_to(conn, revision: str) -> None:
                cfg = _alembic_config()
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)

            async with db.engine.begin() as conn:
                await conn.run_sync(upgrade_to, "0003")
                # the tables as they were then (no granted_by column yet)
                for mid, parent, level, name in ((1, None, 1, "p"), (2, 1, 2, "c")):
                    await conn.execute(
                        MemberRow.__table__.insert().values(
                            id=mid,
                            parent_id=parent,
                            level=level,
                            domain=f"{name}.example.gov",
                            display_name=name,
                            username=name,
                            password_hash="x",
                        )
                    )
                for mid, start, end in ((1, "1000", "1999"), (2, "2000", "2999")):
                    await conn.execute(
                        NumberRangeRow.__table__.insert().values(
                            member_id=mid,
                            type="vmr",
                            start=start,
                            end=end,
                            length=4,
                            start_value=int(start),
                            end_value=int(end),
                        )
                    )
            await db.upgrade()
            async with db.engine.connect() as conn:
                granted = (
                    await conn.execute(text("SELECT granted_by FROM number_ranges ORDER BY id"))
                ).all()
            assert [g for (g,) in granted] == [None, None]
            store = FederationStore(db)
            view = await store.current()
            assert view.plan.resolve("1500") == 1 and view.plan.resolve("2500") == 2
            # the province's admin may now give the city numbers out of its block only
            await store.add_range(1, 2, type="vmr", start="1100", end="1199")
            assert (await store.current()).plan.resolve("1150") == 2
        finally:
            await db.close()

    asyncio.run(run())


async def test_batch_is_one_change_checked_step_by_step(
    nodes: tuple[FederationStore, FederationStore],
) -> None:
    """A batch: every step checked as its single call (it sees the steps before it),
    published as one revision with one change notice; a refusal drops the whole batch."""
    a, b = nodes
    notices = 0

    async def noticed() -> None:
        nonlocal notices
        notices += 1

    a.on_change(noticed)
    before = (await a.current()).revision
    async with a.batch() as batch:
        prov = await _province(batch)
        await batch.add_range(None, prov.id, type="vmr", start="100", end="199")
        city = await batch.create_member(
            None,
            parent_id=prov.id,
            domain="c.p.example.gov",
            display_name="C",
            username="c",
            password_hash="x",
            server_url="ws://c.example/link",
        )
        await batch.add_range(None, city.id, type="vmr", start="150", end="159")
    view = await b.current()
    assert (view.revision, notices) == (before + 1, 1)
    assert [m.domain for m in view.federation.subtree(prov.id)] == [
        "p.example.gov",
        "c.p.example.gov",
    ]
    assert view.plan.resolve("155") == city.id
    assert view.servers[city.id].server_url == "ws://c.example/link"
    with pytest.raises(FederationError):
        async with a.batch() as batch:
            for domain in ("t.c.p.example.gov", "t.c.p.example.gov"):  # the 2nd clashes
                await batch.create_member(
                    None,
                    parent_id=city.id,
                    domain=domain,
                    display_name="T",
                    username=domain[:3],
                    password_hash="x",
                )
    after = await b.current()
    assert (after.revision, notices, len(after.federation)) == (before + 1, 1, 2)
