"""One member link's whole behaviour, sans-I/O: sessions, live state, commands, backoff.

Role: the pure core behind ``controllers.client``. The driver owns the link's
``LinkSession`` (a new one per connection), writes what the member reports into the
live state through ``LiveSink``, turns a ``NeedSnapshot`` into a snapshot request,
keeps the commands waiting for their result with their deadlines, resends them after
a reconnect, rate-limits events, decides when the link is up (after the first
snapshot is applied, not at authentication) and how long to wait before the next
dial. Time is always passed in as ``now`` (monotonic seconds of the one injected
clock); nothing here sleeps, dials or reads a clock.

The caller (the asyncio client) feeds it: ``dialing`` → ``connected`` → ``receive``
per frame, ``tick`` when ``next_timer`` comes, ``disconnected`` when the socket is
gone (it answers the backoff delay), ``submit`` for commands, ``stop`` at the end.
Each returns outputs to carry out in order:

* ``Send(message)`` — encode and send as one text frame (only while connected);
* ``Close(code, reason)`` — log it (member text escaped), close the socket; the
  connection is finished, call ``disconnected`` once the socket is gone;
* ``CommandDone(result)`` — a command's one result: hand it to whoever awaits it.

Link states (``state``)::

    down ──dialing──▶ connecting ──Authenticated──▶ syncing ──first snapshot──▶ up
      ▲                                                                           │
      └───────────────────────────── disconnected ◀──────────────────────────────┘
    any ──stop──▶ stopped
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from controllers.auth import AuthError, HubKey
from controllers.codec import WireError
from controllers.config import LinkSettings, MemberLinkConfig, backoff_delay
from controllers.messages import ArgValue, Command, CommandKind, Message
from controllers.outputs import CLOSE_POLICY, CLOSE_TIMEOUT, Close, Send
from controllers.session import (
    Authenticated,
    EventReceived,
    LinkSession,
    NotUp,
    ResultReceived,
    SnapshotReceived,
    SyncAckReceived,
)
from hub.cascade import NeedSnapshot
from hub.live import LiveSink, Refusal
from hub.logtext import untrusted

log = logging.getLogger("fedhub.link")

LinkState = Literal["down", "connecting", "syncing", "up", "stopped"]

ErrorKind = Literal[
    "unreachable", "destination", "refused", "protocol", "timeout", "closed", "internal"
]

GENERIC_ERRORS: dict[str, str] = {
    "unreachable": "the member server could not be reached or did not complete the handshake",
    "destination": "the link destination is not allowed by the hub's settings",
    "refused": "the member server refused the link (credentials or protocol version)",
    "protocol": "the member server broke the link protocol or its limits; the link was reset",
    "timeout": "the member server stopped answering",
    "closed": "the connection to the member server was lost",
    "internal": "internal error on the hub; the link is retried",
}
"""What an admin scoped below the whole federation is told instead of ``last_error``:
the details (addresses, ports, HTTP statuses, TLS errors) stay with the federation-wide
admins, so a link URL cannot be used to probe the hub's network."""


@dataclass(frozen=True, slots=True)
class CommandResult:
    """The one outcome of a command: ``ok``, ``failed`` (with reason) or ``timeout``."""

    id: str
    status: Literal["ok", "failed", "timeout"]
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "status": self.status, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class CommandDone:
    """Output: ``result`` is final; resolve whatever waits on ``result.id``."""

    result: CommandResult


DriverOutput = Send | Close | CommandDone | SyncAckReceived

MAX_HELD = 256
"""Commands a link holds while it is coming back; more are refused at once."""


@dataclass(slots=True)
class _Pending:
    command: Command
    expires: float  # monotonic
    sent_on: int  # connection number it was last sent on (0: never)


