"""Messages of the federation link (docs/member-link.md), protocol version 1.

Role: the closed registry of message types. Each message is a frozen dataclass that
validates when built, states its direction, and round-trips through ``encode`` /
``decode`` (orjson). ``decode`` raises ``WireError`` for anything malformed, unknown
or oversized; the session that called it must then reset the link.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, ClassVar

import orjson

from controllers.codec import (
    FrameTooLarge,
    WireError,
    checked,
    event_from_wire,
    event_to_wire,
    field,
    optional,
    record,
    snapshot_from_wire,
    snapshot_to_wire,
)
from hub.conference import Event, Snapshot

PROTOCOL_VERSIONS: tuple[int, ...] = (1,)
DEFAULT_MAX_FRAME = 8 * 1024 * 1024
_B64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


class Direction(StrEnum):
    TO_MEMBER = "hub->member"
    TO_HUB = "member->hub"
    BOTH = "both"


def _text(what: str, value: object, limit: int = 256, *, empty_ok: bool = False) -> None:
    if not isinstance(value, str) or len(value) > limit or (not value and not empty_ok):
        raise WireError(f"{what} must be a string of {0 if empty_ok else 1}..{limit} characters")


def _b64(what: str, value: object, limit: int = 512) -> None:
    _text(what, value, limit)
    assert isinstance(value, str)
    if not _B64.match(value):
        raise WireError(f"{what} must be base64")


def _count(what: str, value: object, low: int = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value < 2**63:
        raise WireError(f"{what} must be an integer >= {low}")


# --- handshake ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello:
    """Hub opens: the versions it speaks, who it claims to be, and its nonce."""

    TYPE: ClassVar[str] = "hello"
    DIRECTION: ClassVar[Direction] = Direction.TO_MEMBER
    versions: tuple[int, ...]
    username: str
    nonce: str
    agent: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "versions", tuple(self.versions))
        if not self.versions or len(self.versions) > 16:
            raise WireError("versions must list 1..16 protocol versions")
        for v in self.versions:
            _count("protocol version", v, 1)
        _text("username", self.username, 128)
        _b64("nonce", self.nonce, 64)
        _text("agent", self.agent, 128, empty_ok=True)

    def to_wire(self) -> dict[str, Any]:
        return {
            "versions": list(self.versions),
            "username": self.username,
            "nonce": self.nonce,
            "agent": self.agent,
        }

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> Hello:
        return cls(
            tuple(field(d, "versions", list)),
            field(d, "username", str),
            field(d, "nonce", str),
            optional(d, "agent", str, ""),
        )


@dataclass(frozen=True, slots=True)
class Challenge:
    """Member answers a hello: the version it chose, its domain and its own nonce."""

    TYPE: ClassVar[str] = "challenge"
    DIRECTION: ClassVar[Direction] = Direction.TO_HUB
    version: int
    domain: str
    nonce: str

    def __post_init__(self) -> None:
        _count("version", self.version, 1)
        _text("domain", self.domain, 253)
        _b64("nonce", self.nonce, 64)

    def to_wire(self) -> dict[str, Any]:
        return {"version": self.version, "domain": self.domain, "nonce": self.nonce}

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> Challenge:
        return cls(field(d, "version", int), field(d, "domain", str), field(d, "nonce", str))


@dataclass(frozen=True, slots=True)
class Auth:
    """Hub proves it holds the member's password hash (see controllers/auth.py)."""

    TYPE: ClassVar[str] = "auth"
    DIRECTION: ClassVar[Direction] = Direction.TO_MEMBER
    salt: str
    params: str
    proof: str

    def __post_init__(self) -> None:
        _b64("salt", self.salt, 128)
        _text("params", self.params, 128)
        _b64("proof", self.proof, 64)

    def to_wire(self) -> dict[str, Any]:
        return {"salt": self.salt, "params": self.params, "proof": self.proof}

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> Auth:
        return cls(field(d, "salt", str), field(d, "params", str), field(d, "proof", str))


@dataclass(frozen=True, slots=True)
class Welcome:
    """Member accepts: the link is up at ``version``; ``proof`` shows the member is genuine."""

    TYPE: ClassVar[str] = "welcome"
    DIRECTION: ClassVar[Direction] = Direction.TO_HUB
    version: int
    epoch: int
    proof: str

    def __post_init__(self) -> None:
        _count("version", self.version, 1)
        _count("epoch", self.epoch)
        _b64("proof", self.proof, 64)

    def to_wire(self) -> dict[str, Any]:
        return {"version": self.version, "epoch": self.epoch, "proof": self.proof}

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> Welcome:
        return cls(field(d, "version", int), field(d, "epoch", int), field(d, "proof", str))


