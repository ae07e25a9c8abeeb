"""Hub links against emulated members over real loopback sockets (no network mocks)."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from controllers.config import MemberLinkConfig
from controllers.manager import LinkManager
from controllers.messages import Hello, Refused, decode, encode
from emulator.behaviour import Behaviour
from emulator.federation import (
    RunningFederation,
    build_demo_federation,
    build_load_federation,
    serve_federation,
)
from emulator.member import EmulatedMember
from emulator.spec import EmulatedMemberSpec
from hub.conference import Conference
from hub.live import LiveChange, LiveState
from hub.numbering import NumberPlan
from hub.trust import PlanRules
from tests.controllers.linkkit import FAST, QUICK, configs, live_for, rules_for, until

pytestmark = pytest.mark.timeout(60)

SPECS = build_demo_federation(5, cities=1, counties=1, townships=1, villages=(1, 1))


def truth(member: EmulatedMember) -> dict[str, Conference]:
    return {c.number: _sorted(c) for c in member.world.snapshot().conferences}


def mirror(live: LiveState, member_id: int) -> dict[str, Conference]:
    return {c.number: _sorted(c) for c in live.conferences(member_id, limit=10_000).conferences}


def _sorted(c: Conference) -> Conference:
    return dataclasses.replace(c, venues=tuple(sorted(c.venues, key=lambda v: v.id)))


def converged(
    manager: LinkManager, live: LiveState, running: RunningFederation, specs: list
) -> bool:
    members = running.federation.members
    return manager.all_up() and all(
        live.in_sync(i) and mirror(live, i) == truth(members[s.key])
        for i, s in enumerate(specs, start=1)
    )


class Fed:
    def __init__(
        self,
        running: RunningFederation,
        manager: LinkManager,
        live: LiveState,
        changes: list[LiveChange],
        specs: list[EmulatedMemberSpec],
    ) -> None:
        self.running, self.manager, self.live, self.changes = running, manager, live, changes
        self.specs = specs

    async def until(self, check, within: float = 10.0, what: str = "") -> None:
        await until(check, within, what, watch=(self.manager, self.live))

    def converged(self) -> bool:
        return converged(self.manager, self.live, self.running, self.specs)

    def member(self, index: int) -> EmulatedMember:
        return self.running.federation.members[SPECS[index - 1].key]

    def status(self, member_id: int) -> dict:
        return next(s for s in self.manager.status() if s["member_id"] == member_id)


async def start(
    specs: list[EmulatedMemberSpec] = SPECS,
    behaviour: Behaviour | None = None,
    settings=QUICK,
    cfgs: list[MemberLinkConfig] | None = None,
) -> Fed:
    running = await serve_federation(specs, behaviour=behaviour or Behaviour.instant())
    live = live_for(specs)
    changes: list[LiveChange] = []
    live.subscribe(changes.append)
    manager = LinkManager(cfgs or configs(specs, running.urls), live=live, settings=settings)
    await manager.start()
    return Fed(running, manager, live, changes, specs)


@pytest.fixture
async def fed() -> AsyncIterator[Fed]:
    f = await start()
    await f.until(f.converged, what="links up")
    yield f
    await f.manager.stop()
    await f.running.close()


async def test_links_come_up_and_mirror_every_member(fed: Fed) -> None:
    assert fed.changes
    tree = fed.live.cascade_tree(1, SPECS[0].meeting)
    assert tree is not None and len(list(tree.walk())) == len(SPECS)
    assert {n.member_id for n in tree.walk()} == set(range(1, len(SPECS) + 1))
    status = fed.manager.status()
    json.dumps(status)  # JSON-able for the API
    assert all(s["state"] == "up" and s["protocol_version"] == 1 for s in status)
    await fed.until(lambda: fed.status(1)["rtt_ms"] is not None, what="an RTT")


async def test_link_survives_the_emulator_being_killed_and_restarted(fed: Fed) -> None:
    port = fed.running.server.port
    await fed.running.close()
    await fed.until(
        lambda: all(s["state"] != "up" for s in fed.manager.status()), what="links down"
    )
    await fed.until(
        lambda: (
            "refused" in str(fed.status(1)["last_error"]).lower()
            or "connect" in str(fed.status(1)["last_error"]).lower()
        ),
        what="dial errors",
    )
    # The restarted servers have moved on: a new epoch, and other state.
    fed.running = await serve_federation(SPECS, port=port, behaviour=Behaviour.instant())
    prov = fed.running.federation.members[SPECS[0].key]
    venue = SPECS[0].venues[0].id
    prov.publish(prov.world.leave(SPECS[0].meeting, venue, "restart"))
    await fed.until(fed.converged, what="reconverged")
    mirrored = fed.live.venue(1, SPECS[0].meeting, venue)
    assert mirrored is not None and mirrored.status == "not_joined"
    assert fed.status(1)["connects"] >= 2


async def test_injected_seq_gap_leads_to_a_snapshot(fed: Fed) -> None:
    member = fed.member(2)
    before = fed.status(2)["snapshots"]
    member.world.skip_seq(3)
    vid = SPECS[1].venues[0].id
    member.publish(member.world.set_muted(SPECS[1].meeting, vid, True))
    member.publish(member.world.set_camera(SPECS[1].meeting, vid, False))
    await fed.until(lambda: fed.status(2)["snapshots"] == before + 1, what="a snapshot")
    await fed.until(fed.converged, what="reconverged")
    assert fed.status(2)["connects"] == 1  # resync, not reconnect


async def test_new_epoch_leads_to_a_snapshot(fed: Fed) -> None:
    member = fed.member(3)
    member.restart_epoch()
    member.publish(member.world.set_layout(SPECS[2].meeting, "1+5"))
    await fed.until(lambda: fed.status(3)["epoch"] == member.world.epoch, what="new epoch")
    await fed.until(fed.converged, what="reconverged")


async def test_dead_peer_is_noticed_by_heartbeat(fed: Fed) -> None:
    member = fed.member(2)
    member.frozen = True
    await fed.until(lambda: "heartbeat timeout" in str(fed.status(2)["last_error"]), 5, "timeout")
    assert fed.status(1)["state"] == "up" and fed.status(1)["connects"] == 1
    member.frozen = False
    await fed.until(fed.converged, what="back up")


@pytest.mark.parametrize(
    ("frame", "words"),
    [
        (b"{not json at all", "malformed JSON"),
        (b'{"type": "teleport", "to": "mars"}', "unknown message type"),
        (b'{"type": "event", "epoch": 1, "seq": "x"}', "wrong type"),
        (b"x" * 100_000, "exceeds limit"),
    ],
    ids=["malformed", "unknown-type", "bad-field", "oversized"],
)
async def test_bad_frame_resets_only_that_link(
    frame: bytes, words: str, caplog: pytest.LogCaptureFixture
) -> None:
    f = await start(settings=dataclasses.replace(QUICK, max_frame=64 * 1024, max_message=32 * 1024))
    try:
        await f.until(f.converged, what="links up")
        caplog.set_level(logging.WARNING, logger="fedhub.link")
        f.member(2).inject_raw(frame)
        await f.until(lambda: f.status(2)["connects"] == 2, what="a reset")
        logged = [r.getMessage() for r in caplog.records if r.name == "fedhub.link"]
        assert any(SPECS[1].domain in m and words in m for m in logged), logged
        assert words in str(f.status(2)["last_error"])
        await f.until(f.converged, what="back up")
        others = [s["connects"] for s in f.manager.status() if s["member_id"] != 2]
        assert others == [1] * (len(SPECS) - 1)
    finally:
        await f.manager.stop()
        await f.running.close()


async def test_wrong_credentials_never_link() -> None:
    running = await serve_federation(SPECS[:2], behaviour=Behaviour.instant())
    good, bad = configs(SPECS[:2], running.urls)
    bad = dataclasses.replace(bad, password_hash=FAST.hash("Wr0ng!password"))
    manager = LinkManager([good, bad], live=live_for(SPECS[:2]), settings=QUICK)
    await manager.start()
    try:
        await until(
            lambda: "authentication failed" in str(manager.status()[1]["last_error"]),
            what="refusal",
            watch=(manager,),
        )
        assert manager.status()[1]["state"] != "up" and manager.status()[0]["state"] == "up"
        assert "wrong username or password" in str(manager.status()[1]["last_error"])
    finally:
        await manager.stop()
        await running.close()


async def test_version_mismatch_is_refused_on_the_wire() -> None:
    running = await serve_federation(SPECS[:1])
    try:
        async with connect(running.urls[SPECS[0].key], proxy=None) as ws:
            await ws.send(encode(Hello((99,), SPECS[0].username, "bm9uY2U=")), text=True)
            refused = decode(await ws.recv(decode=False))
            assert isinstance(refused, Refused) and refused.code == "version"
            assert "no common protocol version" in refused.reason
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.close_code == 1002
    finally:
        await running.close()


async def test_commands_get_exactly_one_result() -> None:
    slow = Behaviour(
        latency=(0.3, 0.3), p_busy=0, p_no_answer=0, p_offline=0, p_command_fail=0, stats_interval=0
    )
    f = await start(behaviour=slow)
    m, conf = f.manager, SPECS[0].meeting
    venue = next(v.id for v in SPECS[0].venues if v.initial == "joined")
    try:
        await f.until(f.converged, what="links up")
        ok = await m.send_command(1, "mute", (conf, venue), deadline=3)
        assert ok.status == "ok"
        await f.until(lambda: f.live.venue(1, conf, venue).muted, what="muted in hub state")
        failed = await m.send_command(1, "unmute", {"conference": conf, "venue": "ghost"})
        assert failed.status == "failed" and "no venue" in failed.reason
        timeout = await m.send_command(1, "camera_off", (conf, venue), deadline=0.1)
        assert timeout.status == "timeout"
        assert (await m.send_command(1, "layout", conf, {"layout": "2x2"}, command_id="L")).ok
        again = await m.send_command(1, "layout", conf, {"layout": "3x3"}, command_id="L")
        assert again.ok and f.live.conference(1, conf).layout == "2x2"  # same id, one effect
        await f.until(lambda: not f.live.venue(1, conf, venue).camera_on, what="late effect")
        assert f.status(1)["pending_commands"] == 0
        unknown = await m.send_command(99, "mute", (conf, venue))
        assert unknown.status == "failed" and "no link" in unknown.reason
        bad = await m.send_command(1, "self_destruct", conf)
        assert bad.status == "failed" and "invalid command" in bad.reason
        await f.running.close()
        await f.until(lambda: f.status(1)["state"] != "up", what="link down")
        down = await m.send_command(1, "mute", (conf, venue), deadline=0.2)  # waits for it
        assert (down.status, down.reason) == (
            "timeout",
            f"link to {SPECS[0].domain} not back within 0.2 s",
        )
    finally:
        await m.stop()
        await f.running.close()


async def test_update_touches_only_changed_links(fed: Fed) -> None:
    cfgs = {s["member_id"]: s for s in fed.manager.status()}
    assert len(cfgs) == len(SPECS)
    current = configs(SPECS, fed.running.urls)  # fresh salts: every hash differs...
    base = [fed.manager.link(i).config for i in range(1, len(SPECS) + 1)]
    changed = dataclasses.replace(base[1], password_hash=current[1].password_hash)
    new = [base[0], changed, *base[3:]]  # member 3 removed, member 2 changed
    await fed.manager.update(new)
    assert fed.manager.link(3) is None and 3 not in fed.live.members()
    assert any(c.member_id == 3 and c.deltas[0].conference is None for c in fed.changes)
    await fed.until(fed.manager.all_up, what="relinked")
    assert fed.status(1)["connects"] == 1 and fed.status(4)["connects"] == 1
    assert fed.status(2)["connects"] == 1 and fed.manager.link(2).config == changed
    await fed.manager.update([*new, base[2]])
    await fed.until(fed.converged, what="member 3 back")


@pytest.mark.timeout(90)
async def test_two_hundred_members_link_at_once() -> None:
    specs = build_load_federation(3, members=200, venues=1000)
    f = await start(
        specs=specs, settings=dataclasses.replace(QUICK, heartbeat_interval=1, heartbeat_timeout=5)
    )
    try:
        await f.until(f.manager.all_up, 30, "200 links up")
        counts = f.live.summary().total
        assert counts.members == 200 and counts.venues_total == 1000
        assert counts.cascade_links == 199
        assert all(s["connects"] == 1 for s in f.manager.status())
    finally:
        await f.manager.stop()
        await f.running.close()


# -- trust boundaries: a member server speaks only for itself ---------------------------


async def test_a_member_claiming_numbers_outside_its_ranges_is_refused_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The compromised-village case over real sockets: the hub believes the number plan,
    not the member. Here the plan gives the village nothing, so its meetings are
    refused with a logged reason and only its link is reset, again and again."""
    village = len(SPECS)
    rules = rules_for(SPECS)
    plan = NumberPlan(r for r in rules._plan if r.member_id != village)
    live = LiveState(PlanRules(rules._federation, plan))
    running = await serve_federation(SPECS, behaviour=Behaviour.instant())
    manager = LinkManager(configs(SPECS, running.urls), live=live, settings=QUICK)
    caplog.set_level(logging.WARNING, logger="fedhub.link")
    await manager.start()
    try:

        def refused() -> bool:
            s = manager.status()[village - 1]
            return s["connects"] >= 2 and "meeting ranges" in str(s["last_error"])

        await until(refused, what="refusals", watch=(manager, live))
        await until(
            lambda: all(s["state"] == "up" for s in manager.status()[: village - 1]),
            what="the others up",
            watch=(manager, live),
        )
        logged = [r.getMessage() for r in caplog.records if r.name == "fedhub.link"]
        assert any(SPECS[-1].domain in m and "meeting ranges" in m for m in logged), logged
        assert live.conferences(village).total == 0 and not live.in_sync(village)
        assert manager.status()[village - 1]["error_kind"] == "protocol"
        assert all(s["connects"] == 1 for s in manager.status()[: village - 1])
    finally:
        await manager.stop()
        await running.close()


