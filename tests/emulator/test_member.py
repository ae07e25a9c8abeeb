"""EmulatedMember: commands, calls, cascades, auto-call, statistics, activity."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from controllers.messages import Command, CommandKind, EventMessage, Result, Sync, SyncAck, decode
from emulator.activity import Activity, drive
from emulator.behaviour import Behaviour
from emulator.federation import EmulatedFederation, build_demo_federation
from emulator.member import EmulatedMember, cascade_venue_id
from hub.conference import StatsUpdated, VenueStatus

SPECS = build_demo_federation(3, cities=1, counties=1, townships=1, villages=(1, 1))
CALM = Behaviour(
    latency=(0.0, 0.0),
    ring=(0.01, 0.01),
    p_busy=0,
    p_no_answer=0,
    p_offline=0,
    p_command_fail=0,
    stats_interval=0,
)


LIMIT_S = 10.0  # a stuck test fails; a passing one never waits this long


class Outlet:
    """A hub link as the member sees it, collecting what is sent (no socket needed)."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self._arrived = asyncio.Event()

    up = True
    backlog = 0

    def enqueue(self, data: bytes) -> None:
        self.frames.append(data)
        self._arrived.set()

    async def until(self, condition: Callable[[], object]) -> None:
        """Wait until ``condition()`` holds, checking after every frame the member sends.

        Every change of a member goes out as a frame, so nothing can change unseen.
        """
        try:
            async with asyncio.timeout(LIMIT_S):
                while not condition():
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            raise AssertionError(
                f"not within {LIMIT_S} s: {condition.__doc__ or condition}"
            ) from None

    def messages(self) -> list:
        return [decode(f) for f in self.frames]

    def results(self) -> list[Result]:
        return [m for m in self.messages() if isinstance(m, Result)]


def federation(behaviour: Behaviour = CALM) -> tuple[EmulatedFederation, Outlet]:
    fed = EmulatedFederation(SPECS, seed=9, behaviour=behaviour)
    fed.setup()
    out = Outlet()
    for m in fed.members.values():
        m.outlets.add(out)
    return fed, out


def prov(fed: EmulatedFederation) -> EmulatedMember:
    return fed.members["prov"]


def joined_venue(member: EmulatedMember) -> str:
    """A joined, unmuted contact with its camera on."""
    conf = member.spec.meeting
    for vid in member.world.venue_ids(conf):
        v = member.world.venue(conf, vid)
        if v and v.status is VenueStatus.JOINED and v.cascade is None and not v.muted:
            if v.camera_on:
                return vid
    raise AssertionError("no such venue in the demo")


async def test_mute_camera_layout_hang_up() -> None:
    fed, out = federation()
    p = prov(fed)
    conf, vid = p.spec.meeting, joined_venue(p)
    for i, kind in enumerate([CommandKind.MUTE, CommandKind.CAMERA_OFF, CommandKind.HANG_UP]):
        p.on_command(Command(f"c{i}", kind, conf, vid))
    p.on_command(Command("L", CommandKind.LAYOUT, conf, args={"layout": "2x2"}))
    await out.until(lambda: len(out.results()) == 4)
    assert all(r.ok for r in out.results()) and len(out.results()) == 4
    v = p.world.venue(conf, vid)
    assert v is not None and v.muted and not v.camera_on and v.status is VenueStatus.NOT_JOINED
    assert p.world.conference(conf).layout == "2x2"  # type: ignore[union-attr]
    kinds = [m.event.change.KIND for m in out.messages() if isinstance(m, EventMessage)]
    assert kinds == ["mute_changed", "camera_changed", "venue_left", "layout_changed"]