class _Bucket:
    """Token bucket: ``rate`` per second sustained, ``burst`` at once."""

    __slots__ = ("_at", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate, self.burst = rate, burst
        self._tokens, self._at = float(burst), now

    def take(self, now: float) -> bool:
        elapsed = now - self._at
        tokens = self._tokens
        if elapsed > 0:
            self._at = now
            tokens += elapsed * self.rate
            if tokens > self.burst:
                tokens = self.burst
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return True
        self._tokens = tokens
        return False


class LinkDriver:
    """The pure behaviour of one member link; see the module docstring."""

    def __init__(
        self,
        config: MemberLinkConfig,
        *,
        live: LiveSink,
        settings: LinkSettings,
        now: float,
        rng: random.Random | None = None,
    ) -> None:
        self.config, self.settings, self._live = config, settings, live
        self.member_id = config.member_id
        self._rng = rng or random.Random()
        self.state: LinkState = "down"
        self.changed_at = now  # monotonic time of the last state change
        self.last_error: str | None = None
        self.error_kind: ErrorKind | None = None
        self.connects = self.snapshots = self.events = self.internal_errors = 0
        self.version: int | None = None
        self.rtt: float | None = None
        self.session: LinkSession | None = None
        self._connection = 0
        self._attempt = 0
        self._up_at: float | None = None
        self._dropped_at: float | None = None  # when the link last fell from up
        self._pending: dict[str, _Pending] = {}
        self._bucket = _Bucket(settings.events_per_second, settings.event_burst, now)
        live.bind_member(config.member_id, config.domain)

    # -- connection lifecycle ---------------------------------------------------------

    def dialing(self, now: float) -> HubKey | None:
        """A dial starts: the key to prove, or None (then ``disconnected`` was recorded:
        the stored hash is unusable and the caller just waits the returned backoff)."""
        self._set("connecting", now)
        try:
            return HubKey.from_phc(self.config.password_hash)
        except AuthError as exc:
            self._error("internal", f"unusable password hash: {exc}")
            return None

    def connected(self, key: HubKey, now: float) -> list[DriverOutput]:
        """The socket is open: start a session (it says hello)."""
        self.connects += 1
        self._connection += 1
        self.session = LinkSession(
            domain=self.config.domain,
            username=self.config.username,
            key=key,
            settings=self.settings,
        )
        return list(self.session.connected(now))

    def receive(self, data: bytes | str, now: float) -> list[DriverOutput]:
        """One frame arrived on the current connection."""
        session = self.session
        if session is None:
            return []
        items = session.receive(data, now)
        if len(items) == 1 and type(items[0]) is EventReceived:  # the hot path
            return self._on_event(session, items[0], now)
        out: list[DriverOutput] = []
        for item in items:
            if isinstance(item, EventReceived):
                out += self._on_event(session, item, now)
            elif isinstance(item, SnapshotReceived):
                out += self._on_snapshot(session, item, now)
            elif isinstance(item, ResultReceived):
                r = item.result
                out += self._resolve(CommandResult(r.id, "ok" if r.ok else "failed", r.reason))
            elif isinstance(item, Authenticated):
                self.version = item.version
                self._set("syncing", now)
            elif isinstance(item, SyncAckReceived):
                ack = item.ack
                log.debug(
                    "member %s acked %s r%d",
                    self.config.domain,
                    untrusted(ack.dataset),
                    ack.revision,
                )
                out.append(item)  # for the data-set sync (ops/sync.py)
            else:  # Send, Close
                out.append(item)
            if session.closed:
                break
        return out

    def disconnected(self, reason: str | None, now: float, kind: ErrorKind = "closed") -> float:
        """The socket is gone (or the dial failed with ``reason``/``kind``). Records why
        and returns how long to wait before dialling again (backoff with full jitter,
        reset once the link had stayed up ``stable_after``)."""
        session, self.session = self.session, None
        if session is not None:
            if session.rtt is not None:
                self.rtt = session.rtt
            if session.close_reason:
                reason = session.close_reason
                if session.refused:
                    kind = "refused"
                elif session.close_code == CLOSE_TIMEOUT:
                    kind = "timeout"
                else:
                    kind = "protocol"
        if (session is None or not session.authenticated) and kind in (
            "closed",
            "protocol",
            "timeout",
        ):
            kind = "unreachable"  # nothing before authentication says more than this
        if reason is not None and self.state != "stopped":
            self._error(kind, reason)
        up_at = self._up_at
        if up_at is not None and now - up_at >= self.settings.stable_after:
            self._attempt = 0
        if up_at is not None:
            self._dropped_at = now
        self._up_at = None
        if self.state != "stopped":
            self._set("down", now)
        s = self.settings
        delay = backoff_delay(self._attempt, s.backoff_base, s.backoff_cap, self._rng)
        self._attempt += 1
        return delay

    def report_bug(self, error: BaseException) -> None:
        """A bug outside the connection (e.g. in the timer task, which is restarted):
        count and show it; the connection itself goes on."""
        self.internal_errors += 1
        self._error("internal", f"internal error: {type(error).__name__}")

    def crashed(self, error: BaseException, now: float) -> float:
        """A bug ended a connection attempt: report it and retry like any failure."""
        self.internal_errors += 1
        self.session = None
        self._error("internal", f"internal error: {type(error).__name__}")
        return self.disconnected(None, now)

    def stop(self, now: float) -> list[DriverOutput]:
        """The link ends for good: every waiting command fails with "link stopped"."""
        out: list[DriverOutput] = []
        for cid in list(self._pending):
            out += self._resolve(CommandResult(cid, "failed", "link stopped"))
        self._set("stopped", now)
        return out

    # -- time ---------------------------------------------------------------------

    def next_timer(self, now: float) -> float | None:
        """When ``tick`` must run next: the session's timers or the first command
        deadline (None: nothing pending)."""
        times = [p.expires for p in self._pending.values()]
        if self.session is not None:
            t = self.session.next_timer(now)
            if t is not None:
                times.append(t)
        return min(times) if times else None

    def tick(self, now: float) -> list[DriverOutput]:
        """Expire commands past their deadline; run the session's timers."""
        out: list[DriverOutput] = []
        for cid, p in list(self._pending.items()):
            if now >= p.expires:
                deadline = p.command.deadline_ms / 1000
                if p.sent_on == 0:
                    why = f"link to {self.config.domain} not back within {deadline:g} s"
                else:
                    why = f"no result within {deadline:g} s"
                out += self._resolve(CommandResult(cid, "timeout", why))
        if self.session is not None:
            out += self.session.tick(now)
        return out

    # -- commands and sync ------------------------------------------------------------

    def pending(self, command_id: str) -> bool:
        return command_id in self._pending

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def submit(
        self,
        kind: CommandKind | str,
        conference: str,
        venue: str = "",
        args: Mapping[str, ArgValue] | None = None,
        deadline: float = 5.0,
        command_id: str | None = None,
        *,
        now: float,
    ) -> tuple[str, list[DriverOutput]]:
        """Offer a command; returns its id and the outputs (a ``Send``, or at once a
        ``CommandDone`` when it is invalid or the link cannot carry it in time). A command
        that is sent waits for its result, a reconnect (it is resent) or its deadline.

        While the link is coming back (it fell from up less than the command's deadline
        ago) the command waits for it, at most ``MAX_HELD`` of them, and goes out once
        it is up; a link down for longer, never up or stopped refuses it at once."""
        cid = command_id or uuid.uuid4().hex
        if cid in self._pending:
            return cid, []  # the same id joins the first command
        try:
            cmd = Command(
                cid, CommandKind(kind), conference, venue, dict(args or {}), _ms(deadline)
            )
        except (ValueError, WireError) as exc:
            return cid, [CommandDone(CommandResult(cid, "failed", f"invalid command: {exc}"))]
        if self.state == "up" and self.session is not None:
            self._pending[cid] = _Pending(cmd, now + deadline, self._connection)
            return cid, list(self.session.send(cmd, now))
        if not self._coming_back(now, deadline):
            reason = f"link to {self.config.domain} is {self.state}"
            return cid, [CommandDone(CommandResult(cid, "failed", reason))]
        if sum(1 for p in self._pending.values() if p.sent_on == 0) >= MAX_HELD:
            reason = f"link to {self.config.domain} is {self.state}; {MAX_HELD} commands wait"
            return cid, [CommandDone(CommandResult(cid, "failed", reason))]
        self._pending[cid] = _Pending(cmd, now + deadline, 0)  # sent once the link is up
        return cid, []

    def _coming_back(self, now: float, deadline: float) -> bool:
        """Whether a link that is not up is likely back within ``deadline``: it fell from
        up less than ``deadline`` ago (a blip) and is not stopped. A link long down, or
        never up, is not waited for, whether or not a dial is under way."""
        dropped = self._dropped_at
        return self.state != "stopped" and dropped is not None and now - dropped < deadline

    def send_message(self, message: Message, now: float) -> list[DriverOutput]:
        """Send a sync (or another hub message) now; raises NotUp unless the link is up."""
        if self.state != "up" or self.session is None:
            raise NotUp(f"link to {self.config.domain} is {self.state}")
        return list(self.session.send(message, now))

    # -- handling --------------------------------------------------------------------

    def _on_event(
        self, session: LinkSession, item: EventReceived, now: float
    ) -> list[DriverOutput]:
        self.events += 1
        if not self._bucket.take(now):
            s = self.settings
            return self._refuse(
                session,
                f"more than {s.events_per_second:g} events per second "
                f"(burst {s.event_burst}) from this member",
            )
        applied = self._live.apply_event(self.member_id, item.event)
        if applied is None:
            return []
        if isinstance(applied, Refusal):
            return self._refuse(session, applied.reason)
        if isinstance(applied, NeedSnapshot):
            log.info(
                "member %s: %s; requesting a snapshot",
                self.config.domain,
                untrusted(applied.reason),
            )
            return list(session.request_snapshot(applied.reason, now))
        return []  # pragma: no cover - the sink answers one of the above

    def _on_snapshot(
        self, session: LinkSession, item: SnapshotReceived, now: float
    ) -> list[DriverOutput]:
        refusal = self._live.apply_snapshot(self.config.member_id, item.snapshot)
        if refusal is not None:
            return self._refuse(session, refusal.reason)
        self.snapshots += 1
        if self.state == "up":
            return []
        self._set("up", now)
        self._up_at = now
        return self._resend(session, now)

    def _refuse(self, session: LinkSession, reason: str) -> list[DriverOutput]:
        """The member broke a trust rule or a limit: reset the link with the reason."""
        return list(session.fail(CLOSE_POLICY, f"refused: {reason}"))

    def _resend(self, session: LinkSession, now: float) -> list[DriverOutput]:
        """Commands not yet sent on this connection go out with their remaining time."""
        out: list[DriverOutput] = []
        for p in self._pending.values():
            remaining = p.expires - now
            if p.sent_on == self._connection or remaining <= 0:
                continue
            c = p.command
            again = Command(c.id, c.kind, c.conference, c.venue, c.args, _ms(remaining))
            p.sent_on = self._connection
            out += session.send(again, now)
        return out

    def _resolve(self, result: CommandResult) -> list[DriverOutput]:
        if self._pending.pop(result.id, None) is None:
            log.debug(
                "member %s: result for unknown command %s",
                self.config.domain,
                untrusted(result.id),
            )
            return []
        return [CommandDone(result)]

    # -- status ----------------------------------------------------------------------

    def _set(self, state: LinkState, now: float) -> None:
        if state != self.state and self.state != "stopped":
            self.state, self.changed_at = state, now

    def _error(self, kind: ErrorKind, reason: str) -> None:
        """Sticky: the status shows why the link last went down."""
        self.error_kind, self.last_error = kind, reason


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
