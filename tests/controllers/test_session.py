"""The hub's link session against the member's, in memory: no sockets, no event loop."""

from __future__ import annotations

import pytest

from controllers import session as hub
from controllers.auth import HubKey, MemberAuthenticator
from controllers.messages import (
    Challenge,
    Command,
    CommandKind,
    EventMessage,
    Heartbeat,
    Refused,
    SnapshotMessage,
    Welcome,
    encode,
)
from emulator import link as member
from hub.conference import Event, MuteChanged, Snapshot
from tests.controllers.linkkit import FAST, QUICK

DOMAIN, USER, PASSWORD = "prov.example", "prov-link", "Str0ng!pass"
KEY = HubKey.from_phc(FAST.hash(PASSWORD))


def pair(
    password: str = PASSWORD, hub_versions: tuple[int, ...] = (1,), domain: str = DOMAIN
) -> tuple[hub.LinkSession, member.MemberLinkSession]:
    h = hub.LinkSession(
        domain=domain, username=USER, key=KEY, settings=QUICK, versions=hub_versions
    )
    m = member.MemberLinkSession(
        domain=DOMAIN, epoch=9, authenticator=MemberAuthenticator(USER, password), now=0.0
    )
    return h, m


def pump(h: hub.LinkSession, m: member.MemberLinkSession, outs: list, now: float = 0.0) -> list:
    """Deliver sends both ways until quiet; returns every non-send output seen."""
    seen, queue = [], [("h", o) for o in outs]
    while queue:
        side, out = queue.pop(0)
        if isinstance(out, hub.Send | member.Send):
            if side == "h":
                queue += [("m", o) for o in m.receive(encode(out.message), now)]
            else:
                queue += [("h", o) for o in h.receive(encode(out.message), now)]
        elif isinstance(out, member.SnapshotWanted):
            queue.append(("m", member.Send(_snapshot_message())))
        else:
            seen.append(out)
    return seen


def _snapshot_message() -> SnapshotMessage:
    return SnapshotMessage(Snapshot(9, 0))


def test_handshake_brings_the_link_up() -> None:
    h, m = pair()
    seen = pump(h, m, h.connected(0.0))
    assert hub.Authenticated(1, 9) in seen and member.Authenticated(1) in seen
    assert hub.SnapshotReceived(Snapshot(9, 0)) in seen
    assert h.state is hub.State.UP and m.up


def test_version_mismatch_is_refused_with_a_clear_reason() -> None:
    h, m = pair(hub_versions=(99,))
    seen = pump(h, m, h.connected(0.0))
    closes = [o for o in seen if isinstance(o, hub.Close)]
    assert closes and "no common protocol version" in closes[0].reason
    assert "[99]" in closes[0].reason and "[1]" in closes[0].reason
    assert h.closed and m.closed


def test_wrong_password_is_refused() -> None:
    h, m = pair(password="Other!pass1")
    seen = pump(h, m, h.connected(0.0))
    assert any(isinstance(o, hub.Close) and "authentication failed" in o.reason for o in seen)
    assert h.state is hub.State.CLOSED


def test_member_claiming_another_domain_is_dropped() -> None:
    h, m = pair(domain="other.example")
    seen = pump(h, m, h.connected(0.0))
    assert any(isinstance(o, hub.Close) and "other.example" in o.reason for o in seen)


def test_member_that_cannot_prove_the_password_is_dropped() -> None:
    h, _ = pair()
    h.connected(0.0)
    h.receive(encode(Challenge(1, DOMAIN, "bm9uY2U=")), 0.0)
    out = h.receive(encode(Welcome(1, 9, "Zm9yZ2Vk")), 0.0)
    assert isinstance(out[0], hub.Close) and "prove" in out[0].reason


def up_pair() -> tuple[hub.LinkSession, member.MemberLinkSession]:
    h, m = pair()
    pump(h, m, h.connected(0.0))
    return h, m


def test_events_while_a_snapshot_is_pending_are_dropped() -> None:
    h, _ = up_pair()
    event = encode(EventMessage(Event(9, 1, MuteChanged("1", "v", True))))
    assert h.receive(event, 1.0) == [hub.EventReceived(Event(9, 1, MuteChanged("1", "v", True)))]
    req = h.request_snapshot("gap", 1.0)
    assert len(req) == 1 and h.request_snapshot("again", 1.0) == []  # one at a time
    assert h.receive(event, 1.1) == [] and h.dropped_events == 1
    assert h.receive(encode(SnapshotMessage(Snapshot(9, 5))), 1.2)
    assert not h.snapshot_pending


def test_heartbeats_measure_rtt_and_silence_closes() -> None:
    h, _ = up_pair()
    out = h.tick(QUICK.heartbeat_interval + 0.01)
    assert isinstance(out[0], hub.Send) and isinstance(out[0].message, Heartbeat)
    beat = out[0].message
    h.receive(encode(Heartbeat(beat.id, reply=True)), QUICK.heartbeat_interval + 0.05)
    assert h.rtt is not None and abs(h.rtt - 0.04) < 1e-6
    late = QUICK.heartbeat_interval + 0.05 + QUICK.heartbeat_timeout + 0.01
    closed = h.tick(late)
    assert isinstance(closed[0], hub.Close) and "heartbeat timeout" in closed[0].reason


def test_member_heartbeat_is_answered() -> None:
    h, _ = up_pair()
    assert h.receive(encode(Heartbeat(3)), 0.1) == [hub.Send(Heartbeat(3, reply=True))]


def test_handshake_timeout() -> None:
    h, _ = pair()
    h.connected(0.0)
    out = h.tick(QUICK.handshake_timeout + 0.1)
    assert isinstance(out[0], hub.Close) and "handshake" in out[0].reason


def test_bad_frames_close_with_reasons() -> None:
    for frame, code, words in [
        (b"{oops", hub.CLOSE_INVALID, "malformed JSON"),
        (b'{"type": "warp"}', hub.CLOSE_INVALID, "unknown message type"),
        (encode(Command("1", CommandKind.MUTE, "1")), hub.CLOSE_PROTOCOL, "not sent by member"),
        (encode(Refused("auth", "x")), hub.CLOSE_PROTOCOL, "unexpected 'refused'"),  # type: ignore[arg-type]
        (b"x" * (QUICK.max_frame + 1), hub.CLOSE_TOO_BIG, "exceeds"),
    ]:
        h, _ = up_pair()
        out = h.receive(frame, 1.0)
        assert isinstance(out[0], hub.Close) and out[0].code == code, frame[:40]
        assert words in out[0].reason and h.closed
        assert h.receive(b"{}", 1.0) == []  # a closed session ignores the rest


def test_unexpected_message_for_the_state() -> None:
    h, _ = pair()
    h.connected(0.0)
    out = h.receive(encode(EventMessage(Event(1, 1, MuteChanged("1", "v", True)))), 0.0)
    assert isinstance(out[0], hub.Close) and "unexpected 'event'" in out[0].reason


def test_commands_only_when_up() -> None:
    h, _ = pair()
    with pytest.raises(hub.NotUp):
        h.send(Command("1", CommandKind.MUTE, "1"), 0.0)
    h, m = up_pair()
    out = h.send(Command("1", CommandKind.MUTE, "1", "v"), 0.0)
    assert [type(o) for o in m.receive(encode(out[0].message), 0.0)] == [member.CommandReceived]


def test_member_side_closes_silent_hub() -> None:
    _, m = up_pair()
    assert m.tick(10.0) == []
    out = m.tick(31.0)
    assert isinstance(out[0], member.Close)
