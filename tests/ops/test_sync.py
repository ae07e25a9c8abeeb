"""Data-set sync converges: after outages, lost data, odd acks and a hub restart.

The hub side is the real ``SyncService`` on real storage (SQLite, and PostgreSQL when
configured); the member side is the emulator's ``MemberData``. Between them sits an
in-memory ``SyncLinks`` whose acks the test delivers by hand: late, twice, reversed or
never, as a real link may.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from controllers.messages import Sync, SyncAck, decode, encode
from emulator.sync import MemberData
from hub.datasets import Dataset
from ops.sync import NotUp, SyncService
from storage.datasets import ACCOUNTS, ROUTES, VMRS, DataStore, Scope
from storage.db import Database
from storage.federation_store import FederationStore
from tests.support.federation_data import province_and_city

PASSWORD = "Dev1ce-Secret!"
WALL = 1_790_000_000.0  # 2026-09-21, the wall clock of every success here


@dataclass
class MemoryLinks:
    """Member servers in memory: a push is applied at once, its ack waits in ``acks``."""

    members: dict[int, MemberData] = field(default_factory=dict)
    up: set[int] = field(default_factory=set)
    acks: list[tuple[int, SyncAck]] = field(default_factory=list)
    sent: list[tuple[int, Sync]] = field(default_factory=list)
    bytes: int = 0

    def bound(self) -> list[int]:
        return sorted(self.members)

    def is_up(self, member_id: int) -> bool:
        return member_id in self.up

    async def send(self, member_id: int, message: Sync) -> None:
        if member_id not in self.up:
            raise NotUp(f"member {member_id} is down")
        frame = encode(message)  # through the wire, as the real link does
        self.bytes += len(frame)
        received = decode(frame)
        assert isinstance(received, Sync)
        self.sent.append((member_id, received))
        ack = self.members[member_id].apply(received)
        if ack is not None:  # None: a part of a chunked push, answered at its last part
            self.acks.append((member_id, ack))


@dataclass
class Hub:
    db: Database
    federation: FederationStore
    data: DataStore
    links: MemoryLinks
    service: SyncService
    city: int

    async def deliver(self) -> None:
        """Hand every waiting ack to the hub, in order."""
        while self.links.acks:
            mid, ack = self.links.acks.pop(0)
            await self.service.on_ack(mid, ack)

    async def scope(self) -> Scope:
        view = await self.federation.current()
        return Scope(view.federation, view.plan, None)

    async def account(self, number: str, name: str, kind: str = "user") -> int:
        values = {"kind": kind, "number": number, "name": name}
        row = await self.data.create(
            await self.scope(), ACCOUNTS, self.city, values, password=PASSWORD
        )
        return row.id

    async def converged(self) -> bool:
        """The member holds exactly the hub's data, every data set, at its version."""
        member = self.links.members[self.city]
        await self.service.derived_versions()  # the derived sets as of the federation now
        for d in Dataset:
            want = await self.data.changes_since(self.city, d, 0)
            held = {k: dict(v) for k, v in member.items(d).items()}
            if held != {i["key"]: i for i in want.items} or member.version(d) != want.version:
                return False
        return True

    async def settle(self, rounds: int = 4) -> None:
        """Push and deliver acks until nothing is left to send."""
        for _ in range(rounds):
            await self.service.push(self.city)
            await self.deliver()


@pytest.fixture
async def hub(db_url: str) -> AsyncIterator[Hub]:
    db = Database.open(db_url)
    await db.upgrade()
    federation, data = FederationStore(db), DataStore(db)
    _, city = await province_and_city(federation)
    await federation.add_range(None, city.id, type="system_account", start="1000", end="1999")
    await federation.add_range(None, city.id, type="vmr", start="2000", end="2999")
    links = MemoryLinks({city.id: MemberData()}, {city.id})
    service = SyncService(data, federation, links, loop_time=lambda: 0.0, wall_time=lambda: WALL)
    data.on_change(service.changed)
    federation.on_change(service.federation_changed)
    try:
        yield Hub(db, federation, data, links, service, city.id)
    finally:
        await db.close()


async def test_in_step_returns_once_the_acknowledgements_bring_every_set_in(hub: Hub) -> None:
    await hub.account("1000", "user0")
    waiting = asyncio.create_task(hub.service.in_step())
    await hub.service.push(hub.city)
    assert not waiting.done()
    await hub.settle()
    await asyncio.wait_for(waiting, 10)
    assert hub.service.unsynced() == {}
    await asyncio.wait_for(hub.service.in_step(), 10)  # in step already: at once


