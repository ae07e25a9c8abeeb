"""The fan-out core, pure: frames, coalescing, throttled statistics, bounded queues."""

from __future__ import annotations

import random
from typing import Any

import orjson

from hub.cascade import CascadeState
from hub.conference import (
    CallStats,
    CameraChanged,
    Event,
    MuteChanged,
    StatsUpdated,
    VenueLeft,
    VenueStatus,
)
from hub.controllist import ControlList, VenueFilter
from hub.fanout import CLOSE_TRY_AGAIN, Fanout, FanoutSettings, OutFrame
from tests.hub.test_controllist import chain

ALL = VenueFilter()
STATS = [CallStats(1000 + i, 900, 0.1, 3, 20, 1280, 720, 30) for i in range(50)]


class Screen:
    """What a dashboard shows: built only from the frames it received."""

    def __init__(self) -> None:
        self.venues: dict[tuple, dict] = {}
        self.seq: dict[str, int] = {}
        self.tree: Any = None
        self.frames: list[dict] = []

    def feed(self, frames: list[OutFrame]) -> None:
        for head, body in frames:
            f = orjson.loads(head + body)
            self.frames.append(f)
            if f["type"] not in ("snapshot", "delta"):
                continue
            if f["type"] == "snapshot":
                self.venues = {}
            else:
                assert f["seq"] == self.seq[f["id"]] + 1, "seq grows by one per frame"
            self.seq[f["id"]] = f["seq"]
            if "tree" in f:
                self.tree = f["tree"]
            for r in f.get("removed", []):
                self.venues.pop((r["member_id"], r["conference"], r["id"]), None)
            for v in f["venues"]:
                self.venues[(v["member_id"], v["conference"], v["id"])] = v


def truth(state: CascadeState, f: VenueFilter = ALL, stale: set[int] | None = None) -> dict:
    cl = ControlList(state, 1, "c1", stale or ())
    return {k: orjson.loads(orjson.dumps(v)) for k, v in cl.venues.items() if f.admits(v)}


class Rig:
    def __init__(self, **settings: Any) -> None:
        self.state = chain()
        self.fan = Fanout(self.state, FanoutSettings(**settings))
        self.now = 0.0
        self.seq = dict.fromkeys(range(1, 6), 0)

    def event(self, member: int, change: Any) -> None:
        self.seq[member] += 1
        out = self.state.apply_event(member, Event(1, self.seq[member], change))
        assert isinstance(out, list)
        self.fan.apply(out)

    def tick(self, dt: float = 0.05) -> set[int]:
        self.now += dt
        return self.fan.flush(self.now)

    def client(self, cid: int, f: VenueFilter = ALL, sub: str = "s") -> Screen:
        self.fan.connect(cid)
        assert self.fan.subscribe(cid, sub, 1, "c1", f) is None
        return Screen()

    def drain(self, cid: int, screen: Screen) -> int | None:
        frames, close = self.fan.pop(cid, self.now)
        screen.feed(frames)
        return close


def test_snapshot_then_deltas_rebuild_the_list() -> None:
    rig = Rig()
    s = rig.client(1)
    rig.drain(1, s)
    assert s.frames[0]["type"] == "snapshot" and s.frames[0]["seq"] == 1
    assert s.frames[0]["tree"]["member_id"] == 1
    assert set(s.frames[0]["venues"][0]) == {
        "member_id",
        "conference",
        "id",
        "name",
        "status",
        "muted",
        "camera_on",
        "role",
        "stats",
        "reason",
        "stale",
    }
    assert s.venues == truth(rig.state)
    rig.event(3, MuteChanged("c3", "m3a", True))
    assert rig.tick() == {1}
    rig.drain(1, s)
    assert s.frames[-1]["type"] == "delta" and s.frames[-1]["seq"] == 2
    assert s.venues == truth(rig.state)


def test_a_venue_toggling_in_one_tick_costs_one_entry() -> None:
    rig = Rig()
    s = rig.client(1)
    rig.drain(1, s)
    for i in range(10):
        rig.event(2, MuteChanged("c2", "m2a", i % 2 == 0))
    rig.tick()
    rig.drain(1, s)
    delta = s.frames[-1]
    assert len(s.frames) == 2 and len(delta["venues"]) == 1 and delta["venues"][0]["muted"] is False