async def test_commands_fail_with_reasons() -> None:
    fed, out = federation()
    p = prov(fed)
    conf = p.spec.meeting
    not_joined = next(v.id for v in p.spec.venues if v.initial is VenueStatus.NOT_JOINED)
    p.on_command(Command("a", CommandKind.MUTE, "nope", "x"))
    p.on_command(Command("b", CommandKind.MUTE, conf, "ghost"))
    p.on_command(Command("c", CommandKind.MUTE, conf, not_joined))
    p.on_command(Command("d", CommandKind.LAYOUT, conf))
    p.on_command(Command("e", CommandKind.CALL, conf, args={"number": "999"}))
    await out.until(lambda: len(out.results()) == 5)
    reasons = {r.id: r.reason for r in out.results()}
    assert not any(r.ok for r in out.results())
    assert "no conference" in reasons["a"] and "no venue" in reasons["b"]
    assert "not in the call" in reasons["c"] and "layout" in reasons["d"]
    assert reasons["e"] == "no such contact"


async def test_a_repeated_command_id_gets_the_same_single_answer() -> None:
    fed, out = federation()
    p = prov(fed)
    cmd = Command("same", CommandKind.MUTE, p.spec.meeting, joined_venue(p))
    p.on_command(cmd)
    p.on_command(cmd)  # while in progress: ignored
    await out.until(lambda: out.results())
    p.on_command(cmd)  # after: the same answer again
    assert [r.id for r in out.results()] == ["same", "same"]
    assert sum(isinstance(m, EventMessage) for m in out.messages()) == 1


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        (Behaviour((0, 0), (0, 0), p_busy=1.0, p_no_answer=0, p_offline=0), "busy"),
        (Behaviour((0, 0), (0, 0.01), p_busy=0, p_no_answer=1.0, p_offline=0), "no answer"),
        (Behaviour((0, 0), (0, 0), p_busy=0, p_no_answer=0, p_offline=1.0), "venue offline"),
    ],
)
async def test_calls_fail_realistically(behaviour: Behaviour, reason: str) -> None:
    fed, out = federation(behaviour)
    p = prov(fed)
    spec = next(v for v in p.spec.venues if v.initial is VenueStatus.NOT_JOINED)
    p.on_command(Command("call", CommandKind.CALL, p.spec.meeting, args={"number": spec.number}))
    await out.until(lambda: out.results())
    (result,) = out.results()
    assert not result.ok and result.reason == reason
    venue = p.world.venue(p.spec.meeting, spec.id)
    assert venue is not None and venue.status is VenueStatus.FAILED and venue.reason == reason


async def test_call_rings_then_joins_and_unreachable_venues_stay_offline() -> None:
    fed, out = federation()
    p = prov(fed)
    conf = p.spec.meeting
    spec = next(v for v in p.spec.venues if v.initial is VenueStatus.NOT_JOINED)
    offline = next(v for v in p.spec.venues if not v.reachable)
    p.on_command(Command("ok", CommandKind.CALL, conf, spec.id))
    p.on_command(Command("off", CommandKind.CALL, conf, offline.id))
    await out.until(lambda: len(out.results()) == 2)
    results = {r.id: r for r in out.results()}
    assert results["ok"].ok and results["off"].reason == "venue offline"
    kinds = [m.event.change.KIND for m in out.messages() if isinstance(m, EventMessage)]
    assert kinds.count("venue_ringing") == 2 and "venue_joined" in kinds


async def test_calling_a_childs_vmr_cascades_it_in_and_auto_calls() -> None:
    fed, out = federation()
    p, city = prov(fed), fed.members[SPECS[1].key]
    link = cascade_venue_id(city.spec.meeting)
    p.on_command(Command("h", CommandKind.HANG_UP, p.spec.meeting, link))
    await out.until(lambda: out.results())
    assert p.world.venue(p.spec.meeting, link).status is VenueStatus.NOT_JOINED  # type: ignore[union-attr]
    spare = city.spec.range_of("vmr").number(7)  # a VMR that is not running yet
    p.on_command(Command("c", CommandKind.CALL, p.spec.meeting, link))
    p.on_command(Command("n", CommandKind.CALL, p.spec.meeting, args={"number": spare}))
    await out.until(lambda: len(out.results()) == 3)
    assert all(r.ok for r in out.results() if r.id in "cn")
    assert p.world.venue(p.spec.meeting, link).status is VenueStatus.JOINED  # type: ignore[union-attr]
    new_link = p.world.venue(p.spec.meeting, cascade_venue_id(spare))
    assert new_link is not None and new_link.cascade.member == city.spec.domain  # type: ignore[union-attr]
    assert city.world.running(spare)