async def test_first_push_sends_everything_and_converges(hub: Hub) -> None:
    for n in range(5):
        await hub.account(f"10{n:02d}", f"user{n}")
    await hub.account("1100", "room1", kind="room_device")
    await hub.data.create(await hub.scope(), VMRS, hub.city, {"number": "2000", "name": "V"})
    assert "user_accounts" in hub.service.unsynced()[hub.city]  # not pushed yet
    await hub.settle()
    assert hub.service.unsynced() == {}
    assert await hub.converged()
    first = {s.dataset: s for _, s in hub.links.sent}
    assert first["user_accounts"].full and len(first["user_accounts"].items) == 5
    held = hub.links.members[hub.city].items("user_accounts")
    assert all(i["ha1_md5"] and "password" not in i for i in held.values())
    assert PASSWORD not in str(held)
    federation = hub.links.members[hub.city].items("federation")
    assert {i["domain"] for i in federation.values()} == {"prov.gov", "c1.prov.gov"}
    status = hub.service.status(hub.city)
    assert not any(s["pending"] for s in status.values())
    assert status["user_accounts"]["acked_version"] == status["user_accounts"]["version"] == 5
    # a success is dated by the wall clock (not the event loop's), in the status and stored
    assert status["user_accounts"]["last_success"] == "2026-09-21T14:13:20+00:00"
    restarted = SyncService(hub.data, hub.federation, hub.links, loop_time=lambda: 0.0)
    await restarted.load()
    assert restarted.status(hub.city)["user_accounts"]["last_success"] == (
        "2026-09-21T14:13:20+00:00"
    )


async def test_derived_sets_go_as_deltas_and_only_the_changed_ones(hub: Hub) -> None:
    await hub.settle()
    assert await hub.converged()
    numbers = hub.service.status(hub.city)["numbers"]["version"]
    hub.links.sent.clear()
    rng = await hub.federation.add_range(
        None, hub.city, type="general_meeting", start="3000", end="3999"
    )
    await hub.settle()
    ((_, delta),) = hub.links.sent  # neither the federation list nor the domains moved
    assert (delta.dataset, delta.base, len(delta.items)) == ("numbers", numbers, 1)
    assert delta.items[0]["key"] == str(rng.id) and delta.items[0]["start"] == "3000"
    hub.links.sent.clear()
    view = await hub.federation.current()
    prov = view.federation.get(hub.city).parent_id
    town = await hub.federation.create_member(
        None, parent_id=prov, domain="t.prov.gov", display_name="T", username="t", password_hash="x"
    )
    await hub.settle()
    assert sorted((s.dataset, len(s.items)) for _, s in hub.links.sent) == [
        ("domains", 1),
        ("federation", 1),
    ]
    assert all(not s.full for _, s in hub.links.sent)
    hub.links.sent.clear()
    await hub.federation.delete_member(None, town.id)
    await hub.federation.remove_range(None, hub.city, rng.id)
    await hub.settle()
    gone = {s.dataset: [dict(i) for i in s.items] for _, s in hub.links.sent}
    assert gone == {
        "federation": [{"key": str(town.id), "deleted": True}],
        "domains": [{"key": "t.prov.gov", "deleted": True}],
        "numbers": [{"key": str(rng.id), "deleted": True}],
    }
    assert await hub.converged()
    # a hub restart does not resend the derived sets: their versions are stored
    hub.links.sent.clear()
    restarted = SyncService(hub.data, hub.federation, hub.links, loop_time=lambda: 0.0)
    await restarted.load()
    hub.service = restarted
    await hub.settle()
    assert hub.links.sent == []


async def test_after_an_outage_only_the_changes_go(hub: Hub) -> None:
    ids = [await hub.account(f"10{n:02d}", f"user{n}") for n in range(10)]
    await hub.settle()
    hub.links.up.clear()
    hub.service.link_down(hub.city)
    await hub.data.delete(ACCOUNTS, hub.city, ids[0])
    await hub.data.update(await hub.scope(), ACCOUNTS, hub.city, ids[1], {"display_name": "B"})
    await hub.account("1050", "late")
    assert (await hub.service.push(hub.city))["user_accounts"] == "link down"
    assert hub.service.status(hub.city)["user_accounts"]["pending"]
    hub.links.up.add(hub.city)
    hub.links.sent.clear()
    await hub.settle()
    assert await hub.converged()
    (delta,) = [s for _, s in hub.links.sent if s.dataset == "user_accounts"]
    assert not delta.full and delta.base == 10 and len(delta.items) == 3
    assert {"key": str(ids[0]), "deleted": True} in [dict(i) for i in delta.items]


