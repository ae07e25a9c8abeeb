"""Messages of the federation link (docs/member-link.md), protocol version 1.

Role: the closed registry of message types. Each message is a frozen dataclass whose
fields say their wire form and limits (``wire(...)``, see controllers/codec.py): it
validates when built, states its direction, and round-trips through ``encode`` /
``decode`` (orjson). ``decode`` raises ``WireError`` for anything malformed, unknown
or oversized (``FrameTooLarge`` for the latter); the session that called it must then
reset the link.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from enum import StrEnum
from typing import Annotated, Any, ClassVar

import orjson

from controllers.codec import (
    FrameTooLarge,
    LinkRecord,
    WireError,
    decoder,
    encoder,
    wire,
)
from controllers.commands import MAX_ARG_NAME, MAX_ARG_TEXT, MAX_ARGS, MAX_ID
from controllers.commands import CommandKind as CommandKind  # the link's users import it here
from hub.conference import Event, Snapshot

PROTOCOL_VERSIONS: tuple[int, ...] = (1,)
DEFAULT_MAX_FRAME = 8 * 1024 * 1024
MAX_SYNC_PARTS = 4096  # frames of one chunked sync: 32 GiB at the default frame size


class Direction(StrEnum):
    TO_MEMBER = "hub->member"
    TO_HUB = "member->hub"
    BOTH = "both"


# --- handshake ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello(LinkRecord):
    """Hub opens: the versions it speaks, who it claims to be, and its nonce."""

    TYPE: ClassVar[str] = "hello"
    DIRECTION: ClassVar[Direction] = Direction.TO_MEMBER
    versions: Annotated[tuple[int, ...], wire(items=(1, 16), low=1, what="protocol versions")]
    username: Annotated[str, wire(limit=128)]
    nonce: Annotated[str, wire(limit=64, base64=True)]
    agent: Annotated[str, wire(limit=128, empty_ok=True)] = ""


@dataclass(frozen=True, slots=True)
class Challenge(LinkRecord):
    """Member answers a hello: the version it chose, its domain and its own nonce."""

    TYPE: ClassVar[str] = "challenge"
    DIRECTION: ClassVar[Direction] = Direction.TO_HUB
    version: Annotated[int, wire(low=1)]
    domain: Annotated[str, wire(limit=253)]
    nonce: Annotated[str, wire(limit=64, base64=True)]


@dataclass(frozen=True, slots=True)
class Auth(LinkRecord):
    """Hub proves it holds the member's password hash (see controllers/auth.py)."""

    TYPE: ClassVar[str] = "auth"
    DIRECTION: ClassVar[Direction] = Direction.TO_MEMBER
    salt: Annotated[str, wire(limit=128, base64=True)]
    params: Annotated[str, wire(limit=128)]
    proof: Annotated[str, wire(limit=64, base64=True)]


@dataclass(frozen=True, slots=True)
class Welcome(LinkRecord):
    """Member accepts: the link is up at ``version``; ``proof`` shows the member is genuine."""

    TYPE: ClassVar[str] = "welcome"
    DIRECTION: ClassVar[Direction] = Direction.TO_HUB
    version: Annotated[int, wire(low=1)]
    epoch: Annotated[int, wire()]
    proof: Annotated[str, wire(limit=64, base64=True)]


class RefusalCode(StrEnum):
    VERSION = "version"
    AUTH = "auth"
    PROTOCOL = "protocol"
    BUSY = "busy"


@dataclass(frozen=True, slots=True)
class Refused(LinkRecord):
    """Member turns the hub away (then closes); ``reason`` is for the operator."""

    TYPE: ClassVar[str] = "refused"
    DIRECTION: ClassVar[Direction] = Direction.TO_HUB
    code: Annotated[RefusalCode, wire(what="refusal code")]
    reason: Annotated[str, wire(limit=512)]


# --- live state ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SnapshotRequest(LinkRecord):
    """Hub asks for the whole state (after welcome, a gap or a new epoch)."""

    TYPE: ClassVar[str] = "snapshot_request"
    DIRECTION: ClassVar[Direction] = Direction.TO_MEMBER
    reason: Annotated[str, wire(limit=256, empty_ok=True)] = ""