class RefusalCode(StrEnum):
    VERSION = "version"
    AUTH = "auth"
    PROTOCOL = "protocol"
    BUSY = "busy"


@dataclass(frozen=True, slots=True)
class Refused:
    """Member turns the hub away (then closes); ``reason`` is for the operator."""

    TYPE: ClassVar[str] = "refused"
    DIRECTION: ClassVar[Direction] = Direction.TO_HUB
    code: RefusalCode
    reason: str

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "code", RefusalCode(self.code))
        except ValueError:
            raise WireError(f"unknown refusal code '{self.code}'") from None
        _text("reason", self.reason, 512)

    def to_wire(self) -> dict[str, Any]:
        return {"code": self.code.value, "reason": self.reason}

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> Refused:
        return cls(field(d, "code", str), field(d, "reason", str))


# --- live state ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SnapshotRequest:
    """Hub asks for the whole state (after welcome, a gap or a new epoch)."""

    TYPE: ClassVar[str] = "snapshot_request"
    DIRECTION: ClassVar[Direction] = Direction.TO_MEMBER
    reason: str = ""

    def __post_init__(self) -> None:
        _text("reason", self.reason, 256, empty_ok=True)

    def to_wire(self) -> dict[str, Any]:
        return {"reason": self.reason}

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> SnapshotRequest:
        return cls(optional(d, "reason", str, ""))


@dataclass(frozen=True, slots=True)
class SnapshotMessage:
    """Member's whole state at ``(epoch, seq)``: all conferences with their venues."""

    TYPE: ClassVar[str] = "snapshot"
    DIRECTION: ClassVar[Direction] = Direction.TO_HUB
    snapshot: Snapshot

    def to_wire(self) -> dict[str, Any]:
        return snapshot_to_wire(self.snapshot)

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> SnapshotMessage:
        return cls(checked(snapshot_from_wire, d))


@dataclass(frozen=True, slots=True)
class EventMessage:
    """One change on the member, with its ``(epoch, seq)``."""

    TYPE: ClassVar[str] = "event"
    DIRECTION: ClassVar[Direction] = Direction.TO_HUB
    event: Event

    def to_wire(self) -> dict[str, Any]:
        return event_to_wire(self.event)

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> EventMessage:
        return cls(checked(event_from_wire, d))


# --- commands -----------------------------------------------------------------------


class CommandKind(StrEnum):
    MUTE = "mute"
    UNMUTE = "unmute"
    CAMERA_ON = "camera_on"
    CAMERA_OFF = "camera_off"
    LAYOUT = "layout"
    HANG_UP = "hang_up"
    CALL = "call"


ArgValue = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Command:
    """Hub asks the member to act. ``deadline_ms`` is relative to receipt (no clock skew).

    ``target`` is the conference number; ``venue`` the venue id (empty for conference-wide
    kinds such as ``layout``). ``args`` holds scalars only (e.g. ``{"layout": "2x2"}``,
    ``{"number": "7001"}`` to call). The member answers with exactly one ``Result``.
    """

    TYPE: ClassVar[str] = "command"
    DIRECTION: ClassVar[Direction] = Direction.TO_MEMBER
    id: str
    kind: CommandKind
    conference: str
    venue: str = ""
    args: Mapping[str, ArgValue] = dc_field(default_factory=dict)
    deadline_ms: int = 5000

    def __post_init__(self) -> None:
        _text("command id", self.id, 64)
        try:
            object.__setattr__(self, "kind", CommandKind(self.kind))
        except ValueError:
            raise WireError(f"unknown command kind '{self.kind}'") from None
        _text("conference", self.conference, 64)
        _text("venue", self.venue, 64, empty_ok=True)
        if not isinstance(self.args, Mapping) or len(self.args) > 32:
            raise WireError("args must be an object of at most 32 entries")
        for k, v in self.args.items():
            _text("arg name", k, 64)
            if not isinstance(v, str | int | float | bool | None):
                raise WireError(f"arg '{k}' must be a scalar")
            if isinstance(v, str) and len(v) > 1024:
                raise WireError(f"arg '{k}' is too long")
        object.__setattr__(self, "args", MappingProxyType(dict(self.args)))
        _count("deadline_ms", self.deadline_ms, 1)

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "target": {"conference": self.conference, "venue": self.venue},
            "args": dict(self.args),
            "deadline_ms": self.deadline_ms,
        }

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> Command:
        target = record(d.get("target"), "target")
        return cls(
            field(d, "id", str),
            field(d, "kind", str),
            field(target, "conference", str),
            optional(target, "venue", str, ""),
            optional(d, "args", dict, {}),
            field(d, "deadline_ms", int),
        )