async def test_a_member_that_lost_its_data_gets_everything_again(hub: Hub) -> None:
    for n in range(4):
        await hub.account(f"10{n:02d}", f"user{n}")
    await hub.settle()
    hub.links.members[hub.city].lose_everything()
    await hub.account("1010", "another")
    hub.links.sent.clear()
    await hub.service.push(hub.city)
    await hub.deliver()  # the delta is refused: the member holds nothing
    assert hub.service.status(hub.city)["user_accounts"]["last_error"]
    assert hub.service.unsynced() == {hub.city: ["user_accounts"]}
    await hub.settle()
    assert await hub.converged()
    kinds = [s.full for _, s in hub.links.sent if s.dataset == "user_accounts"]
    assert kinds[:2] == [False, True] and True not in kinds[2:]  # then empty probes at most
    derived = [s.full for _, s in hub.links.sent if s.dataset == "federation"]
    assert derived[-1] is True  # the refusal made the hub ask about the rest as well
    # nothing changed, but an hourly round asks: a member that lost data says so
    hub.links.members[hub.city].lose_everything()
    await hub.service.push(hub.city, force=True)
    await hub.deliver()
    await hub.settle()
    assert await hub.converged()


async def test_duplicate_and_out_of_order_acks_change_nothing(hub: Hub) -> None:
    await hub.account("1000", "a")
    await hub.service.push(hub.city, [Dataset.USER_ACCOUNTS])
    first = hub.links.acks.pop()
    await hub.service.on_ack(*first)
    await hub.account("1001", "b")
    await hub.service.push(hub.city, [Dataset.USER_ACCOUNTS])
    second = hub.links.acks.pop()
    await hub.service.on_ack(*second)
    assert hub.service.status(hub.city)["user_accounts"]["acked_version"] == 2
    for ack in (first, second, first, (hub.city, SyncAck("user_accounts", 99, True))):
        await hub.service.on_ack(*ack)  # stale, duplicate, never sent
    assert hub.service.status(hub.city)["user_accounts"]["acked_version"] == 2
    await hub.service.on_ack(hub.city, SyncAck("user_accounts", 1, False, "late refusal"))
    assert not hub.service.status(hub.city)["user_accounts"]["pending"]
    await hub.settle()
    assert await hub.converged()


async def test_a_hub_restart_mid_sync_resumes_from_what_was_acknowledged(hub: Hub) -> None:
    for n in range(3):
        await hub.account(f"10{n:02d}", f"user{n}")
    await hub.settle()
    await hub.account("1003", "d")
    await hub.service.push(hub.city)
    hub.links.acks.clear()  # the hub dies before the ack arrives
    restarted = SyncService(hub.data, hub.federation, hub.links, loop_time=lambda: 0.0)
    await restarted.load()
    hub.data.on_change(restarted.changed)
    assert restarted.status(hub.city)["user_accounts"]["acked_version"] == 3
    hub.service = restarted
    await hub.account("1004", "e")
    await hub.settle()
    assert await hub.converged()
    assert restarted.status(hub.city)["user_accounts"]["acked_version"] == 5


async def test_a_bad_item_is_refused_whole_and_nothing_changes(hub: Hub) -> None:
    await hub.account("1000", "a")
    await hub.settle()
    member = hub.links.members[hub.city]
    before = dict(member.items("user_accounts"))
    bad = Sync("user_accounts", 9, ({"key": "x", "name": "ok"}, {"name": "no key"}), base=1)
    ack = member.apply(bad)
    assert not ack.ok and "key" in ack.error
    assert dict(member.items("user_accounts")) == before and member.version("user_accounts") == 1


async def test_dry_run_says_what_would_change_and_changes_nothing(hub: Hub) -> None:
    ids = [await hub.account(f"10{n:02d}", f"user{n}") for n in range(3)]
    await hub.settle()
    await hub.data.delete(ACCOUNTS, hub.city, ids[0])
    await hub.data.create(
        await hub.scope(), ROUTES, hub.city, {"prefix": "3", "destination": "prov.gov"}
    )
    await hub.account("1010", "x")
    before = (hub.service.status(hub.city), len(hub.links.sent))
    report = await hub.service.dry_run(hub.city)
    assert report["user_accounts"] == {
        "full": False,
        "from_version": 3,
        "to_version": 5,
        "upserts": 1,
        "deletes": 1,
    }
    assert report["routes"]["full"] and report["routes"]["upserts"] == 1
    assert report["vmrs"]["upserts"] == 0
    assert (hub.service.status(hub.city), len(hub.links.sent)) == before
    assert not await hub.converged()


