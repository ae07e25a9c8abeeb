"""The member server's side of one federation link, sans-I/O.

Role: checks the hub's handshake (version, credentials), then turns hub messages into
requests for the emulated member. Feed it frames (``receive``) and time (``tick``);
carry out its outputs in order:

* ``Send(message)`` — encode and send; ``Close(code, reason)`` — close the socket;
* ``Authenticated`` — start broadcasting events to this connection;
* ``SnapshotWanted`` — send the world's snapshot now (before any later event);
* ``CommandReceived`` / ``SyncReceived`` — act on them; answer exactly once.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum

from controllers.auth import AuthError, MemberAuthenticator
from controllers.codec import FrameTooLarge, WireError
from controllers.messages import (
    PROTOCOL_VERSIONS,
    Auth,
    Challenge,
    Command,
    Direction,
    Heartbeat,
    Hello,
    Message,
    RefusalCode,
    Refused,
    SnapshotRequest,
    Sync,
    Welcome,
    decode,
)
from controllers.outputs import (
    CLOSE_INVALID,
    CLOSE_POLICY,
    CLOSE_PROTOCOL,
    CLOSE_TIMEOUT,
    CLOSE_TOO_BIG,
)
from controllers.outputs import (
    Close as Close,
)
from controllers.outputs import (
    Send as Send,
)


class MemberState(StrEnum):
    AWAIT_HELLO = "await_hello"
    AWAIT_AUTH = "await_auth"
    UP = "up"
    CLOSED = "closed"


# (state, message type received) -> next state. Anything else is a protocol error.
TRANSITIONS: dict[tuple[MemberState, str], MemberState] = {
    (MemberState.AWAIT_HELLO, "hello"): MemberState.AWAIT_AUTH,
    (MemberState.AWAIT_AUTH, "auth"): MemberState.UP,
    **{
        (MemberState.UP, t): MemberState.UP
        for t in ("snapshot_request", "command", "sync", "heartbeat")
    },
}


@dataclass(frozen=True, slots=True)
class Authenticated:
    version: int


@dataclass(frozen=True, slots=True)
class SnapshotWanted:
    reason: str


@dataclass(frozen=True, slots=True)
class CommandReceived:
    command: Command


@dataclass(frozen=True, slots=True)
class SyncReceived:
    sync: Sync


Output = Send | Close | Authenticated | SnapshotWanted | CommandReceived | SyncReceived


class MemberLinkSession:
    """One hub connection as the member server sees it."""

    def __init__(
        self,
        *,
        domain: str,
        epoch: int,
        authenticator: MemberAuthenticator,
        now: float,
        versions: tuple[int, ...] = PROTOCOL_VERSIONS,
        max_frame: int = 1024 * 1024,
        idle_timeout: float = 30.0,
        handshake_timeout: float = 10.0,
    ) -> None:
        self.domain, self.epoch, self._auth = domain, epoch, authenticator
        self._versions, self._max_frame = versions, max_frame
        self._idle_timeout, self._handshake_timeout = idle_timeout, handshake_timeout
        self.state = MemberState.AWAIT_HELLO
        self.version: int | None = None
        self.close_reason: str | None = None
        self._opened = self._last_rx = now
        self._hello: Hello | None = None
        self._nonce = ""

    @property
    def up(self) -> bool:
        return self.state is MemberState.UP

    def receive(self, data: bytes | str, now: float) -> list[Output]:
        if self.state is MemberState.CLOSED:
            return []
        self._last_rx = now
        try:
            message = _decode(data, self._max_frame)
        except WireError as exc:
            code = CLOSE_TOO_BIG if isinstance(exc, FrameTooLarge) else CLOSE_INVALID
            return self._close(code, f"bad frame: {exc}")
        if message.DIRECTION is Direction.TO_HUB:
            return self._close(CLOSE_PROTOCOL, f"'{message.TYPE}' is not sent by hubs")
        nxt = TRANSITIONS.get((self.state, message.TYPE))
        if nxt is None:
            return self._close(
                CLOSE_PROTOCOL, f"unexpected '{message.TYPE}' in state {self.state.value}"
            )
        out = self._handle(message)
        if not self.closed:
            self.state = nxt
        return out

    @property
    def closed(self) -> bool:
        return self.state is MemberState.CLOSED

    def tick(self, now: float) -> list[Output]:
        if self.state is MemberState.CLOSED:
            return []
        if self.state is not MemberState.UP and now - self._opened > self._handshake_timeout:
            return self._close(CLOSE_TIMEOUT, "handshake timed out")
        if now - self._last_rx > self._idle_timeout:
            return self._close(CLOSE_TIMEOUT, "hub silent for too long")
        return []

    def _handle(self, message: Message) -> list[Output]:
        if isinstance(message, Hello):
            return self._on_hello(message)
        if isinstance(message, Auth):
            return self._on_auth(message)
        if isinstance(message, SnapshotRequest):
            return [SnapshotWanted(message.reason)]
        if isinstance(message, Command):
            return [CommandReceived(message)]
        if isinstance(message, Sync):
            return [SyncReceived(message)]
        if isinstance(message, Heartbeat):
            return [] if message.reply else [Send(Heartbeat(message.id, reply=True))]
        raise AssertionError(f"unhandled {message.TYPE}")  # pragma: no cover - table guards

    def _on_hello(self, hello: Hello) -> list[Output]:
        common = set(hello.versions) & set(self._versions)
        if not common:
            reason = (
                f"no common protocol version: hub offers {sorted(hello.versions)}, "
                f"this member speaks {sorted(self._versions)}"
            )
            return [
                Send(Refused(RefusalCode.VERSION, reason)),
                *self._close(CLOSE_PROTOCOL, reason),
            ]
        self.version, self._hello = max(common), hello
        self._nonce = self._auth.issue_nonce()
        return [Send(Challenge(self.version, self.domain, self._nonce))]

    def _on_auth(self, auth: Auth) -> list[Output]:
        assert self._hello is not None and self.version is not None
        try:
            proof = self._auth.verify(
                version=self.version,
                domain=self.domain,
                username=self._hello.username,
                hub_nonce=self._hello.nonce,
                member_nonce=self._nonce,
                salt=auth.salt,
                params=auth.params,
                hub_proof=auth.proof,
            )
        except AuthError as exc:
            reason = f"authentication failed: {exc}"
            return [Send(Refused(RefusalCode.AUTH, reason)), *self._close(CLOSE_POLICY, reason)]
        return [Send(Welcome(self.version, self.epoch, proof)), Authenticated(self.version)]

    def _close(self, code: int, reason: str) -> list[Output]:
        self.state, self.close_reason = MemberState.CLOSED, reason
        return [Close(code, reason)]


SHARED_FRAME = 16 * 1024
"""Frames at least this long are decoded once per process however many members get them."""
_decoded: OrderedDict[bytes, Message] = OrderedDict()


def _decode(data: bytes | str, max_frame: int) -> Message:
    """``decode``, once per frame for the large ones: one emulator process hosts every
    member, and the hub sends each of them the same data-set frames (the federation
    list, domains, numbers: megabytes each at thousands of members), which thousands
    of member servers would each decode on their own CPU. Messages are not changed
    once decoded, so members share one. A frame refused is refused for each."""
    if len(data) < SHARED_FRAME or len(data) > max_frame:
        return decode(data, max_frame)
    key = data if isinstance(data, bytes) else data.encode()
    message = _decoded.get(key)
    if message is None:
        message = _decoded[key] = decode(data, max_frame)
        while len(_decoded) > 8:
            _decoded.popitem(last=False)
    return message
