"""The link driver against the member's session, in memory: a manual clock, no sockets,
no event loop, no sleeps. Time moves only when a test says so."""

from __future__ import annotations

import dataclasses
import random

import pytest

from controllers.auth import MemberAuthenticator
from controllers.config import LinkSettings, MemberLinkConfig
from controllers.driver import MAX_HELD, CommandDone, CommandResult, LinkDriver
from controllers.messages import (
    Command,
    EventMessage,
    Result,
    SnapshotMessage,
    SnapshotRequest,
    encode,
)
from controllers.outputs import CLOSE_POLICY, CLOSE_TOO_BIG, Close, Send
from emulator import link as member
from hub.conference import (
    CascadeRef,
    Conference,
    ConferenceKind,
    Event,
    MuteChanged,
    Snapshot,
    Venue,
    VenueStatus,
)
from hub.federation import Federation, Member
from hub.live import LiveState
from hub.numbering import NumberPlan, NumberRange
from hub.trust import PlanRules
from tests.controllers.linkkit import FAST, QUICK
from tests.support.clock import ManualClock

DOMAIN, USER, PASSWORD = "prov.example", "prov-link", "Str0ng!pass"
CONFIG = MemberLinkConfig(1, DOMAIN, "ws://127.0.0.1:9/fed/link", USER, FAST.hash(PASSWORD))
SLOW = dataclasses.replace(QUICK, heartbeat_interval=3.0, heartbeat_timeout=9.0)
RULES = PlanRules(
    Federation.of(
        [
            Member(1, None, 1, DOMAIN, "Province", USER),
            Member(2, 1, 2, "city.prov.example", "City", "city-link"),
            Member(3, 1, 2, "other.prov.example", "Other", "other-link"),
        ]
    ),
    NumberPlan(
        [
            NumberRange(1, 1, "vmr", "1000", "1999"),
            NumberRange(2, 2, "vmr", "2000", "2999"),
        ]
    ),
)


def conference(number: str = "1000", *venues: Venue) -> Conference:
    venues = venues or (Venue("v1", "Hall", VenueStatus.JOINED),)
    return Conference(number, f"Meeting {number}", ConferenceKind.VMR, "auto", 1.0, venues)


class Highest(random.Random):
    """Backoff "jitter" that always picks the top of the window, to see its growth."""

    def uniform(self, a: float, b: float) -> float:
        return b


class Link:
    """A driver wired to an in-memory member server; ``clock`` moves by hand."""

    def __init__(self, settings: LinkSettings = QUICK, rng: random.Random | None = None):
        self.clock = ManualClock()
        self.live = LiveState(RULES)
        self.driver = LinkDriver(
            CONFIG, live=self.live, settings=settings, now=self.now, rng=rng or Highest()
        )
        self.snapshot = Snapshot(9, 0, (conference(),))
        self.hold_snapshot = False
        self.snapshots_wanted = 0
        self.commands: list[Command] = []
        self.member: member.MemberLinkSession | None = None

    @property
    def now(self) -> float:
        return self.clock.monotonic()

    def advance(self, seconds: float) -> list[object]:
        self.clock.advance(seconds)
        return self.pump(self.driver.tick(self.now))

    def connect(self) -> list[object]:
        key = self.driver.dialing(self.now)
        assert key is not None
        self.member = member.MemberLinkSession(
            domain=DOMAIN,
            epoch=9,
            authenticator=MemberAuthenticator(USER, PASSWORD),
            now=self.now,
        )
        return self.pump(self.driver.connected(key, self.now))

    def drop(self, reason: str = "connection lost") -> float:
        self.member = None
        return self.driver.disconnected(reason, self.now)

    def send_snapshot(self) -> list[object]:
        return self.from_member(SnapshotMessage(self.snapshot))

    def from_member(self, message: object) -> list[object]:
        return self.pump(self.driver.receive(encode(message), self.now))  # type: ignore[arg-type]

    def pump(self, outputs: list) -> list[object]:
        """Deliver the driver's sends to the member and its answers back, until quiet;
        returns every other driver output (closes, command results)."""
        seen: list[object] = []
        queue = list(outputs)
        while queue:
            out = queue.pop(0)
            if not isinstance(out, Send):
                seen.append(out)
                continue
            assert self.member is not None
            for answer in self.member.receive(encode(out.message), self.now):
                if isinstance(answer, member.Send):
                    queue += self.driver.receive(encode(answer.message), self.now)
                elif isinstance(answer, member.SnapshotWanted):
                    self.snapshots_wanted += 1
                    if not self.hold_snapshot:
                        msg = SnapshotMessage(self.snapshot)
                        queue += self.driver.receive(encode(msg), self.now)
                elif isinstance(answer, member.CommandReceived):
                    self.commands.append(answer.command)
        return seen

    def up(self) -> None:
        assert self.connect() == [] and self.driver.state == "up"

    def submit(self, cid: str, deadline: float = 5.0) -> list[object]:
        got, outputs = self.driver.submit("mute", "1000", "v1", None, deadline, cid, now=self.now)
        assert got == cid
        return self.pump(outputs)


