"""The node's live service: fan-out tick, link watching, journal and metrics hooks.

Role: the asyncio side of ``hub.fanout.Fanout``, shared by every ``/ws/live``
connection (dashboards/live_ws.py), one-click calls (dashboards/api/calls.py) and
``/metrics``. It receives the cascade deltas through the ``hub.broker`` channel
``live.deltas`` (the links publish there; every node's hub subscribes), flushes the
fan-out every tick and writes the frames of the connections that got some (or wakes
their writers, for those whose socket is full), marks
members stale while their link is down, and appends every state change, link change,
command and call result to the journal (storage/journal.py): the delta path only stages
each batch (bounded); the journal task makes the rows and writes them once a second.
Built by ops/hub.py; ``start()``/``stop()`` run in the app's lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from controllers.manager import LinkManager, StatusSubscription
from dashboards.api.calls import CallRegistry
from dashboards.live_journal import JournalFeed
from dashboards.metrics import HubMetrics
from hub.broker import Broker, Publication
from hub.cascade import Delta
from hub.controllist import LiveReader
from hub.fanout import CLOSE_TRY_AGAIN, Fanout, FanoutSettings, OutFrame
from storage.journal import Journal, Retention
from storage.settings import SettingsStore

log = logging.getLogger("fedhub.live")

TRIM_AFTER = 32 * 1024 * 1024
"""Bytes of snapshots sent after which the freed heap is returned to the system
(at most once a second); also when a burst of snapshots ended (a tick without any)."""


FREEZE_AFTER = 30.0
"""Seconds after start when the heap is frozen a second time (the links are up by then;
it is frozen as soon as every link is up, if that comes first).