@dataclass(frozen=True, slots=True)
class Result:
    """Member's one answer to a command: ok, or failed with a reason."""

    TYPE: ClassVar[str] = "result"
    DIRECTION: ClassVar[Direction] = Direction.TO_HUB
    id: str
    ok: bool
    reason: str = ""

    def __post_init__(self) -> None:
        _text("command id", self.id, 64)
        if not isinstance(self.ok, bool):
            raise WireError("ok must be a boolean")
        _text("reason", self.reason, 512, empty_ok=self.ok)

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "ok": self.ok, "reason": self.reason}

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> Result:
        return cls(field(d, "id", str), field(d, "ok", bool), optional(d, "reason", str, ""))


# --- data-set sync (filled by a later issue) ------------------------------------------


@dataclass(frozen=True, slots=True)
class Sync:
    """Hub pushes revision ``revision`` of a data set (accounts, rooms, routes, …)."""

    TYPE: ClassVar[str] = "sync"
    DIRECTION: ClassVar[Direction] = Direction.TO_MEMBER
    dataset: str
    revision: int
    items: tuple[Mapping[str, Any], ...] = ()

    def __post_init__(self) -> None:
        _text("dataset", self.dataset, 64)
        _count("revision", self.revision)
        object.__setattr__(self, "items", tuple(self.items))
        for item in self.items:
            if not isinstance(item, Mapping):
                raise WireError("sync items must be objects")

    def to_wire(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "revision": self.revision,
            "items": [dict(i) for i in self.items],
        }

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> Sync:
        return cls(
            field(d, "dataset", str), field(d, "revision", int), tuple(field(d, "items", list))
        )


@dataclass(frozen=True, slots=True)
class SyncAck:
    """Member's answer to a ``sync``: applied (ok) or not, with the error."""

    TYPE: ClassVar[str] = "sync_ack"
    DIRECTION: ClassVar[Direction] = Direction.TO_HUB
    dataset: str
    revision: int
    ok: bool
    error: str = ""

    def __post_init__(self) -> None:
        _text("dataset", self.dataset, 64)
        _count("revision", self.revision)
        if not isinstance(self.ok, bool):
            raise WireError("ok must be a boolean")
        _text("error", self.error, 512, empty_ok=True)

    def to_wire(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "revision": self.revision,
            "ok": self.ok,
            "error": self.error,
        }

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> SyncAck:
        return cls(
            field(d, "dataset", str),
            field(d, "revision", int),
            field(d, "ok", bool),
            optional(d, "error", str, ""),
        )


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Liveness, both ways: a side sends ``reply=False``; the peer echoes ``id`` with True."""

    TYPE: ClassVar[str] = "heartbeat"
    DIRECTION: ClassVar[Direction] = Direction.BOTH
    id: int
    reply: bool = False

    def __post_init__(self) -> None:
        _count("heartbeat id", self.id)
        if not isinstance(self.reply, bool):
            raise WireError("reply must be a boolean")

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "reply": self.reply}

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> Heartbeat:
        return cls(field(d, "id", int), optional(d, "reply", bool, False))


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


def encode(message: Message) -> bytes:
    """The JSON text of ``message`` (send it as a text frame)."""
    body = message.to_wire()
    body["type"] = message.TYPE
    return orjson.dumps(body)


def decode(data: bytes | str, max_size: int = DEFAULT_MAX_FRAME) -> Message:
    """Parse one frame into a message; ``WireError`` says why it is refused."""
    if len(data) > max_size:
        raise FrameTooLarge(f"frame of {len(data)} bytes exceeds the limit of {max_size}")
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise WireError(f"malformed JSON: {exc}") from None
    if not isinstance(body, dict):
        raise WireError("a message must be a JSON object")
    kind = body.get("type")
    cls = MESSAGE_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise WireError(f"unknown message type {kind!r}")
    try:
        return cls.from_wire(body)
    except WireError:
        raise
    except (ValueError, TypeError) as exc:
        raise WireError(f"bad {kind}: {exc}") from None