def test_up_only_after_the_first_snapshot() -> None:
    link = Link()
    link.hold_snapshot = True
    assert link.connect() == []
    assert link.driver.state == "syncing" and link.driver.version == 1
    refused = link.submit("c1")  # never up yet: nothing to wait for
    assert refused == [
        CommandDone(CommandResult("c1", "failed", "link to prov.example is syncing"))
    ]
    assert link.send_snapshot() == []
    assert link.driver.state == "up" and link.live.in_sync(1)
    assert link.live.conference(1, "1000") == conference()


def test_a_command_offered_during_a_blip_goes_out_once_the_link_is_back() -> None:
    link = Link(SLOW)
    link.up()
    link.drop()
    link.advance(1.0)
    assert link.submit("c1", deadline=5.0) == [] and link.driver.pending("c1")
    link.advance(2.0)
    link.up()
    assert [c.id for c in link.commands] == ["c1"]
    assert 2900 <= link.commands[0].deadline_ms <= 3000  # with the time it has left
    assert link.from_member(Result("c1", True)) == [CommandDone(CommandResult("c1", "ok"))]


def test_a_command_offered_while_a_blipped_link_syncs_goes_out_once_it_is_up() -> None:
    link = Link(SLOW)
    link.up()
    link.drop()
    link.hold_snapshot = True
    assert link.connect() == [] and link.driver.state == "syncing"
    assert link.submit("c1") == [] and link.commands == []  # held until the link is up
    assert link.send_snapshot() == []
    assert link.driver.state == "up" and [c.id for c in link.commands] == ["c1"]


def test_held_commands_are_bounded() -> None:
    link = Link(SLOW)
    link.up()
    link.drop()
    for i in range(MAX_HELD):
        assert link.submit(f"c{i}") == []
    over = link.submit("one-too-many")
    assert len(over) == 1 and over[0].result.status == "failed"  # type: ignore[attr-defined]
    assert f"{MAX_HELD} commands wait" in over[0].result.reason  # type: ignore[attr-defined]
    link.up()
    assert len(link.commands) == MAX_HELD  # every held one went out


def test_a_held_command_times_out_saying_the_link_did_not_come_back() -> None:
    link = Link(SLOW)
    link.up()
    link.drop()
    assert link.submit("c1", deadline=2.0) == []
    assert link.advance(2.0) == [
        CommandDone(CommandResult("c1", "timeout", "link to prov.example not back within 2 s"))
    ]
    link.up()
    assert link.commands == []  # never sent after its result


def test_a_link_down_longer_than_the_deadline_or_never_up_refuses_at_once() -> None:
    link = Link(SLOW)
    never = [CommandDone(CommandResult("c0", "failed", "link to prov.example is down"))]
    assert link.submit("c0") == never  # never came up: nothing to wait for
    link.up()
    link.drop()
    link.advance(5.0)
    assert link.submit("c1", deadline=5.0) == [
        CommandDone(CommandResult("c1", "failed", "link to prov.example is down"))
    ]
    assert not link.driver.pending("c1")


def test_stop_fails_held_commands_too() -> None:
    link = Link(SLOW)
    link.up()
    link.drop()
    assert link.submit("held") == []
    assert link.driver.stop(link.now) == [
        CommandDone(CommandResult("held", "failed", "link stopped"))
    ]
    assert link.submit("late") == [
        CommandDone(CommandResult("late", "failed", "link to prov.example is stopped"))
    ]


