"""Every link message round-trips; malformed, unknown and oversized frames are refused.

The wire form is derived from the dataclass fields (controllers/codec.py); the golden
frames in fixtures/ pin it to docs/member-link.md version 1, byte for byte.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controllers.codec import FrameTooLarge, Spec, WireError, fields_of, to_wire
from controllers.messages import (
    MAX_SYNC_PARTS,
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


# --- the wire format is fixed: golden frames (docs/member-link.md, version 1) ----------

FIXTURES = Path(__file__).parent / "fixtures" / "link-v1.jsonl"


def test_golden_frames_decode_to_the_samples_and_encode_byte_for_byte() -> None:
    """The frames were written by the hand-written codec before it was derived."""
    frames = FIXTURES.read_bytes().splitlines()
    assert len(frames) == len(SAMPLES)
    for frame, message in zip(frames, SAMPLES, strict=True):
        assert decode(frame) == message
        assert encode(message) == frame


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (
            b'{"type": "command", "id": "1", "kind": "mute", "target": {"conference": "1"}}',
            "deadline_ms",
        ),
        (
            b'{"type": "command", "id": "1", "kind": "mute", "deadline_ms": 5}',
            "target must be an object",
        ),
        (b'{"type": "sync", "dataset": "x", "revision": 1}', "missing field 'items'"),
        (
            b'{"type": "sync", "dataset": "x", "revision": 1, "items": [1]}',
            r"'items\[\]' has the wrong type",
        ),
        (b'{"type": "snapshot", "epoch": 1, "seq": 0}', "missing field 'conferences'"),
        (
            b'{"type": "event", "epoch": 1, "seq": 1, "kind": "venue_joined", "conference": "1",'
            b' "venue": {"id": "v", "name": "n", "status": "joined", "camera_on": true}}',
            "missing field 'muted'",
        ),
        (
            b'{"type": "event", "epoch": 1, "seq": 1, "kind": "conference_started",'
            b' "conference": {"number": "1", "name": "n", "kind": "vmr", "layout": "auto"}}',
            "missing field 'started_at'",
        ),
        (b'{"type": "event", "epoch": 1, "seq": 1, "conference": "1"}', "missing field 'kind'"),
        (b'{"type": "heartbeat", "id": 1.5}', "wrong type"),
        (b'{"type": "welcome", "version": 0, "epoch": 1, "proof": "cA=="}', "version"),
        (b'{"type": "hello", "versions": [1, true], "username": "u", "nonce": "bg=="}', "boolean"),
    ],
)
def test_what_the_wire_requires(frame: bytes, reason: str) -> None:
    with pytest.raises(WireError, match=reason):
        decode(frame)


def test_optional_fields_may_be_absent_or_null() -> None:
    frame = (
        b'{"type": "event", "epoch": 1, "seq": 1, "kind": "venue_joined", "conference": "1",'
        b' "venue": {"id": "v", "name": "n", "status": "joined", "muted": false,'
        b' "camera_on": true, "role": null, "cascade": null}}'
    )
    msg = decode(frame)
    assert isinstance(msg, EventMessage) and isinstance(msg.event.change, VenueJoined)
    assert msg.event.change.venue == Venue("v", "n", VenueStatus.JOINED)
    assert decode(b'{"type": "heartbeat", "id": 3, "reply": null}') == Heartbeat(3)
    started = decode(
        b'{"type": "event", "epoch": 1, "seq": 1, "kind": "conference_started", "conference":'
        b' {"number": "1", "name": "n", "kind": "vmr", "layout": "auto", "started_at": 7}}'
    )
    assert isinstance(started, EventMessage) and isinstance(started.event.change, ConferenceStarted)
    assert started.event.change.conference.started_at == 7.0
    assert isinstance(started.event.change.conference.started_at, float)


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (lambda: Hello((), "u", "bg=="), "protocol versions"),
        (lambda: Hello(tuple(range(1, 18)), "u", "bg=="), "protocol versions"),
        (lambda: Hello((1,), "", "bg=="), "username"),
        (lambda: Hello((1,), "u", "not base64!"), "base64"),
        (lambda: Challenge(1, "d" * 254, "bg=="), "domain"),
        (lambda: Refused("meh", "x"), "unknown refusal code"),  # type: ignore[arg-type]
        (lambda: Command("1", "reboot", "1"), "unknown command kind"),  # type: ignore[arg-type]
        (lambda: Command("1", CommandKind.MUTE, "1", args={str(i): i for i in range(33)}), "arg"),
        (lambda: Command("1", CommandKind.MUTE, "1", args={"a": "x" * 1025}), "too long"),
        (lambda: Command("1", CommandKind.MUTE, "1", args={"a": [1]}), "scalar"),  # type: ignore[dict-item]
        (lambda: Command("1", CommandKind.MUTE, "1", deadline_ms=0), "deadline_ms"),
        (lambda: Result("1", False), "reason"),
        (lambda: Sync("d", -1), "revision"),
        (lambda: Sync("d", 1, (1,)), "sync items"),  # type: ignore[arg-type]
        (lambda: Sync("d", 1, (), part=2, parts=2), "part must be below its parts"),
        (lambda: Sync("d", 1, (), parts=0), "parts must be an integer in 1.."),
        (lambda: Sync("d", 1, (), parts=MAX_SYNC_PARTS + 1), "parts must be an integer in 1.."),
        (lambda: Heartbeat(True), "heartbeat id"),
        (lambda: SnapshotMessage("s"), "Snapshot"),  # type: ignore[arg-type]
    ],
)
def test_messages_validate_when_built(build: Any, reason: str) -> None:
    with pytest.raises(WireError, match=reason):
        build()


def test_built_messages_are_normalised() -> None:
    hello = Hello([1, 2], "u", "bg==")  # type: ignore[arg-type]
    assert hello.versions == (1, 2)
    cmd = Command("1", "layout", "1", args={"layout": "2x2"})  # type: ignore[arg-type]
    assert cmd.kind is CommandKind.LAYOUT
    with pytest.raises(TypeError):
        cmd.args["layout"] = "1x1"  # type: ignore[index]
    assert Refused("busy", "x").code is RefusalCode.BUSY  # type: ignore[arg-type]


def test_oversized_frame_error_is_typed() -> None:
    frame = encode(Heartbeat(1))
    with pytest.raises(FrameTooLarge) as caught:
        decode(frame, max_size=len(frame) - 1)
    assert (caught.value.size, caught.value.limit) == (len(frame), len(frame) - 1)
    assert isinstance(caught.value, WireError)
    assert decode(frame, max_size=len(frame)) == Heartbeat(1)


# --- round trips of every message type, generated from the fields' own specs ---------


def _strategy_for(cls: type) -> st.SearchStrategy[Any]:
    """Values of ``cls`` drawn within the limits its fields declare (cross-field rules,
    like a failed result's reason, may still refuse a draw: those draws are skipped)."""
    kwargs = {f.name: _value_strategy(f.shape, f.spec) for f in fields_of(cls)}

    def build(values: dict[str, Any]) -> Any:
        try:
            return cls(**values)
        except WireError:
            return None

    return st.fixed_dictionaries(kwargs).map(build).filter(lambda m: m is not None)


def _value_strategy(shape: Any, spec: Spec) -> st.SearchStrategy[Any]:
    if shape.kind == "str":
        limit = spec.limit or 256
        if spec.base64:
            return st.binary(min_size=1, max_size=limit * 3 // 4 - 3).map(
                lambda b: base64.b64encode(b).decode()
            )
        return st.text(min_size=0 if spec.empty_ok else 1, max_size=min(limit, 40))
    if shape.kind == "int":
        return st.integers(spec.low, spec.high - 1)
    if shape.kind == "bool":
        return st.booleans()
    if shape.kind == "enum":
        return st.sampled_from(shape.of)
    if shape.kind == "seq" and shape.of.kind == "int":
        low, high = spec.items or (0, 8)
        return st.lists(st.integers(spec.low, 2**63 - 1), min_size=low, max_size=high).map(tuple)
    if shape.kind == "seq":  # sync items: JSON objects
        json_scalar = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8)
        return st.lists(st.dictionaries(st.text(max_size=8), json_scalar, max_size=4), max_size=4)
    if shape.kind == "object":  # command args
        scalar = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=30)
        scalar |= st.floats(allow_nan=False, allow_infinity=False)
        return st.dictionaries(st.text(min_size=1, max_size=10), scalar, max_size=6)
    if shape.of is Snapshot:
        confs = st.lists(
            st.builds(
                Conference,
                _text,
                _text,
                st.sampled_from(ConferenceKind),
                _text,
                st.floats(0, 2e9),
                st.lists(_venue, max_size=3, unique_by=lambda v: v.id).map(tuple),
            ),
            max_size=3,
            unique_by=lambda c: c.number,
        ).map(tuple)
        return st.builds(Snapshot, st.integers(0, 2**62), st.integers(0, 2**62), confs)
    if shape.of is Event:
        return st.builds(
            Event, st.integers(0, 2**62), st.integers(1, 2**62), st.sampled_from(CHANGES)
        )
    raise AssertionError(shape)


@pytest.mark.parametrize("cls", list(MESSAGE_TYPES.values()), ids=lambda c: c.TYPE)
def test_every_message_type_round_trips(cls: type) -> None:
    @given(message=_strategy_for(cls))
    @settings(max_examples=60, deadline=None)
    def check(message: Any) -> None:
        assert decode(encode(message)) == message
        assert to_wire(message) == {
            k: v for k, v in orjson.loads(encode(message)).items() if k != "type"
        }

    check()
