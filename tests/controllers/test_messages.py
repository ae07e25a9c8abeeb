"""Every link message round-trips; malformed, unknown and oversized frames are refused."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from controllers.codec import WireError
from controllers.messages import (
    MESSAGE_TYPES,
    Auth,
    Challenge,
    Command,
    CommandKind,
    Direction,
    EventMessage,
    Heartbeat,
    Hello,
    RefusalCode,
    Refused,
    Result,
    SnapshotMessage,
    SnapshotRequest,
    Sync,
    SyncAck,
    Welcome,
    decode,
    encode,
)
from hub.conference import (
    CallStats,
    CameraChanged,
    CascadeRef,
    Conference,
    ConferenceEnded,
    ConferenceKind,
    ConferenceStarted,
    Event,
    LayoutChanged,
    MuteChanged,
    Snapshot,
    StatsUpdated,
    Venue,
    VenueFailed,
    VenueJoined,
    VenueLeft,
    VenueRinging,
    VenueRole,
    VenueStatus,
)

STATS = CallStats(4096, 3900, 0.25, 7.5, 41.0, 1920, 1080, 30.0)
LINK = Venue("c-1", "City 1 meeting", VenueStatus.JOINED, cascade=CascadeRef("c1.example", "501"))
AUDIENCE = Venue("v2", "Hall 2", VenueStatus.FAILED, True, False, VenueRole.AUDIENCE, reason="busy")
CONF = Conference(
    "500",
    "Province",
    ConferenceKind.BROADCAST,
    "speaker",
    1.5,
    (Venue("v1", "Hall 1", VenueStatus.JOINED, stats=STATS), LINK, AUDIENCE),
)

CHANGES = [
    ConferenceStarted(CONF),
    ConferenceEnded("500"),
    VenueJoined("500", Venue("v1", "Hall 1", VenueStatus.JOINED, stats=STATS)),
    VenueRinging("500", Venue("v3", "Hall 3", VenueStatus.RINGING)),
    VenueLeft("500", "v1", "hung up"),
    VenueFailed("500", "v3", "no answer"),
    MuteChanged("500", "v1", True),
    CameraChanged("500", "v1", False),
    LayoutChanged("500", "2x2"),
    StatsUpdated("500", "v1", STATS),
]

SAMPLES = [
    Hello((1, 2), "prov-link", "bm9uY2Vub25jZQ==", "fedhub/0.1"),
    Challenge(1, "prov.example", "c2VydmVybm9uY2U="),
    Auth("c2FsdHNhbHQ=", "m=64,t=1,p=1,v=19,l=32", "cHJvb2Y="),
    Welcome(1, 1_700_000_000_000, "cHJvb2Y="),
    Refused(RefusalCode.VERSION, "no common protocol version"),
    SnapshotRequest("seq gap"),
    SnapshotMessage(Snapshot(3, 42, (CONF, Conference("501", "Empty", ConferenceKind.INSTANT)))),
    *[EventMessage(Event(3, n, c)) for n, c in enumerate(CHANGES, start=1)],
    Command("c1", CommandKind.LAYOUT, "500", "", {"layout": "2x2", "n": 1, "x": None}, 2500),
    Command("c2", CommandKind.MUTE, "500", "v1"),
    Result("c1", True),
    Result("c2", False, "venue offline"),
    Sync("accounts", 7, ({"id": 1, "name": "alice"},)),
    SyncAck("accounts", 7, False, "disk full"),
    Heartbeat(5),
    Heartbeat(5, reply=True),
]


def test_samples_cover_every_message_type() -> None:
    assert {type(m).TYPE for m in SAMPLES} == set(MESSAGE_TYPES)
    assert all(isinstance(t.DIRECTION, Direction) for t in MESSAGE_TYPES.values())


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).TYPE)
def test_round_trip(message: object) -> None:
    data = encode(message)  # type: ignore[arg-type]
    assert decode(data) == message
    assert decode(data.decode()) == message  # text or bytes alike
    assert orjson.loads(data)["type"] == type(message).TYPE


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"{not json", "malformed JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"type": "teleport"}', "unknown message type"),
        (b'{"no": "type"}', "unknown message type"),
        (b'{"type": "heartbeat", "id": "7"}', "wrong type"),
        (b'{"type": "heartbeat", "id": true}', "not a boolean"),
        (b'{"type": "hello", "versions": [], "username": "u", "nonce": "bm9uY2U="}', "versions"),
        (b'{"type": "hello", "versions": [1], "username": "u", "nonce": "!!"}', "base64"),
        (b'{"type": "result", "id": "x", "ok": false}', "reason"),
        (b'{"type": "refused", "code": "meh", "reason": "x"}', "refusal code"),
        (
            b'{"type": "event", "epoch": 1, "seq": 1, "kind": "explode", "conference": "1"}',
            "unknown event kind",
        ),
        (
            b'{"type": "event", "epoch": 1, "seq": 1, "kind": "mute_changed", "conference": "1"}',
            "missing field 'venue'",
        ),
        (
            b'{"type": "event", "epoch": 1, "seq": 1, "kind": "venue_joined", "conference": "1",'
            b' "venue": {"id": "v", "name": "n", "status": "dancing", "muted": false,'
            b' "camera_on": true}}',
            "dancing",
        ),
        (
            b'{"type": "command", "id": "1", "kind": "reboot", "target": {"conference": "1"},'
            b' "deadline_ms": 5}',
            "command kind",
        ),
        (
            b'{"type": "command", "id": "1", "kind": "mute", "target": {"conference": "1"},'
            b' "args": {"a": [1]}, "deadline_ms": 5}',
            "scalar",
        ),
        (
            b'{"type": "snapshot", "epoch": 1, "seq": 0, "conferences": [{"number": "1"}]}',
            "missing field",
        ),
    ],
)
def test_malformed_frames_are_refused_with_a_reason(frame: bytes, reason: str) -> None:
    with pytest.raises(WireError, match=reason):
        decode(frame)


def test_oversized_frame_is_refused() -> None:
    frame = encode(Sync("big", 1, ({"blob": "x" * 2000},)))
    with pytest.raises(WireError, match="exceeds the limit"):
        decode(frame, max_size=1000)


_text = st.text(min_size=1, max_size=20)
_stats = st.builds(
    CallStats,
    st.integers(0, 100_000),
    st.integers(0, 100_000),
    st.floats(0, 100),
    st.floats(0, 60_000),
    st.floats(0, 60_000),
    st.integers(0, 8192),
    st.integers(0, 8192),
    st.floats(0, 240),
)
_venue = st.builds(
    Venue,
    _text,
    _text,
    st.sampled_from(VenueStatus),
    st.booleans(),
    st.booleans(),
    st.sampled_from(VenueRole),
    st.none() | st.builds(CascadeRef, _text, _text),
    st.none() | _stats,
    st.text(max_size=10),
)


@given(venue=_venue, seq=st.integers(1, 2**62))
def test_venue_events_round_trip(venue: Venue, seq: int) -> None:
    joined = Venue(
        venue.id,
        venue.name,
        VenueStatus.JOINED,
        venue.muted,
        venue.camera_on,
        venue.role,
        venue.cascade,
        venue.stats,
        venue.reason,
    )
    msg = EventMessage(Event(2**40, seq, VenueJoined("9", joined)))
    assert decode(encode(msg)) == msg
    snap = SnapshotMessage(
        Snapshot(1, seq, (Conference("1", "m", ConferenceKind.VMR, venues=(venue,)),))
    )
    assert decode(encode(snap)) == snap


@given(st.binary(max_size=200))
def test_decode_never_raises_anything_but_wire_error(data: bytes) -> None:
    try:
        decode(data)
    except WireError:
        pass