async def test_a_push_larger_than_a_frame_goes_in_parts_applied_as_one_version(
    hub: Hub,
) -> None:
    hub.service.max_frame = 700  # two or three accounts a frame
    for n in range(7):
        await hub.account(f"10{n:02d}", f"user{n}")
    await hub.service.push(hub.city, [Dataset.USER_ACCOUNTS])
    parts = [s for _, s in hub.links.sent if s.dataset == "user_accounts"]
    assert len(parts) > 2 and [p.part for p in parts] == list(range(parts[0].parts))
    assert all(len(encode(p)) <= 700 for p in parts)
    assert sum(len(p.items) for p in parts) == 7 and all(p.revision == 7 for p in parts)
    assert len(hub.links.acks) == 1  # only the last part is answered
    await hub.deliver()
    assert hub.links.members[hub.city].version("user_accounts") == 7
    await hub.settle()
    assert await hub.converged()


async def test_an_interrupted_chunked_push_leaves_the_old_version_then_restarts(
    hub: Hub,
) -> None:
    await hub.account("1000", "first")
    await hub.settle()
    member = hub.links.members[hub.city]
    hub.service.max_frame = 700
    for n in range(1, 8):
        await hub.account(f"10{n:02d}", f"user{n}")
    cut = MemoryLinks(hub.links.members, {hub.city})
    sends = 0
    real_send = cut.send

    async def send_two_then_fail(member_id: int, message: Sync) -> None:
        nonlocal sends
        sends += 1
        if sends > 2:  # the link drops after the second part
            cut.up.clear()
        await real_send(member_id, message)

    cut.send = send_two_then_fail  # type: ignore[method-assign]
    hub.service.links = cut
    assert (await hub.service.push(hub.city, [Dataset.USER_ACCOUNTS]))[
        "user_accounts"
    ] == "link down"
    hub.service.link_down(hub.city)
    assert member.version("user_accounts") == 1 and list(member.items("user_accounts")) != []
    assert len(member.items("user_accounts")) == 1 and cut.acks == []  # staged, not applied
    assert hub.service.status(hub.city)["user_accounts"]["pending"]
    hub.service.links = hub.links  # the link is back: the push starts again at part 0
    hub.links.sent.clear()
    await hub.settle()
    assert await hub.converged() and member.version("user_accounts") == 8
    parts = [s for _, s in hub.links.sent if s.dataset == "user_accounts"]
    assert parts[0].part == 0 and parts[0].base == 1 and parts[0].parts > 1


async def test_a_part_out_of_sequence_is_refused_and_the_hub_sends_everything(
    hub: Hub,
) -> None:
    for n in range(3):
        await hub.account(f"10{n:02d}", f"user{n}")
    await hub.settle()
    member = hub.links.members[hub.city]
    lost_first = Sync("user_accounts", 9, ({"key": "x"},), base=3, part=1, parts=2)
    ack = member.apply(lost_first)
    assert ack is not None and not ack.ok and "without the parts before it" in ack.error
    assert member.version("user_accounts") == 3
    hub.service.max_frame = 700
    await hub.account("1010", "more")
    await hub.settle()
    assert await hub.converged()


async def test_an_item_larger_than_a_frame_is_not_sent(hub: Hub) -> None:
    """A member drops a link carrying an oversized frame; the hub must not loop on it."""
    hub.service.max_frame = 200
    await hub.account("1000", "a")
    outcome = await hub.service.push(hub.city)
    assert outcome["user_accounts"] == "too large"
    assert "over one frame" in hub.service.status(hub.city)["user_accounts"]["last_error"]
    assert "user_accounts" not in {s.dataset for _, s in hub.links.sent}
    await hub.deliver()
    assert "user_accounts" in hub.service.unsynced()[hub.city]


async def test_changes_made_through_another_node_are_seen(hub: Hub) -> None:
    await hub.settle()
    other_node = DataStore(hub.db)  # its listeners do not reach this node's service
    view = await hub.federation.current()
    scope = Scope(view.federation, view.plan, None)
    await other_node.create(scope, VMRS, hub.city, {"number": "2001", "name": "elsewhere"})
    assert hub.service.pending_members() == []
    await hub.service.refresh()
    assert hub.service.pending_members() == [hub.city]
    await hub.settle()
    assert await hub.converged()
