"""MemberWorld: its events, applied by the hub's own code, always equal its snapshot."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.behaviour import evolve_stats, initial_stats
from emulator.world import MemberWorld
from hub.cascade import CascadeState, NeedSnapshot
from hub.conference import ConferenceKind, Event, Venue, VenueStatus


def _step(world: MemberWorld, rng: random.Random) -> Event | None:
    numbers = world.conference_numbers()
    action = rng.randrange(10)
    if action == 0 or not numbers:
        n = str(rng.randrange(100, 105))
        return world.start_conference(n, f"Meeting {n}", rng.choice(list(ConferenceKind)), 0.0)
    conf = rng.choice(numbers)
    ids = world.venue_ids(conf)
    vid = rng.choice(ids) if ids and rng.random() < 0.8 else f"v{rng.randrange(20)}"
    venue = Venue(vid, f"Venue {vid}", VenueStatus.RINGING)
    if action == 1:
        return world.end_conference(conf) if rng.random() < 0.3 else None
    if action == 2:
        return world.ring(conf, venue)
    if action == 3:
        return world.join(conf, venue, initial_stats(rng))
    if action == 4:
        return world.leave(conf, vid, "left")
    if action == 5:
        return world.fail(conf, vid, "busy")
    if action == 6:
        return world.set_muted(conf, vid, rng.random() < 0.5)
    if action == 7:
        return world.set_camera(conf, vid, rng.random() < 0.5)
    if action == 8:
        return world.set_layout(conf, rng.choice(["auto", "2x2", "1+5"]))
    return world.set_stats(conf, vid, evolve_stats(initial_stats(rng), rng))


def _random_world_run(seed: int, steps: int) -> tuple[MemberWorld, CascadeState]:
    rng = random.Random(seed)
    world = MemberWorld("m.example", epoch=5)
    hub = CascadeState()
    hub.bind_member(1, "m.example")
    hub.apply_snapshot(1, world.snapshot())
    for _ in range(steps):
        event = _step(world, rng)
        if event is not None:
            applied = hub.apply_event(1, event)
            assert not isinstance(applied, NeedSnapshot), applied
    return world, hub


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000))
def test_events_replayed_by_the_hub_equal_the_snapshot(seed: int) -> None:
    world, hub = _random_world_run(seed, 80)
    snap = world.snapshot()
    assert hub.position(1) == (snap.epoch, snap.seq)
    assert sorted(hub.conferences(1), key=lambda c: c.number) == sorted(
        snap.conferences, key=lambda c: c.number
    )


def test_no_op_changes_emit_nothing() -> None:
    world = MemberWorld("m.example", 1)
    assert world.end_conference("1") is None
    assert world.start_conference("1", "M", ConferenceKind.VMR, 0.0) is not None
    assert world.start_conference("1", "M", ConferenceKind.VMR, 0.0) is None
    assert world.set_muted("1", "nobody", True) is None
    assert world.seq == 1


def test_skip_seq_and_new_epoch_are_seen_by_the_hub() -> None:
    world = MemberWorld("m.example", 1)
    hub = CascadeState()
    hub.bind_member(1, "m.example")
    hub.apply_snapshot(1, world.snapshot())
    world.skip_seq(2)
    event = world.start_conference("1", "M", ConferenceKind.VMR, 0.0)
    assert event is not None and event.seq == 3
    assert isinstance(hub.apply_event(1, event), NeedSnapshot)
    hub.apply_snapshot(1, world.snapshot())
    world.new_epoch(2)
    event = world.set_layout("1", "2x2")
    assert event is not None and (event.epoch, event.seq) == (2, 1)
    assert isinstance(hub.apply_event(1, event), NeedSnapshot)
    hub.apply_snapshot(1, world.snapshot())
    assert hub.conference(1, "1").layout == "2x2"  # type: ignore[union-attr]