@dataclass(frozen=True, slots=True)
class SnapshotMessage(LinkRecord):
    """Member's whole state at ``(epoch, seq)``: all conferences with their venues."""

    TYPE: ClassVar[str] = "snapshot"
    DIRECTION: ClassVar[Direction] = Direction.TO_HUB
    snapshot: Annotated[Snapshot, wire(flatten=True)]


@dataclass(frozen=True, slots=True)
class EventMessage(LinkRecord):
    """One change on the member, with its ``(epoch, seq)``."""

    TYPE: ClassVar[str] = "event"
    DIRECTION: ClassVar[Direction] = Direction.TO_HUB
    event: Annotated[Event, wire(flatten=True)]


# --- commands -----------------------------------------------------------------------


ArgValue = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Command(LinkRecord):
    """Hub asks the member to act. ``deadline_ms`` is relative to receipt (no clock skew).

    ``conference`` is the conference number and ``venue`` the venue id (empty for
    conference-wide kinds such as ``layout``); on the wire both sit in ``target``.
    ``args`` holds scalars only (e.g. ``{"layout": "2x2"}``, ``{"number": "7001"}`` to
    call; controllers/commands.py lists each kind's). The member answers with exactly
    one ``Result``.
    """

    TYPE: ClassVar[str] = "command"
    DIRECTION: ClassVar[Direction] = Direction.TO_MEMBER
    id: Annotated[str, wire(limit=MAX_ID, what="command id")]
    kind: Annotated[CommandKind, wire(what="command kind")]
    conference: Annotated[str, wire(limit=64, path=("target",))]
    venue: Annotated[str, wire(limit=64, empty_ok=True, path=("target",))] = ""
    args: Annotated[
        Mapping[str, ArgValue],
        wire(items=(0, MAX_ARGS), key_limit=MAX_ARG_NAME, limit=MAX_ARG_TEXT, what="arg"),
    ] = dc_field(default_factory=dict)
    deadline_ms: Annotated[int, wire(low=1, required=True)] = 5000


@dataclass(frozen=True, slots=True)
class Result(LinkRecord):
    """Member's one answer to a command: ok, or failed with a reason."""

    TYPE: ClassVar[str] = "result"
    DIRECTION: ClassVar[Direction] = Direction.TO_HUB
    id: Annotated[str, wire(limit=MAX_ID, what="command id")]
    ok: Annotated[bool, wire()]
    reason: Annotated[str, wire(limit=512, empty_ok=True)] = ""

    def invariant(self) -> None:
        if not self.ok and not self.reason:
            raise WireError("reason must be a string of 1..512 characters when not ok")


# --- data-set sync ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sync(LinkRecord):
    """Hub pushes revision ``revision`` of a data set (docs/member-link.md, "Data-set sync").

    ``base == 0`` (or absent): ``items`` are the whole data set, replacing what the member
    holds. ``base > 0``: ``items`` are the changes from version ``base`` to ``revision``
    (an item ``{"key": k, "deleted": true}`` removes ``k``); a member that does not
    hold ``base`` refuses, and the hub then sends everything.

    A push larger than one frame goes as ``parts`` frames (``part`` 0 .. parts-1, same
    data set, revision and base, in order): the member stages them and applies them
    together, as one version, at the last one, which alone is acknowledged.
    """

    TYPE: ClassVar[str] = "sync"
    DIRECTION: ClassVar[Direction] = Direction.TO_MEMBER
    dataset: Annotated[str, wire(limit=64)]
    revision: Annotated[int, wire()]
    items: Annotated[tuple[Mapping[str, Any], ...], wire(required=True, what="sync items")] = ()
    base: Annotated[int, wire(omit_default=True)] = 0
    part: Annotated[int, wire(omit_default=True, high=MAX_SYNC_PARTS)] = 0
    parts: Annotated[int, wire(omit_default=True, low=1, high=MAX_SYNC_PARTS + 1)] = 1

    @property
    def full(self) -> bool:
        return self.base == 0

    @property
    def last(self) -> bool:
        """The last (or only) frame of the push: the member applies and answers now."""
        return self.part == self.parts - 1

    def invariant(self) -> None:
        if self.base > self.revision:
            raise WireError("a sync's base must not be past its revision")
        if self.part >= self.parts:
            raise WireError("a sync's part must be below its parts")