async def test_auto_call_rings_assigned_contacts() -> None:
    fed, out = federation()
    city = fed.members[SPECS[1].key]
    city.publish(city.world.end_conference(city.spec.meeting))
    city.publish(city.world.start_conference(city.spec.meeting, "again", "vmr", 0.0))  # type: ignore[arg-type]
    city.auto_call(city.spec.meeting)
    assigned = {v.id for v in city.spec.venues if v.conference == city.spec.meeting}
    assert assigned and set(city.world.venue_ids(city.spec.meeting)) == assigned  # ringing

    def answered() -> bool:
        """every assigned contact answered or failed"""
        venues = [city.world.venue(city.spec.meeting, v) for v in assigned]
        return all(v is not None and v.status is not VenueStatus.RINGING for v in venues)

    await out.until(answered)
    assert set(city.world.venue_ids(city.spec.meeting)) == assigned


async def test_a_call_naming_no_venue_rings_the_contacts_not_in_again() -> None:
    """The one-click call's auto-call command: one ``call`` without venue or number."""
    fed, out = federation()
    city = fed.members[SPECS[1].key]
    conf = city.spec.meeting
    assigned = [v.id for v in city.spec.venues if v.conference == conf]
    left, stays = assigned[0], assigned[1:]
    city.publish(city.world.leave(conf, left, "left"))
    before = {v: city.world.venue(conf, v) for v in stays}
    inside = (VenueStatus.JOINED, VenueStatus.RINGING)
    out_of_it = {left} | {v for v, x in before.items() if x is None or x.status not in inside}
    city.on_command(Command("again", CommandKind.CALL, conf))
    city.on_command(Command("none", CommandKind.CALL, "999999"))
    await out.until(lambda: len(out.results()) == 2)
    results = {r.id: r for r in out.results()}
    assert results["again"].ok and results["none"].reason == "no conference 999999"

    def answered() -> bool:
        """the contact that left answered the auto-call"""
        v = city.world.venue(conf, left)
        return v is not None and v.status is VenueStatus.JOINED

    await out.until(answered)
    rung = [
        m.event.change.venue.id  # type: ignore[union-attr]
        for m in out.messages()
        if isinstance(m, EventMessage) and m.event.change.KIND == "venue_ringing"
    ]
    assert sorted(rung) == sorted(out_of_it)  # the contacts in were not called again
    assert all(city.world.venue(conf, v) == before[v] for v in stays if v not in out_of_it)


async def test_sync_is_kept_and_acknowledged() -> None:
    fed, out = federation()
    p = prov(fed)
    assert "local-admin" in p.data.items("user_accounts")  # before the hub pushes anything
    p.on_sync(Sync("user_accounts", 3, ({"key": "1", "name": "alice"},)))
    assert out.messages()[-1] == SyncAck("user_accounts", 3, True)
    assert p.data.version("user_accounts") == 3
    assert list(p.data.items("user_accounts")) == ["1"]  # the local account was wiped


async def test_statistics_and_scripted_activity_emit_events() -> None:
    fed, out = federation()
    p = prov(fed)
    p.tick_stats(dip_chance=0.5)
    stats = [
        m
        for m in out.messages()
        if isinstance(m, EventMessage) and isinstance(m.event.change, StatsUpdated)
    ]
    joined = sum(
        1
        for c in p.world.snapshot().conferences
        for v in c.venues
        if v.status is VenueStatus.JOINED
    )
    assert len(stats) == joined
    out.frames.clear()
    task = asyncio.create_task(drive(list(fed.members.values()), Activity.flood(2000), seed=1))
    await out.until(lambda: len(out.frames) > 100)
    task.cancel()
    assert len(out.frames) > 100


def test_the_same_seed_replays_the_same_activity() -> None:
    runs = []
    for _ in range(2):
        fed, out = federation()
        for m in fed.members.values():
            for kind in ("mute", "camera", "dip", "mute", "camera"):
                m.random_action(kind)
        runs.append([m.event.change for m in out.messages() if isinstance(m, EventMessage)])
    assert runs[0] == runs[1] and runs[0]