def test_statistics_wait_for_their_own_interval_status_does_not() -> None:
    rig = Rig(stats_interval=1.0)
    s = rig.client(1)
    rig.tick()  # the first flush also starts the statistics clock
    rig.drain(1, s)
    rig.event(2, StatsUpdated("c2", "m2a", STATS[1]))
    rig.event(3, StatsUpdated("c3", "m3a", STATS[2]))
    assert rig.tick(0.05) == set()  # statistics only: held back
    rig.event(3, CameraChanged("c3", "m3a", False))  # a status change goes now, stats included
    rig.tick(0.05)
    rig.drain(1, s)
    (v,) = s.frames[-1]["venues"]
    assert v["id"] == "m3a" and v["camera_on"] is False and v["stats"]["tx_kbps"] == 1002
    rig.tick(1.0)
    rig.drain(1, s)
    assert [v["id"] for v in s.frames[-1]["venues"]] == ["m2a"]
    assert s.venues == truth(rig.state)


def test_filters_send_removals_when_a_venue_leaves_the_view() -> None:
    rig = Rig()
    joined = VenueFilter(status=frozenset({VenueStatus.JOINED}))
    s = rig.client(1, joined)
    rig.drain(1, s)
    assert {k[2] for k in s.venues} == {f"m{m}a" for m in range(1, 6)}
    rig.event(4, VenueLeft("c4", "m4a", "left"))
    rig.tick()
    rig.drain(1, s)
    assert s.frames[-1]["removed"] == [{"member_id": 4, "conference": "c4", "id": "m4a"}]
    assert s.venues == truth(rig.state, joined)


def test_snapshot_mid_tick_is_as_of_the_last_flush() -> None:
    rig = Rig()
    a = rig.client(1)
    rig.drain(1, a)
    rig.event(2, MuteChanged("c2", "m2a", True))
    b = rig.client(2)  # joins while a change is pending
    rig.drain(2, b)
    assert b.venues[(2, "c2", "m2a")]["muted"] is False
    rig.tick()
    rig.drain(1, a)
    rig.drain(2, b)
    assert a.venues == b.venues == truth(rig.state)


def test_slow_client_gets_a_fresh_snapshot_and_fast_clients_lose_nothing() -> None:
    rig = Rig(queue_frames=4)
    fast, slow = rig.client(1), rig.client(2)
    rig.drain(1, fast)
    rig.drain(2, slow)
    rng = random.Random(3)
    for _ in range(10):  # the slow client does not drain for 10 ticks
        m = rng.randrange(1, 6)
        rig.event(m, MuteChanged(f"c{m}", f"m{m}a", rng.random() < 0.5))
        rig.event(m, StatsUpdated(f"c{m}", f"m{m}a", rng.choice(STATS)))
        rig.tick(0.5)
        rig.drain(1, fast)
    assert not [f for f in fast.frames if f["type"] == "snapshot"][1:]
    assert fast.venues == truth(rig.state)
    assert rig.fan.counters.overflows == 1
    rig.drain(2, slow)  # drained: one fresh snapshot, seq continuing
    types = [f["type"] for f in slow.frames]
    assert types == ["snapshot", "snapshot"] and slow.frames[-1]["seq"] == 2
    assert slow.venues == truth(rig.state)
    rig.event(1, MuteChanged("c1", "m1b", True))
    rig.tick()
    rig.drain(2, slow)
    assert slow.frames[-1]["type"] == "delta" and slow.frames[-1]["seq"] == 3
    assert slow.venues == truth(rig.state)


def test_a_client_always_behind_is_closed_1013() -> None:
    rig = Rig(queue_frames=1, resnapshots_per_minute=2)
    s = rig.client(1)
    closes = []
    for _ in range(6):
        for j in range(3):
            rig.event(2, MuteChanged("c2", "m2a", j % 2 == 0))
            rig.tick()
        closes.append(rig.drain(1, s))
    assert closes[:2] == [None, None] and CLOSE_TRY_AGAIN in closes
    assert rig.fan.counters.closed_behind == 1


