"""The hub's side of one federation link, sans-I/O.

Role: a state machine fed with what arrived (``connected``, ``receive``) and with time
(``tick``); it returns outputs for the caller to carry out, in order:

* ``Send(message)``   — encode and send it as a text frame;
* ``Close(code, reason)`` — log the reason with the member, close the socket, then
  reconnect with backoff (the session is finished; make a new one per connection);
* ``Authenticated`` (the member proved itself; the first snapshot is on its way, the
  link is not up yet), ``SnapshotReceived``, ``EventReceived``, ``ResultReceived``,
  ``SyncAckReceived`` — hand to the hub. When the live state answers an event with
  ``NeedSnapshot``, call ``request_snapshot`` and carry out what it returns.

Frames are measured before they are decoded: up to ``LinkSettings.max_message``
bytes, or ``max_frame`` while a snapshot is awaited (the only large message). Events
that arrive while a snapshot is pending are dropped: the snapshot covers them.
No asyncio, no sockets, no clock reads: ``now`` is always passed in (monotonic seconds).
``controllers.driver`` owns one session per connection and is its usual caller.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from controllers.auth import HubKey, new_nonce
from controllers.codec import FrameTooLarge, WireError
from controllers.config import LinkSettings
from controllers.messages import (
    PROTOCOL_VERSIONS,
    Auth,
    Challenge,
    Direction,
    EventMessage,
    Heartbeat,
    Hello,
    Message,
    Refused,
    Result,
    SnapshotMessage,
    SnapshotRequest,
    SyncAck,
    Welcome,
    decode,
)
from controllers.outputs import (
    CLOSE_INVALID,
    CLOSE_NORMAL,
    CLOSE_POLICY,
    CLOSE_PROTOCOL,
    CLOSE_TIMEOUT,
    CLOSE_TOO_BIG,
    Close,
    Send,
)
from hub.conference import Event, Snapshot

__all__ = [
    "CLOSE_INVALID",
    "CLOSE_NORMAL",
    "CLOSE_POLICY",
    "CLOSE_PROTOCOL",
    "CLOSE_TIMEOUT",
    "CLOSE_TOO_BIG",
    "Authenticated",
    "Close",
    "EventReceived",
    "LinkSession",
    "NotUp",
    "Output",
    "ResultReceived",
    "Send",
    "SnapshotReceived",
    "SocketOutput",
    "State",
    "SyncAckReceived",
]


class State(StrEnum):
    IDLE = "idle"
    HELLO_SENT = "hello_sent"
    AUTH_SENT = "auth_sent"
    SYNCING = "syncing"  # authenticated, first snapshot not in yet
    UP = "up"
    CLOSED = "closed"


_LIVE = ("snapshot", "event", "result", "sync_ack", "heartbeat")

# (state, message type received) -> next state. Anything else is a protocol error.
TRANSITIONS: dict[tuple[State, str], State] = {
    (State.HELLO_SENT, "challenge"): State.AUTH_SENT,
    (State.HELLO_SENT, "refused"): State.CLOSED,
    (State.AUTH_SENT, "welcome"): State.SYNCING,
    (State.AUTH_SENT, "refused"): State.CLOSED,
    **{(State.SYNCING, t): State.SYNCING for t in _LIVE},
    (State.SYNCING, "snapshot"): State.UP,
    **{(State.UP, t): State.UP for t in _LIVE},
}


@dataclass(frozen=True, slots=True)
class Authenticated:
    """The member proved it knows the password; the session now awaits its snapshot."""

    version: int
    epoch: int


@dataclass(frozen=True, slots=True)
class SnapshotReceived:
    snapshot: Snapshot


@dataclass(frozen=True, slots=True)
class EventReceived:
    event: Event


@dataclass(frozen=True, slots=True)
class ResultReceived:
    result: Result


@dataclass(frozen=True, slots=True)
class SyncAckReceived:
    ack: SyncAck


SocketOutput = Send | Close
"""What the session asks of the socket itself (all that ``connected``, ``send``,
``request_snapshot``, ``tick`` and ``fail`` return)."""
Output = (
    Send
    | Close
    | Authenticated
    | SnapshotReceived
    | EventReceived
    | ResultReceived
    | SyncAckReceived
)


class NotUp(Exception):
    """A command or sync was offered to a link that is not up."""


class LinkSession:
    """One connection's worth of the hub side of the link protocol."""

    def __init__(
        self,
        *,
        domain: str,
        username: str,
        key: HubKey,
        settings: LinkSettings,
        versions: tuple[int, ...] = PROTOCOL_VERSIONS,
        agent: str = "fedhub",
    ) -> None:
        self.domain, self.username, self.settings = domain, username, settings
        self._key, self._versions, self._agent = key, versions, agent
        self.state = State.IDLE
        self.version: int | None = None
        self.epoch: int | None = None
        self.rtt: float | None = None
        self.close_reason: str | None = None
        self.close_code: int | None = None
        self.authenticated = False
        self.refused = False  # the member sent ``refused`` (credentials or version)
        self.dropped_events = 0
        self._hub_nonce = new_nonce()
        self._member_proof = ""
        self._snapshot_pending_since: float | None = None
        self._entered = 0.0
        self._last_rx = self._last_tx = 0.0
        self._heartbeat_id = 0
        self._heartbeats_out: dict[int, float] = {}

    # -- inputs ----------------------------------------------------------------------

    def connected(self, now: float) -> list[SocketOutput]:
        """The socket is open: say hello."""
        if self.state is not State.IDLE:
            raise RuntimeError("connected() twice")
        self.state, self._entered, self._last_rx = State.HELLO_SENT, now, now
        hello = Hello(self._versions, self.username, self._hub_nonce, self._agent)
        return [self._send(hello, now)]

    def receive(self, data: bytes | str, now: float) -> Sequence[Output]:
        """One frame arrived."""
        if self.state is State.CLOSED:
            return []
        self._last_rx = now
        limit = self.frame_limit
        if len(data) > limit:  # measured before decoding: a big frame costs nothing
            return self._close(
                CLOSE_TOO_BIG, f"bad frame: frame of {len(data)} bytes exceeds limit of {limit}"
            )
        try:
            message = decode(data, limit)
        except FrameTooLarge as exc:
            return self._close(CLOSE_TOO_BIG, f"bad frame: {exc}")
        except WireError as exc:
            return self._close(CLOSE_INVALID, f"bad frame: {exc}")
        if message.DIRECTION is Direction.TO_MEMBER:
            return self._close(CLOSE_PROTOCOL, f"'{message.TYPE}' is not sent by member servers")
        nxt = TRANSITIONS.get((self.state, message.TYPE))
        if nxt is None:
            return self._close(
                CLOSE_PROTOCOL, f"unexpected '{message.TYPE}' in state {self.state.value}"
            )
        out = self._handle(message, now)
        if not self.closed:
            if self.state is not nxt:
                self._entered = now
            self.state = nxt
        return out

    def request_snapshot(self, reason: str, now: float) -> list[SocketOutput]:
        """Ask for a fresh snapshot unless one is already on its way."""
        if self.state not in (State.SYNCING, State.UP) or self._snapshot_pending_since:
            return []
        self._snapshot_pending_since = now
        return [self._send(SnapshotRequest(reason[:256]), now)]

    def send(self, message: Message, now: float) -> list[SocketOutput]:
        """Send a command or sync; raises NotUp unless the link is up."""
        if self.state is not State.UP:
            raise NotUp(f"link to {self.domain} is {self.state.value}")
        return [self._send(message, now)]

    def fail(self, code: int, reason: str) -> list[SocketOutput]:
        """The caller refuses what the member said (e.g. a claim the live state
        rejected): finish the session with ``Close(code, reason)``."""
        if self.state is State.CLOSED:
            return []
        return self._close(code, reason)

    @property
    def frame_limit(self) -> int:
        """The largest frame accepted now (bytes, checked before decoding)."""
        s = self.settings
        return s.max_frame if self._snapshot_pending_since is not None else s.max_message

    def next_timer(self, now: float) -> float | None:
        """When ``tick`` next has something to check (None when idle or closed)."""
        if self.state in (State.IDLE, State.CLOSED):
            return None
        return now + self.settings.tick

    def tick(self, now: float) -> list[SocketOutput]:
        """Check timers: handshake/snapshot deadlines, heartbeats, dead peer."""
        s = self.settings
        if self.state in (State.IDLE, State.CLOSED):
            return []
        if self.state in (State.HELLO_SENT, State.AUTH_SENT):
            if now - self._entered > s.handshake_timeout:
                return self._close(CLOSE_TIMEOUT, "handshake timed out")
            return []
        if now - self._last_rx > s.heartbeat_timeout:
            return self._close(
                CLOSE_TIMEOUT,
                f"heartbeat timeout: nothing received for {now - self._last_rx:.1f} s",
            )
        pending = self._snapshot_pending_since
        if pending is not None and now - pending > s.snapshot_timeout:
            return self._close(CLOSE_TIMEOUT, "snapshot timed out")
        if now - self._last_tx >= s.heartbeat_interval:
            self._heartbeat_id += 1
            self._heartbeats_out[self._heartbeat_id] = now
            if len(self._heartbeats_out) > 8:  # unanswered ones: forget the oldest
                del self._heartbeats_out[min(self._heartbeats_out)]
            return [self._send(Heartbeat(self._heartbeat_id), now)]
        return []

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    @property
    def snapshot_pending(self) -> bool:
        return self._snapshot_pending_since is not None

    # -- handling --------------------------------------------------------------------

    def _handle(self, message: Message, now: float) -> Sequence[Output]:
        if isinstance(message, EventMessage):
            if self._snapshot_pending_since is not None:
                self.dropped_events += 1
                return []
            return [EventReceived(message.event)]
        if isinstance(message, Heartbeat):
            if message.reply:
                sent = self._heartbeats_out.pop(message.id, None)
                if sent is not None:
                    self.rtt = now - sent
                return []
            return [self._send(Heartbeat(message.id, reply=True), now)]
        if isinstance(message, Result):
            return [ResultReceived(message)]
        if isinstance(message, SnapshotMessage):
            self._snapshot_pending_since = None
            return [SnapshotReceived(message.snapshot)]
        if isinstance(message, SyncAck):
            return [SyncAckReceived(message)]
        if isinstance(message, Challenge):
            return self._on_challenge(message, now)
        if isinstance(message, Welcome):
            return self._on_welcome(message, now)
        if isinstance(message, Refused):
            self.refused = True
            return self._close(
                CLOSE_NORMAL, f"refused by member ({message.code}): {message.reason}"
            )
        raise AssertionError(f"unhandled {message.TYPE}")  # pragma: no cover - table guards

    def _on_challenge(self, msg: Challenge, now: float) -> Sequence[Output]:
        if msg.version not in self._versions:
            return self._close(CLOSE_PROTOCOL, f"member chose unoffered version {msg.version}")
        if msg.domain != self.domain:
            return self._close(
                CLOSE_POLICY, f"member says it is {msg.domain!r}, expected {self.domain!r}"
            )
        self.version = msg.version
        salt, params, hub_proof, self._member_proof = self._key.answer(
            version=msg.version,
            domain=msg.domain,
            username=self.username,
            hub_nonce=self._hub_nonce,
            member_nonce=msg.nonce,
        )
        return [self._send(Auth(salt, params, hub_proof), now)]

    def _on_welcome(self, msg: Welcome, now: float) -> Sequence[Output]:
        if msg.version != self.version:
            return self._close(CLOSE_PROTOCOL, "welcome names another version than the challenge")
        if not hmac.compare_digest(msg.proof, self._member_proof):
            return self._close(CLOSE_POLICY, "member failed to prove it knows the password")
        self.epoch = msg.epoch
        self.authenticated = True
        self._snapshot_pending_since = now
        return [
            Authenticated(msg.version, msg.epoch),
            self._send(SnapshotRequest("authenticated"), now),
        ]

    def _send(self, message: Message, now: float) -> Send:
        self._last_tx = now
        return Send(message)

    def _close(self, code: int, reason: str) -> list[SocketOutput]:
        self.state, self.close_reason, self.close_code = State.CLOSED, reason, code
        return [Close(code, reason)]