async def test_member_text_cannot_forge_a_log_line(
    fed: Fed, caplog: pytest.LogCaptureFixture
) -> None:
    """A member's text with a newline would start a line the fail2ban filter acts on."""
    forged = (
        "x\r\n2026-11-30 12:00:00,000 WARNING fedhub.sip: "
        "SIP reject from 203.0.113.9:5060 transport=udp reason=scanner count=1"
    )
    frame = {"type": "event", "epoch": 1, "seq": 1, "kind": forged, "conference": "1"}
    caplog.set_level(logging.INFO)
    fed.member(2).inject_raw(json.dumps(frame))
    await fed.until(lambda: fed.status(2)["connects"] == 2, what="a reset")
    await fed.until(fed.converged, what="back up")
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    text = "\n".join(formatter.format(r) for r in caplog.records)
    assert "SIP reject from 203.0.113.9" in text  # it was logged, as data
    sip_lines = re.compile(r"^\S+ \S+ \w+ fedhub\.sip: SIP reject from", re.MULTILINE)
    assert not sip_lines.search(text), text


class FaultyOnce(LiveState):
    """A live state with a bug that strikes once, on the first snapshot."""

    def __init__(self, rules: PlanRules) -> None:
        super().__init__(rules)
        self.struck = False

    def apply_snapshot(self, member_id: int, snapshot):
        if not self.struck:
            self.struck = True
            raise RuntimeError("a bug")
        return super().apply_snapshot(member_id, snapshot)