def test_replies_are_never_dropped_and_go_first() -> None:
    rig = Rig(queue_frames=1)
    s = rig.client(1)
    rig.fan.reply(1, {"type": "result", "id": "c1", "status": "ok", "reason": ""})
    for i in range(5):
        rig.event(2, MuteChanged("c2", "m2a", i % 2 == 0))
        rig.tick()
    rig.drain(1, s)
    assert s.frames[0] == {"type": "result", "id": "c1", "status": "ok", "reason": ""}
    assert s.frames[1]["type"] == "snapshot"


def test_stale_links_and_unsubscribe_and_refusals() -> None:
    rig = Rig()
    s = rig.client(1)
    rig.drain(1, s)
    rig.fan.set_link(5, False)
    rig.tick()
    rig.drain(1, s)
    assert all(v["stale"] for k, v in s.venues.items() if k[0] == 5)
    assert s.venues == truth(rig.state, stale={5})
    assert "tree" in s.frames[-1]
    assert rig.fan.subscribe(1, "s", 1, "c1", ALL).code == "duplicate_id"  # type: ignore[union-attr]
    assert rig.fan.subscribe(1, "t", 1, "nope", ALL).code == "not_found"  # type: ignore[union-attr]
    assert rig.fan.subscribe(1, "u", 3, "c3", ALL) is None
    assert rig.fan.unsubscribe(1, "s") and not rig.fan.unsubscribe(1, "s")
    rig.event(1, MuteChanged("c1", "m1a", True))
    rig.tick()
    frames, _ = rig.fan.pop(1, rig.now)
    assert [orjson.loads(h + b)["id"] for h, b in frames] == ["u"]  # only the one still open
    rig.fan.disconnect(1)
    assert rig.fan.subscribers_of(3, "c3") == []


def test_long_random_run_many_views_converge() -> None:
    rig = Rig(queue_frames=8)
    views = [ALL, VenueFilter(status=frozenset({VenueStatus.JOINED})), VenueFilter(muted=True)]
    screens = {cid: rig.client(cid, views[cid % 3]) for cid in range(9)}
    rng = random.Random(7)
    for _ in range(400):
        m = rng.randrange(1, 6)
        roll = rng.random()
        if roll < 0.4:
            rig.event(m, MuteChanged(f"c{m}", f"m{m}{rng.choice('ab')}", rng.random() < 0.5))
        elif roll < 0.7:
            rig.event(m, StatsUpdated(f"c{m}", f"m{m}a", rng.choice(STATS)))
        elif roll < 0.75:
            rig.fan.set_link(m, rng.random() < 0.5)
        else:
            rig.event(m, CameraChanged(f"c{m}", f"m{m}a", rng.random() < 0.5))
        if rng.random() < 0.3:
            rig.tick(rng.choice((0.05, 0.3)))
        for cid in screens:
            if rng.random() < (0.1 if cid == 0 else 0.8):  # client 0 is slow
                rig.drain(cid, screens[cid])
    rig.tick(2.0)
    down = {m for m in range(1, 6) if m in rig.fan._down}
    for cid, screen in screens.items():
        rig.drain(cid, screen)
        assert screen.venues == truth(rig.state, views[cid % 3], down), cid


def test_a_conference_that_ended_refuses_new_subscribers_and_empties_the_watchers() -> None:
    from hub.conference import ConferenceEnded

    rig = Rig()
    s = rig.client(1)
    rig.drain(1, s)
    rig.event(1, ConferenceEnded("c1"))
    rig.tick()
    rig.drain(1, s)
    assert s.venues == {} and s.tree is None  # everything removed, the tree gone
    rig.fan.connect(2)
    refusal = rig.fan.subscribe(2, "late", 1, "c1", ALL)
    assert refusal is not None and refusal.code == "not_found"


def test_one_snapshot_text_per_burst_released_once_nobody_asks() -> None:
    rig = Rig()
    rig.client(1)
    rig.client(2)  # the same tick: the same text, made once
    (a, _, _, body_a), (b, _, _, body_b) = rig.fan._clients[1].frames + rig.fan._clients[2].frames
    assert body_a is body_b and len(body_a) > 1000
    view = a.view
    rig.tick()  # asked for since the last flush: kept for late-comers
    assert view.snapshot_body is body_a
    rig.tick()  # nobody asked during a whole tick: let go
    assert view.snapshot_body == b""
    s = rig.client(3)
    rig.drain(3, s)
    assert s.venues == truth(rig.state)