The hub holds a large, long-lived object graph (modules, the live state of every
member, the control lists) and turns over small objects at thousands of events a
second. A full garbage collection walks every tracked object and stops the event loop
while it does: hundreds of milliseconds on a busy 2-core machine, straight into the
dashboards' p99. ``gc.freeze()`` moves what exists into the permanent generation, so
later collections walk only what came after; the state it froze is still freed by
reference counting when replaced (only reference cycles in it would linger)."""


GC_YOUNG = 50_000
"""Net allocations between two young collections (CPython's default: 700).

Nearly all the hub's garbage is acyclic and freed by reference counting the moment it
is dropped; what the collector looks for, cycles, is rare. An event storm (a call-all:
tens of thousands of member events, each a handful of records and deltas) otherwise
runs a young collection every 700 allocations and a full one every hundred of those,
each walking whatever the storm has built since the last freeze: a quarter of the
hub's CPU over a 2,000-member call. And in a steady flood the journal holds a second
of deltas (several objects each) until it writes them: at 5,000 events/s that is
25,000 young objects, so a threshold of 10,000 still collected three times a second,
20-50 ms each, straight into the dashboards' p99 (bench_fanout, ``BENCH_GC=1``); at
50,000 the steady flood never reaches it. At most this many objects wait a little
longer for a collection."""


def _malloc_trim() -> None:
    """glibc keeps freed large buffers in its heap; return them (no-op elsewhere)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


DELTAS = "live.deltas"
"""Broker channel of cascade deltas (published by the node that owns the links)."""

COMMANDS = "live.commands"
"""Broker channel of commands for the node that owns the links (``RoutedCommand``)."""


def replies(node: str) -> str:
    """Broker channel of the results for commands issued on ``node``."""
    return f"live.replies.{node}"


@dataclass(frozen=True, slots=True)
class RoutedCommand:
    """A command issued on ``origin`` for a member whose link another node owns."""

    request: str
    origin: str
    member_id: int
    kind: str
    conference: str
    venue: str
    args: dict[str, Any] | None
    deadline: float
    command_id: str | None


@dataclass(frozen=True, slots=True)
class RoutedResult:
    request: str
    id: str
    status: str
    reason: str


SECTION = "live"
"""Settings section: journal retention and who may read /metrics (docs/live-api.md)."""

DEFAULTS: dict[str, Any] = {
    "journal_max_age_days": 7,
    "journal_max_rows": 1_000_000,
    "metrics_access": "loopback",
}


class LiveView(LiveReader, Protocol):
    """What the live hub reads of the live state (``hub.live.LiveState``)."""

    def position(self, member_id: int) -> tuple[int | None, int]: ...

    def members(self) -> Sequence[int]: ...


Send = Callable[[bytes, bytes], Awaitable[None]]
"""Send one text frame given in two parts (``hub.fanout.OutFrame``), waiting as the
socket needs."""

Close = Callable[[int, str], Awaitable[None]]

WriteNow = Callable[[list[OutFrame]], int]
"""Write frames now, without waiting: the first of them, in order, as many as the
connection takes at once (none while it is not open or its socket's buffer is full;
it stops after a bounded number of bytes). Returns how many; a writer task sends the
rest with ``Send``. Offered by a connection that can (dashboards/live_socket.py)."""

CLOSE_INTERNAL = 1011
"""Close code for a connection the hub could not serve (an error writing its frames)."""

_CLOSE_REASONS = {CLOSE_TRY_AGAIN: "too slow; reconnect later", CLOSE_INTERNAL: "internal error"}


@dataclass(slots=True)
class _Outlet:
    """How to reach one connection, and its writer task while it has frames."""

    send: Send
    close: Close
    write_now: WriteNow | None = None
    writer: asyncio.Task[None] | None = None


@dataclass(frozen=True, slots=True)
class LiveSettings:
    """Limits and timers of the live websocket (seconds, frames, bytes)."""

    fanout: FanoutSettings = field(default_factory=FanoutSettings)
    max_frame: int = 64 * 1024
    rate: float = 20.0
    burst: int = 40
    commands_in_flight: int = 64
    remembered_commands: int = 4096
    journal_flush: float = 1.0
    settings_poll: float = 30.0


class LiveHub:
    """This node's live service; ``start()`` in the app's lifespan, ``stop()`` after."""

    def __init__(
        self,
        reader: LiveView,
        broker: Broker[Any],
        settings: LiveSettings | None = None,
        *,
        node: str | None = None,
        journal: Journal | None = None,
        stored: SettingsStore | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or LiveSettings()
        self.reader = reader
        self.broker = broker
        self.fanout = Fanout(reader, self.settings.fanout)
        self.clock = clock
        self.journal = journal
        self.stored = stored
        self.options: dict[str, Any] = dict(DEFAULTS)
        self.metrics = HubMetrics()
        self._manager: LinkManager | None = None
        self._link_watch: StatusSubscription | None = None
        self._links: dict[int, bool] = {}
        self._linked_checked = float("-inf")
        self._outlets: dict[int, _Outlet] = {}
        self._ids = itertools.count(1)
        self._tasks: list[asyncio.Task[None]] = []
        self._commands: OrderedDict[tuple[int, str], asyncio.Future[list[dict[str, Any]]]] = (
            OrderedDict()
        )
        self._feed = None if journal is None else JournalFeed(journal, reader)
        self.calls = CallRegistry()
        self._spawned: set[asyncio.Task[Any]] = set()
        self.node = node or broker.node
        self._routed: dict[str, asyncio.Future[RoutedResult]] = {}
        self._requests = itertools.count(1)
        self._subs = [
            broker.subscribe(DELTAS, self._on_deltas),
            broker.subscribe(replies(self.node), self._on_reply),
        ]

    # -- commands for links another node owns ------------------------------------------

    @property
    def routes_commands(self) -> bool:
        """Whether a command for a link owned elsewhere can reach that node."""
        return self.broker.spans_nodes

    def serve_commands(self, manager: LinkManager) -> None:
        """Carry out commands published for members whose link ``manager`` holds."""

        def on_command(pub: Publication[Any]) -> None:
            cmd = pub.data
            if isinstance(cmd, RoutedCommand) and manager.link(cmd.member_id) is not None:
                self.spawn(self._carry_out(manager, cmd))

        self._subs.append(self.broker.subscribe(COMMANDS, on_command))

    async def _carry_out(self, manager: LinkManager, cmd: RoutedCommand) -> None:
        r = await manager.send_command(
            cmd.member_id,
            cmd.kind,
            (cmd.conference, cmd.venue),
            cmd.args,
            cmd.deadline,
            cmd.command_id,
        )
        self.broker.publish(
            replies(cmd.origin), RoutedResult(cmd.request, r.id, r.status, r.reason)
        )

    def _on_reply(self, pub: Publication[Any]) -> None:
        res = pub.data
        fut = self._routed.get(res.request) if isinstance(res, RoutedResult) else None
        if fut is not None and not fut.done():
            fut.set_result(res)

    async def route(
        self,
        member_id: int,
        kind: str,
        target: tuple[str, str],
        args: dict[str, Any] | None,
        deadline: float,
        command_id: str | None,
    ) -> RoutedResult:
        """Send a command through the broker to the node owning the link; one result.

        At-most-once delivery: a lost command or reply shows as ``timeout`` a little
        after the deadline (the owner's own deadline answers first when it got it).
        """
        request = f"{self.node}-{next(self._requests)}"
        fut: asyncio.Future[RoutedResult] = asyncio.get_running_loop().create_future()
        self._routed[request] = fut
        cmd = RoutedCommand(
            request, self.node, member_id, kind, target[0], target[1], args, deadline, command_id
        )
        try:
            self.broker.publish(COMMANDS, cmd)
            return await asyncio.wait_for(fut, deadline + 1.0)
        except TimeoutError:
            reason = f"no node carried the command within {deadline:g} s"
            return RoutedResult(request, command_id or request, "timeout", reason)
        finally:
            self._routed.pop(request, None)

    # -- inputs ------------------------------------------------------------------------

    def publish_deltas(self, deltas: list[Delta]) -> None:
        """The links' delta sink: hand the batch to every node's fan-out."""
        self.broker.publish(DELTAS, deltas)

    def _on_deltas(self, pub: Publication[list[Delta]]) -> None:
        self.fanout.apply(pub.data)
        if self._feed is not None:
            self._feed.stage(pub.data)

    async def write_journal(self) -> None:
        """Write what the journal holds and what is staged for it (its task, once a
        period; the journal API before it answers)."""
        if self._feed is not None:
            await self._feed.write()

    def record(
        self, member_id: int, conference: str, kind: str, subject: str, data: dict[str, Any]
    ) -> None:
        """Journal a command, result or call event (no-op without a journal)."""
        if self.journal is not None:
            self.journal.append(member_id, conference, kind, subject, 0, data)

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        await self.reload_options()
        gc.freeze()  # see FREEZE_AFTER
        young, middle, old = gc.get_threshold()
        if 0 < young < GC_YOUNG:  # 0: collection switched off by whoever runs us
            gc.set_threshold(GC_YOUNG, middle, old)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._tick(), name="live-tick")]
        if self.journal is not None:
            self._tasks.append(loop.create_task(self._flush_journal(), name="live-journal"))

    async def reload_options(self) -> None:
        """Read the ``live`` settings section (journal retention, metrics access)."""
        if self.stored is None:
            return
        try:
            stored, _ = await self.stored.get(SECTION)
        except Exception:
            log.exception("could not read the live settings")
            return
        self.options = {**DEFAULTS, **stored}
        if self.journal is not None:
            self.journal.retention = Retention(
                max_age=timedelta(days=float(self.options["journal_max_age_days"])),
                max_rows=int(self.options["journal_max_rows"]),
            )

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` in the background (kept referenced; cancelled at stop)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)

    async def stop(self) -> None:
        await self.calls.stop()
        for task in list(self._spawned):
            task.cancel()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self.journal is not None:
            with contextlib.suppress(Exception):
                await self.write_journal()

    async def _tick(self) -> None:
        tick = self.settings.fanout.tick
        trimmed_at, trimmed_bytes, last_bytes = self.clock(), 0, 0
        freeze_at: float | None = self.clock() + FREEZE_AFTER
        due = self.clock()
        failed_at = float("-inf")
        while True:
            # On a fixed grid: the time a flush takes does not stretch the tick (a
            # change waits half a tick on average, however busy the flushes are).
            due += tick
            now = self.clock()
            if due < now:  # fell behind the grid by more than a tick: start anew
                due = now
            await asyncio.sleep(due - now)
            now = self.clock()
            if freeze_at is not None and (now >= freeze_at or self._all_linked(now)):
                freeze_at = None
                gc.collect()  # what is garbage now is not frozen with the rest
                gc.freeze()
            try:
                for cid in self.fanout.flush(now):
                    self.wake(cid)
            except Exception:  # a bug: the next tick must still come for everyone
                if now - failed_at >= 60.0:  # logged at most once a minute
                    failed_at = now
                    log.exception("the live fan-out tick failed")
            sent = self.fanout.counters.snapshot_bytes
            burst_over = sent == last_bytes and sent > trimmed_bytes
            last_bytes = sent
            if (burst_over or sent - trimmed_bytes > TRIM_AFTER) and now - trimmed_at > 1.0:
                # Snapshots are large one-off buffers (held by slow clients' sockets
                # until sent); hand the freed heap back so a burst of them does not
                # stay in RSS.
                trimmed_at, trimmed_bytes = now, sent
                _malloc_trim()

    def _all_linked(self, now: float) -> bool:
        """Whether every member link is up, the live state built from their snapshots
        (looked at once a second: it walks the links)."""
        if self._manager is None or not self._links or now < self._linked_checked + 1.0:
            return False
        self._linked_checked = now
        return self._manager.all_up()

    async def _flush_journal(self) -> None:
        assert self.journal is not None
        polled = self.clock()
        while True:
            await asyncio.sleep(self.settings.journal_flush)
            try:
                await self.write_journal()
            except Exception:
                log.exception("writing the live journal failed (kept in memory, bounded)")
            if self.clock() - polled >= self.settings.settings_poll:
                polled = self.clock()
                await self.reload_options()

    def watch_links(self, manager: LinkManager) -> None:
        """Follow the link states of ``manager``: a link that leaves ``up`` marks its
        member's venues stale the moment the manager reports it (its status listener),
        and one coming back clears them. No polling."""
        if self._link_watch is not None:
            self._link_watch.cancel()
        self._manager = manager
        self._link_watch = manager.subscribe(self._link_changed)
        for mid in self.reader.members():  # where the links stand now
            self._link_changed(mid)

    def _link_changed(self, member_id: int) -> None:
        """The manager's listener: called often (timer ticks too), so cheap when the
        state did not move."""
        assert self._manager is not None
        link = self._manager.link(member_id)
        if link is None:  # no link (any more): nothing to mark; its state is forgotten
            if self._links.pop(member_id, None) is False:
                self.fanout.set_link(member_id, True)
            return
        up = link.link_state == "up"
        if self._links.get(member_id, True) != up:
            self.fanout.set_link(member_id, up)
            self.record(member_id, "", "link", "", {"up": up})
        self._links[member_id] = up

    def links_up(self) -> dict[int, bool]:
        return dict(self._links)

    # -- connections -----------------------------------------------------------------------

    def open(self, send: Send, close: Close, write_now: WriteNow | None = None) -> int:
        """Register a connection: ``send(head, body)`` sends one frame, ``close(code,
        reason)`` closes it, ``write_now`` (if it has one) writes frames without waiting.
        Returns its client id; ``close(cid)`` when it ends."""
        cid = next(self._ids)
        self.fanout.connect(cid)
        self._outlets[cid] = _Outlet(send, close, write_now)
        return cid

    def close(self, cid: int) -> None:
        self.fanout.disconnect(cid)
        outlet = self._outlets.pop(cid, None)
        if outlet is not None and outlet.writer is not None:
            outlet.writer.cancel()

    def reply(self, cid: int, frame: dict[str, Any]) -> None:
        self.fanout.reply(cid, frame)
        self.wake(cid)

    def wake(self, cid: int) -> None:
        """``cid`` has frames: write them now if its socket takes them without waiting
        (the common case: no task, no copy of the shared bodies), else start its writer
        unless one is running (it takes them, in order)."""
        outlet = self._outlets.get(cid)
        if outlet is None or outlet.writer is not None:
            return
        frames: list[OutFrame] = []
        close: int | None = None
        if outlet.write_now is not None:
            try:
                frames, close = self.fanout.pop(cid, self.clock())
                if close is None:
                    frames = frames[outlet.write_now(frames) :]
                    if not frames:
                        return
            except Exception:  # this one connection's trouble: it alone is closed
                log.exception("writing to /ws/live %d failed; closing it", cid)
                frames, close = [], CLOSE_INTERNAL
        outlet.writer = asyncio.get_running_loop().create_task(
            self._write(cid, outlet, frames, close)
        )

    async def _write(
        self, cid: int, outlet: _Outlet, frames: list[OutFrame], close: int | None
    ) -> None:
        """A connection's writer: runs only while it has frames its socket did not take
        at once (an idle or fast dashboard holds no task), sends them in order, and so
        waits on its own socket alone. ``frames``/``close``: taken already by ``wake``."""
        try:
            while True:
                if not frames and close is None:
                    frames, close = self.fanout.pop(cid, self.clock())
                for head, body in frames:
                    await outlet.send(head, body)
                del frames  # a snapshot can be megabytes: not kept while waiting
                if close is not None:
                    if close == CLOSE_TRY_AGAIN:
                        log.info("closing /ws/live %d: it fell behind too often", cid)
                    await outlet.close(close, _CLOSE_REASONS.get(close, ""))
                    return
                if not self.fanout.pending(cid):
                    return
                frames = []
        except Exception:  # the socket went away under us: the reader ends the connection
            log.debug("writing to /ws/live %d failed", cid, exc_info=True)
        finally:
            outlet.writer = None

    @property
    def connections(self) -> int:
        return len(self._outlets)

    def remembered(
        self, admin_id: int, command_id: str
    ) -> tuple[asyncio.Future[list[dict[str, Any]]], bool]:
        """The future of a command id (idempotency): (future, True if it is new)."""
        key = (admin_id, command_id)
        fut = self._commands.get(key)
        if fut is not None:
            self._commands.move_to_end(key)
            return fut, False
        fut = asyncio.get_running_loop().create_future()
        self._commands[key] = fut
        while len(self._commands) > self.settings.remembered_commands:
            self._commands.popitem(last=False)
        return fut, True