async def test_a_link_attempt_that_dies_is_reported_and_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    specs = SPECS[:1]
    running = await serve_federation(specs, behaviour=Behaviour.instant())
    live = FaultyOnce(rules_for(specs))
    manager = LinkManager(configs(specs, running.urls), live=live, settings=QUICK)
    caplog.set_level(logging.ERROR, logger="fedhub.link")
    await manager.start()
    try:
        await until(manager.all_up, what="up after the bug", watch=(manager, live))
        (status,) = manager.status()
        assert status["internal_errors"] == 1 and status["connects"] == 2
        assert status["last_error"] == "internal error: RuntimeError"
        assert any(r.exc_info for r in caplog.records), "the traceback is logged"
    finally:
        await manager.stop()
        await running.close()


async def test_destinations_on_loopback_are_refused_unless_allowed() -> None:
    specs = SPECS[:1]
    running = await serve_federation(specs, behaviour=Behaviour.instant())
    live = live_for(specs)
    default = dataclasses.replace(QUICK, allowed_networks=())
    manager = LinkManager(configs(specs, running.urls), live=live, settings=default)
    await manager.start()
    try:
        await until(
            lambda: manager.status()[0]["error_kind"] == "destination",
            what="a refused destination",
            watch=(manager,),
        )
        (status,) = manager.status()
        assert "127.0.0.1 is a loopback" in str(status["last_error"])
        assert status["connects"] == 0  # never dialled
        assert not running.server.connections
    finally:
        await manager.stop()
        await running.close()