def test_command_deadline_expires_on_the_clock() -> None:
    link = Link(SLOW)
    link.up()
    assert link.submit("c1", deadline=2.0) == [] and [c.id for c in link.commands] == ["c1"]
    assert link.driver.next_timer(link.now) <= link.now + 2.0
    assert link.advance(1.9) == [] and link.driver.pending("c1")
    expired = link.advance(0.2)
    assert expired == [CommandDone(CommandResult("c1", "timeout", "no result within 2 s"))]
    assert link.from_member(Result("c1", True)) == []  # a late result is ignored
    assert link.driver.pending_count == 0


def test_resend_after_reconnect_and_never_after_a_result() -> None:
    link = Link(SLOW)
    link.up()
    link.submit("answered", deadline=10.0)
    link.submit("waiting", deadline=10.0)
    done = link.from_member(Result("answered", True))
    assert done == [CommandDone(CommandResult("answered", "ok"))]
    link.advance(4.0)
    link.drop()
    link.commands.clear()
    link.up()
    assert [c.id for c in link.commands] == ["waiting"]  # resent once the link is up again
    assert 5900 <= link.commands[0].deadline_ms <= 6000  # with the time it has left
    assert link.from_member(Result("waiting", False, "no such venue")) == [
        CommandDone(CommandResult("waiting", "failed", "no such venue"))
    ]
    link.drop()
    link.commands.clear()
    link.up()
    assert link.commands == []  # a command with its result is never sent again


def test_a_command_is_not_resent_on_the_connection_it_went_out_on() -> None:
    link = Link()
    link.up()
    link.submit("c1")
    link.snapshot = Snapshot(9, 0, (conference(),))
    link.from_member(EventMessage(Event(9, 5, MuteChanged("1000", "v1", True))))  # a gap
    assert link.snapshots_wanted == 2 and [c.id for c in link.commands] == ["c1"]


def test_backoff_grows_then_resets_after_a_stable_period() -> None:
    link = Link()  # QUICK: base 0.05 s, cap 0.3 s, stable after 0.5 s
    delays = [link.drop("refused") for _ in range(5)]
    assert delays == [0.05, 0.1, 0.2, 0.3, 0.3]
    link.up()
    link.clock.advance(0.2)  # up, but not for long: growth goes on
    assert link.drop() == 0.3
    link.up()
    link.clock.advance(0.5)
    assert link.drop() == 0.05  # stayed up long enough: back to the base
    assert link.drop() == 0.1


def test_gap_asks_for_a_snapshot_and_converges() -> None:
    link = Link()
    link.up()
    assert link.from_member(EventMessage(Event(9, 1, MuteChanged("1000", "v1", True)))) == []
    assert link.live.venue(1, "1000", "v1").muted  # type: ignore[union-attr]
    moved_on = Venue("v1", "Hall", VenueStatus.NOT_JOINED, camera_on=False)
    link.snapshot = Snapshot(9, 7, (conference("1000", moved_on), conference("1001")))
    assert link.from_member(EventMessage(Event(9, 3, MuteChanged("1000", "v1", False)))) == []
    assert link.snapshots_wanted == 2 and link.driver.snapshots == 2
    assert link.live.position(1) == (9, 7) and link.live.in_sync(1)
    assert link.live.venue(1, "1000", "v1") == moved_on
    assert link.live.conference(1, "1001") is not None
    assert link.driver.state == "up" and link.driver.connects == 1


def test_claims_outside_the_members_own_are_refused_and_reset_the_link() -> None:
    link = Link()
    link.snapshot = Snapshot(9, 0, (conference("2000"),))  # the city's number
    closes = link.connect()
    assert len(closes) == 1 and isinstance(closes[0], Close)
    assert closes[0].code == CLOSE_POLICY and "meeting ranges" in closes[0].reason
    assert link.driver.state == "syncing" and link.live.conference(1, "2000") is None
    link.drop()
    assert link.driver.state == "down" and link.driver.error_kind == "protocol"
    assert "meeting ranges" in str(link.driver.last_error)
    hijack = Venue("x", "X", VenueStatus.JOINED, cascade=CascadeRef(DOMAIN, "1001"))
    link.snapshot = Snapshot(9, 0, (conference("1000", hijack),))
    (close,) = link.connect()
    assert isinstance(close, Close) and "neither a child nor the parent" in close.reason


