"""Singleton leases: one holder at a time on PostgreSQL; a crashed holder hands over."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from controllers.manager import LinkManager
from hub.live import LiveState
from ops.links import LinkSupervisor
from storage.db import Database
from storage.federation_store import FederationStore
from storage.lease import Lease, lease_key


def test_lease_keys_are_stable_and_distinct():
    assert lease_key("member-links") == lease_key("member-links")
    assert lease_key("member-links") != lease_key("backups")
    assert -(2**63) <= lease_key("x") < 2**63


@pytest.mark.postgres
def test_one_holder_and_takeover(db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has one node: it always holds the lease")

    async def run() -> None:
        a, b = Database.open(db_url), Database.open(db_url)
        try:
            la, lb = Lease(a, "member-links"), Lease(b, "member-links")
            assert await la.try_acquire() is True
            assert await lb.try_acquire() is False
            assert await la.still_held() and await la.try_acquire()
            await la.release()
            assert await lb.try_acquire() is True
            # the holder's connection dies (a crashed node): the lock goes with it
            assert lb._conn is not None
            raw = await lb._conn.get_raw_connection()
            await raw.driver_connection.close()  # type: ignore[union-attr]
            assert await lb.still_held() is False
            assert await la.try_acquire() is True
            await la.release()
        finally:
            await a.close()
            await b.close()

    asyncio.run(run())


def test_sqlite_node_always_holds(tmp_path):
    async def run() -> None:
        db = Database.open(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
        try:
            assert await Lease(db, "member-links").try_acquire()
            assert await Lease(db, "member-links").try_acquire()
        finally:
            await db.close()

    asyncio.run(run())


class WatchedLease(Lease):
    """A real lease that counts how often its holder-to-be has asked for it."""

    def __init__(self, db: Database, name: str):
        super().__init__(db, name)
        self.tries = 0

    async def try_acquire(self) -> bool:
        got = await super().try_acquire()
        self.tries += 1
        return got


async def until(check: Callable[[], bool], within: float = 20.0, what: str = "") -> None:
    """Wait until ``check()`` holds (polled on the event loop); fail after ``within`` s."""
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while not check():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def test_only_one_node_runs_member_links(db_url):
    """Two hub nodes on one database: links run on exactly one; the other takes over."""

    async def run() -> None:
        a, b = Database.open(db_url), Database.open(db_url)
        await a.upgrade()
        la, lb = WatchedLease(a, "member-links"), WatchedLease(b, "member-links")
        sa = LinkSupervisor(FederationStore(a), LinkManager(live=LiveState()), la, check_s=0.05)
        sb = LinkSupervisor(FederationStore(b), LinkManager(live=LiveState()), lb, check_s=0.05)
        try:
            await sa.start()
            await sb.start()
            if db_url.startswith("sqlite"):
                assert sa.owner and sb.owner  # one node per SQLite file by design
                return
            # B has asked again and again while A held the lease, and never got it.
            await until(lambda: lb.tries >= 4, what="B's lease checks")
            assert [sa.owner, sb.owner] == [True, False]
            assert la.tries >= 1
            await sa.stop()
            await until(lambda: sb.owner, what="B taking over")
            assert not sa.owner
        finally:
            await sa.stop()
            await sb.stop()
            await a.close()
            await b.close()

    asyncio.run(run())