async def test_a_url_change_mid_handshake_replaces_the_link_cleanly() -> None:
    specs = SPECS[:2]
    running = await serve_federation(specs, behaviour=Behaviour.instant())
    live = live_for(specs)
    first = configs(specs, running.urls)
    manager = LinkManager(first, live=live, settings=QUICK)
    await manager.start()
    try:
        moved = dataclasses.replace(first[1], url=first[1].url + "/")  # same place, new text
        again = [first[0], dataclasses.replace(moved, url=running.urls[specs[1].key])]
        await manager.update([first[0], moved])  # while the links are still handshaking
        await manager.update(again)
        await until(manager.all_up, what="links up", watch=(manager, live))
    finally:
        await manager.stop()
        await running.close()


async def test_a_link_task_that_dies_is_restarted_and_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    slow = Behaviour(
        latency=(5.0, 5.0), p_busy=0, p_no_answer=0, p_offline=0, p_command_fail=0, stats_interval=0
    )
    f = await start(specs=SPECS[:1], behaviour=slow)
    try:
        await f.until(f.manager.all_up, what="up")
        client = f.manager.link(1)
        assert client is not None
        real = client.driver.next_timer
        broken = []

        def fails_once(now: float) -> float | None:
            if not broken:
                broken.append(now)
                raise RuntimeError("a bug in the timers")
            return real(now)

        client.driver.next_timer = fails_once  # type: ignore[method-assign]
        caplog.set_level(logging.ERROR, logger="fedhub.link")
        await f.until(lambda: f.status(1)["internal_errors"] == 1, what="the death reported")
        assert any("restarting" in r.getMessage() and r.exc_info for r in caplog.records)
        # the restarted timers still expire deadlines (the member answers after 5 s)
        venue = next(v.id for v in SPECS[0].venues if v.initial == "joined")
        target = (SPECS[0].meeting, venue)
        timed_out = await f.manager.send_command(1, "mute", target, deadline=0.2)
        assert timed_out.status == "timeout", timed_out
        assert f.status(1)["state"] == "up" and f.status(1)["connects"] == 1
    finally:
        await f.manager.stop()
        await f.running.close()