def test_an_event_flood_resets_the_link() -> None:
    settings = dataclasses.replace(QUICK, events_per_second=10, event_burst=5)
    link = Link(settings)
    link.up()
    for seq in range(1, 6):
        assert link.from_member(EventMessage(Event(9, seq, MuteChanged("1000", "v1", True)))) == []
    link.clock.advance(0.1)  # one more token
    assert link.from_member(EventMessage(Event(9, 6, MuteChanged("1000", "v1", True)))) == []
    (close,) = link.from_member(EventMessage(Event(9, 7, MuteChanged("1000", "v1", True))))
    assert isinstance(close, Close) and close.code == CLOSE_POLICY
    assert "more than 10 events per second" in close.reason


def test_frames_are_measured_before_decoding() -> None:
    settings = dataclasses.replace(QUICK, max_message=1000, max_frame=100_000)
    link = Link(settings)
    link.hold_snapshot = True
    link.connect()
    big = encode(SnapshotMessage(Snapshot(9, 0, (conference("1000"),) * 1)))
    big = big[:-1] + b"," + b'"pad":"' + b"x" * 5000 + b'"}'
    assert link.pump(link.driver.receive(big, link.now)) == []  # a snapshot may be large
    assert link.driver.state == "up"
    (close,) = link.pump(link.driver.receive(b"[" + b" " * 2000 + b"]", link.now))
    assert isinstance(close, Close) and close.code == CLOSE_TOO_BIG
    assert "exceeds limit of 1000" in close.reason


def test_failures_before_authentication_are_reported_as_unreachable() -> None:
    link = Link()
    link.driver.dialing(link.now)
    link.driver.disconnected("InvalidStatus: server rejected WebSocket connection: HTTP 404", 0)
    assert link.driver.error_kind == "unreachable"
    assert "HTTP 404" in str(link.driver.last_error)  # the details stay for the top admins


def test_an_unusable_password_hash_is_reported_not_raised() -> None:
    config = dataclasses.replace(CONFIG, password_hash="$argon2id$v=19$garbage")
    driver = LinkDriver(config, live=LiveState(RULES), settings=QUICK, now=0.0)
    assert driver.dialing(0.0) is None
    assert "unusable password hash" in str(driver.last_error)
    assert driver.disconnected(None, 0.0) >= 0 and driver.state == "down"


def test_a_bug_is_counted_and_the_link_retried() -> None:
    link = Link()
    link.connect()
    delay = link.driver.crashed(RuntimeError("boom"), link.now)
    assert delay >= 0 and link.driver.state == "down" and link.driver.internal_errors == 1
    assert link.driver.last_error == "internal error: RuntimeError"
    assert link.driver.session is None
    link.up()


def test_stop_fails_every_waiting_command() -> None:
    link = Link()
    link.up()
    link.submit("c1")
    assert link.driver.stop(link.now) == [
        CommandDone(CommandResult("c1", "failed", "link stopped"))
    ]
    assert link.driver.state == "stopped"
    link.drop()
    assert link.driver.state == "stopped"


@pytest.mark.parametrize("deadline", [0.001, 60.0])
def test_submit_validates_and_joins_repeated_ids(deadline: float) -> None:
    link = Link()
    link.up()
    cid, outputs = link.driver.submit("explode", "1000", now=link.now)
    assert isinstance(outputs[0], CommandDone) and "invalid command" in outputs[0].result.reason
    assert link.submit("same", deadline) == []
    assert link.driver.submit("mute", "1000", "v1", None, deadline, "same", now=link.now) == (
        "same",
        [],
    )
    assert [c.id for c in link.commands] == ["same"]


def test_snapshot_request_goes_out_on_new_epoch() -> None:
    link = Link()
    link.up()
    link.hold_snapshot = True
    sent = link.driver.receive(
        encode(EventMessage(Event(10, 1, MuteChanged("1000", "v1", True)))), link.now
    )
    assert [type(o.message) for o in sent if isinstance(o, Send)] == [SnapshotRequest]