@dataclass(frozen=True, slots=True)
class SyncAck(LinkRecord):
    """Member's answer to a ``sync``: applied (ok) or not, with the error."""

    TYPE: ClassVar[str] = "sync_ack"
    DIRECTION: ClassVar[Direction] = Direction.TO_HUB
    dataset: Annotated[str, wire(limit=64)]
    revision: Annotated[int, wire()]
    ok: Annotated[bool, wire()]
    error: Annotated[str, wire(limit=512, empty_ok=True)] = ""


@dataclass(frozen=True, slots=True)
class Heartbeat(LinkRecord):
    """Liveness, both ways: a side sends ``reply=False``; the peer echoes ``id`` with True."""

    TYPE: ClassVar[str] = "heartbeat"
    DIRECTION: ClassVar[Direction] = Direction.BOTH
    id: Annotated[int, wire(what="heartbeat id")]
    reply: Annotated[bool, wire()] = False


Message = (
    Hello
    | Challenge
    | Auth
    | Welcome
    | Refused
    | SnapshotRequest
    | SnapshotMessage
    | EventMessage
    | Command
    | Result
    | Sync
    | SyncAck
    | Heartbeat
)

MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.TYPE: cls
    for cls in (
        Hello,
        Challenge,
        Auth,
        Welcome,
        Refused,
        SnapshotRequest,
        SnapshotMessage,
        EventMessage,
        Command,
        Result,
        Sync,
        SyncAck,
        Heartbeat,
    )
}


_ENCODE = {cls: encoder(cls) for cls in MESSAGE_TYPES.values()}
_DECODE = {name: decoder(cls) for name, cls in MESSAGE_TYPES.items()}


SHARED_ITEMS = 32
"""A ``sync`` of at least this many items is encoded once however many links send it."""
SHARED_KEEP = 16
SHARED_BYTES = 64 * 1024 * 1024
_shared: OrderedDict[int, tuple[Sync, bytes]] = OrderedDict()


def encode(message: Message) -> bytes:
    """The JSON text of ``message`` (send it as a text frame).

    The data-set sync sends one ``Sync`` object (a derived data set: the federation
    list, its domains, its numbers) to every member, each a frame of up to megabytes:
    the last few such frames are kept by the identity of their message (held here, so
    the identity stays theirs), and a message is encoded once for all its links. No
    message (nor its items) is changed once built, so its frame stays what it encodes to.
    """
    if type(message) is Sync and len(message.items) >= SHARED_ITEMS:
        hit = _shared.get(id(message))
        if hit is not None and hit[0] is message:
            _shared.move_to_end(id(message))
            return hit[1]
        data = _encode(message)
        _shared[id(message)] = (message, data)
        total = sum(len(d) for _, d in _shared.values())
        while len(_shared) > 1 and (len(_shared) > SHARED_KEEP or total > SHARED_BYTES):
            _, (_, old) = _shared.popitem(last=False)
            total -= len(old)
        return data
    return _encode(message)


def _encode(message: Message) -> bytes:
    body = _ENCODE[type(message)](message)
    body["type"] = message.TYPE
    return orjson.dumps(body)


def decode(data: bytes | str, max_size: int = DEFAULT_MAX_FRAME) -> Message:
    """Parse one frame into a message; ``WireError`` says why it is refused."""
    if len(data) > max_size:
        raise FrameTooLarge(len(data), max_size)
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise WireError(f"malformed JSON: {exc}") from None
    if type(body) is not dict:
        raise WireError("a message must be a JSON object")
    kind = body.get("type")
    decode_body = _DECODE.get(kind) if type(kind) is str else None
    if decode_body is None:
        raise WireError(f"unknown message type {kind!r}")
    assert isinstance(kind, str)
    try:
        message: Message = decode_body(body, kind)
    except WireError:
        raise
    except (ValueError, TypeError) as exc:  # a record's invariant (InvalidRecord) or enum
        raise WireError(f"bad {kind}: {exc}") from None
    return message
