"""Fan-out of control lists to dashboards: subscriptions, coalescing, bounded queues.

Role: the sans-I/O core behind ``/ws/live``. The adapter (dashboards/live_ws.py)
registers each connection as a client, subscribes it to federation conferences, feeds
every cascade delta batch to ``apply`` and link changes to ``set_link``, calls
``flush(now)`` every tick, and drains each client with ``pop`` from that client's own
writer task. Nothing here waits on a socket, so one slow client never delays another.

Design (docs/live-api.md, "Fan-out"):

* One ``ControlList`` per federation conference watched, shared by every subscriber.
  Its changes are coalesced *per list* between flushes: the latest state of a venue
  wins (a venue toggling mute ten times in a tick costs one entry). A change that
  touches only call statistics waits ``stats_interval`` from the flush before it, so a
  venue's statistics go out at most once per interval, and since venues change at
  their own times the statistics spread over the ticks instead of one burst a second.
* Subscribers with the same scope and filters share a *view*: each flush builds the
  view's delta body once (UTF-8 bytes, shared by reference by every subscriber's
  queue); a subscriber's frame is that body behind its own
  ``{"type":"delta","id":…,"seq":…`` head. The two are never joined here: ``pop``
  hands out ``OutFrame`` pairs, so a socket can write the shared body as it is.
* A subscription's snapshot is the list *as of the last flush* (pending changes are
  rolled back to their first old value), so the next delta applies to it exactly.
* Each client has a bounded outbound queue (frames and bytes). A client over it loses
  its queued deltas and is marked behind; the next ``pop`` after its writer drained
  hands it a fresh snapshot per subscription (seq continues). A client that falls
  behind too often is closed with 1013 (try again later). Replies (results, errors,
  call progress) sit in a separate queue and are never dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from hub.cascade import Delta
from hub.controllist import (
    ControlList,
    ControlVenue,
    ListChange,
    LiveReader,
    NodeKey,
    VenueFilter,
    VenueKey,
    tree_json,
)

ClientId = int
OutFrame = tuple[bytes, bytes]
"""One outbound text frame in two parts, ``(head, body)``: its text is ``head + body``
(UTF-8). The body may be shared by the frames of many dashboards; do not copy it."""
SubKey = tuple[ClientId, str]
_Pending = dict[VenueKey, tuple[ControlVenue | None, ControlVenue | None]]
_Stats = dict[VenueKey, tuple[ControlVenue | None, ControlVenue | None, float]]

CLOSE_TRY_AGAIN = 1013
SNAPSHOT, DELTA = b"snapshot", b"delta"  # frame types of a subscription


@dataclass(frozen=True, slots=True)
class FanoutSettings:
    """Timers (seconds) and limits of the fan-out; the defaults suit 500 dashboards."""

    tick: float = 0.05
    stats_interval: float = 1.0
    queue_frames: int = 256
    queue_bytes: int = 8 * 1024 * 1024
    subscriptions_per_client: int = 16
    resnapshots_per_minute: int = 6


@dataclass(frozen=True, slots=True)
class Refusal:
    """A subscription refused: ``code`` and ``message`` go out in an error frame."""

    code: str
    message: str


@dataclass(slots=True)
class _Sub:
    client: ClientId
    id: str
    view: _View
    seq: int = 0
    head: bytes = b""  # '"id":…,"seq":' of its frames (the id JSON-encoded once)

    def __post_init__(self) -> None:
        self.head = b'"id":' + orjson.dumps(self.id) + b',"seq":'


@dataclass(slots=True)
class _View:
    entry: _Entry
    filter: VenueFilter
    subs: dict[SubKey, _Sub] = field(default_factory=dict)
    snapshot_version: int = -1
    snapshot_body: bytes = b""
    snapshot_asked: bool = False  # since the last flush

    def snapshot(self, stale: frozenset[int]) -> bytes:
        """``"tree":…,"venues":[…]}`` as of the last flush, UTF-8 (cached while
        subscribers keep asking for it: a burst of them shares one body; ``release``
        drops it)."""
        e = self.entry
        self.snapshot_asked = True
        if self.snapshot_version != e.version:
            admits = self.filter.admits
            rolled = e.pending.keys() | e.pending_stats.keys()
            venues = [v for k, v in e.list.venues.items() if k not in rolled and admits(v)]
            for k in rolled:
                old = (e.pending.get(k) or e.pending_stats[k])[0]
                if old is not None and admits(old):
                    venues.append(old)
            body = orjson.dumps({"tree": self.tree(stale), "venues": venues})
            self.snapshot_version, self.snapshot_body = e.version, body[1:]
        return self.snapshot_body

    def release(self) -> None:
        """Drop the cached snapshot text unless it was asked for since the last call:
        it is as large as the list, and per view, not per subscriber."""
        if not self.snapshot_asked:
            self.snapshot_version, self.snapshot_body = -1, b""
        self.snapshot_asked = False

    def tree(self, stale: frozenset[int]) -> dict[str, object] | None:
        tree = self.entry.list.tree
        via = self.entry.list.via
        return None if tree is None else tree_json(tree, self.filter.members, stale, via)


@dataclass(slots=True)
class _Entry:
    list: ControlList
    views: dict[VenueFilter, _View] = field(default_factory=dict)
    pending: _Pending = field(default_factory=dict)
    pending_stats: _Stats = field(default_factory=dict)  # in the order they came
    version: int = 0
    tree_sent: int = 0

    def take(self, changes: Iterable[ListChange], since: float) -> None:
        """Coalesce ``changes``; a statistics-only one is held from ``since`` (the last
        flush). ``pending_stats`` stays ordered by ``since`` (a venue's entry keeps its
        first time), so the due ones are always at its front."""
        pending, stats = self.pending, self.pending_stats
        for c in changes:
            k = c.key
            if k in pending:
                pending[k] = (pending[k][0], c.new)
            elif k in stats:
                first, _, at = stats[k]
                if c.stats_only:
                    stats[k] = (first, c.new, at)
                else:
                    del stats[k]
                    pending[k] = (first, c.new)
            elif c.stats_only:
                stats[k] = (c.old, c.new, since)
            else:
                pending[k] = (c.old, c.new)

    def due_stats(self, until: float) -> _Pending:
        """Take the statistics-only changes held since ``until`` or before."""
        stats = self.pending_stats
        out: _Pending = {}
        for k, (old, new, at) in stats.items():
            if at > until:
                break
            out[k] = (old, new)
        for k in out:
            del stats[k]
        return out


@dataclass(slots=True)
class _Client:
    """One connection's queues. Lists, not deques: a client holds few frames between
    two drains, and an empty deque costs ~600 bytes (this is per dashboard)."""

    # sub, seq, kind, body
    frames: list[tuple[_Sub, int, bytes, bytes]] = field(default_factory=list)
    nbytes: int = 0
    replies: list[bytes] = field(default_factory=list)
    subs: dict[str, _Sub] = field(default_factory=dict)
    behind: set[str] = field(default_factory=set)
    resnapshots: list[float] = field(default_factory=list)
    close: int | None = None


@dataclass(slots=True)
class Counters:
    """Running totals for /metrics."""

    deltas_in: int = 0
    frames_out: int = 0
    bytes_out: int = 0
    overflows: int = 0
    snapshots: int = 0
    snapshot_bytes: int = 0
    resnapshots: int = 0
    closed_behind: int = 0


class Fanout:
    """Subscriptions of every connected dashboard of this node; see the module docstring."""

    def __init__(self, reader: LiveReader, settings: FanoutSettings | None = None) -> None:
        self.reader = reader
        self.settings = settings or FanoutSettings()
        self.counters = Counters()
        self._entries: dict[NodeKey, _Entry] = {}
        self._clients: dict[ClientId, _Client] = {}
        self._down: set[int] = set()
        self._flushed_at = 0.0

    # -- clients and subscriptions -------------------------------------------------------

    def connect(self, client: ClientId) -> None:
        self._clients[client] = _Client()

    def disconnect(self, client: ClientId) -> None:
        c = self._clients.pop(client, None)
        if c is not None:
            for sub_id in list(c.subs):
                self._drop_sub(c, sub_id)

    @property
    def clients(self) -> int:
        return len(self._clients)

    def subscriptions(self, client: ClientId) -> list[str]:
        return list(self._clients[client].subs)

    def subscribe(
        self, client: ClientId, sub_id: str, member_id: int, number: str, view: VenueFilter
    ) -> Refusal | None:
        """Subscribe; the snapshot is queued at once. A Refusal says why not (no data)."""
        c = self._clients[client]
        if sub_id in c.subs:
            return Refusal("duplicate_id", f"subscription {sub_id!r} is already open")
        if len(c.subs) >= self.settings.subscriptions_per_client:
            n = self.settings.subscriptions_per_client
            return Refusal("too_many_subscriptions", f"at most {n} subscriptions per connection")
        key = (member_id, number)
        entry = self._entries.get(key)
        if entry is None:
            entry = _Entry(ControlList(self.reader, member_id, number, self._down, lazy=True))
            entry.tree_sent = entry.list.tree_version
        if not entry.list.exists:  # not running (or ended while others watched it)
            return Refusal("not_found", f"member {member_id} runs no conference {number!r} now")
        self._entries[key] = entry
        v = entry.views.get(view)
        if v is None:
            v = entry.views[view] = _View(entry, view)
        sub = _Sub(client, sub_id, v)
        v.subs[(client, sub_id)] = sub
        c.subs[sub_id] = sub
        self._queue(c, sub, SNAPSHOT, v.snapshot(frozenset(self._down)))
        return None

    def unsubscribe(self, client: ClientId, sub_id: str) -> bool:
        c = self._clients[client]
        if sub_id not in c.subs:
            return False
        self._drop_sub(c, sub_id)
        c.frames = [f for f in c.frames if f[0].id != sub_id]
        c.nbytes = sum(len(f[3]) for f in c.frames)
        return True

    def _drop_sub(self, c: _Client, sub_id: str) -> None:
        sub = c.subs.pop(sub_id)
        c.behind.discard(sub_id)
        view = sub.view
        view.subs.pop((sub.client, sub_id), None)
        if not view.subs:
            entry = view.entry
            entry.views.pop(view.filter, None)
            if not entry.views:
                self._entries.pop(entry.list.root, None)

    def subscribers_of(self, member_id: int, number: str) -> list[SubKey]:
        entry = self._entries.get((member_id, number))
        if entry is None:
            return []
        return [k for v in entry.views.values() for k in v.subs]

    # -- inputs ----------------------------------------------------------------------------

    def apply(self, deltas: list[Delta]) -> None:
        """A batch of cascade deltas (already applied to the reader)."""
        self.counters.deltas_in += len(deltas)
        for entry in self._entries.values():
            entry.take(entry.list.apply(deltas), self._flushed_at)

    def set_link(self, member_id: int, up: bool) -> None:
        """A member's link went down (its venues turn stale) or came back."""
        if up:
            self._down.discard(member_id)
        else:
            self._down.add(member_id)
        for entry in self._entries.values():
            entry.take(entry.list.set_stale(member_id, not up), self._flushed_at)

    def reply(self, client: ClientId, frame: dict[str, Any]) -> None:
        """Queue a result, error or progress frame; never dropped, sent before deltas."""
        c = self._clients.get(client)
        if c is not None:
            c.replies.append(orjson.dumps(frame))

    # -- the tick ----------------------------------------------------------------------------

    def flush(self, now: float) -> set[ClientId]:
        """Turn what changed since the last flush into delta frames; returns who got some.

        Statistics-only changes go out once they waited ``stats_interval`` (measured
        from the flush before they came), with whatever else is due.
        """
        held_until = now - self.settings.stats_interval
        woken: set[ClientId] = set()
        down = frozenset(self._down)
        clients = self._clients
        for entry in self._entries.values():
            entry.take(entry.list.settle(), self._flushed_at)
            for view in entry.views.values():
                view.release()
            batch, entry.pending = entry.pending, {}
            if entry.pending_stats:
                batch.update(entry.due_stats(held_until))
            tree_moved = entry.tree_sent != entry.list.tree_version
            if not batch and not tree_moved:
                continue
            entry.version += 1
            entry.tree_sent = entry.list.tree_version
            for view in entry.views.values():
                view.snapshot_body = b""  # out of date: let the (large) text go now
                body = _delta_body(view, batch, view.tree(down) if tree_moved else _NO_TREE)
                if body is None:
                    continue
                for sub in view.subs.values():
                    c = clients[sub.client]
                    if c.close is not None or sub.id in c.behind:
                        continue
                    self._queue(c, sub, DELTA, body)
                    woken.add(sub.client)
        self._flushed_at = now
        return woken

    def _queue(self, c: _Client, sub: _Sub, kind: bytes, body: bytes) -> None:
        """Queue one frame of ``sub`` (a reference to the shared body; its head is made
        when taken); a delta past the client's limits overflows it."""
        sub.seq += 1
        c.frames.append((sub, sub.seq, kind, body))
        c.nbytes += len(body)
        if kind == SNAPSHOT:
            self.counters.snapshots += 1
            self.counters.snapshot_bytes += len(body)
        s = self.settings
        over = len(c.frames) > s.queue_frames or c.nbytes > s.queue_bytes
        if over and kind == DELTA:  # a snapshot is what a client behind is owed
            self._overflow(c)

    def _overflow(self, c: _Client) -> None:
        """The client fell behind: drop its queued frames; it gets snapshots when drained."""
        self.counters.overflows += 1
        first: dict[str, int] = {}
        for sub, seq, _, _ in c.frames:
            first.setdefault(sub.id, seq)
        for sub_id, seq in first.items():
            c.subs[sub_id].seq = seq - 1  # seq stays gapless on the wire
        c.frames = []
        c.nbytes = 0
        c.behind.update(c.subs)

    # -- draining ----------------------------------------------------------------------------

    def pop(self, client: ClientId, now: float) -> tuple[list[OutFrame], int | None]:
        """Everything to send to ``client`` now, and a close code if it must be closed.

        Call when the client's socket took everything popped before (at a tick, or
        from its writer once it sent the previous batch): an empty queue with
        subscriptions behind yields their fresh snapshots (counted; too many per
        minute closes the client with 1013). A queued frame costs the client only a
        reference to its view's shared body, and so does a frame handed out.
        """
        c = self._clients.get(client)
        if c is None:
            return [], None
        out: list[OutFrame] = [(r, b"") for r in c.replies]
        c.replies = []
        if c.close is None and not c.frames and c.behind:
            window = c.resnapshots = [t for t in c.resnapshots if now - t <= 60.0]
            if len(window) >= self.settings.resnapshots_per_minute:
                c.close = CLOSE_TRY_AGAIN
                self.counters.closed_behind += 1
            else:
                window.append(now)
                down = frozenset(self._down)
                for sub_id in sorted(c.behind):
                    sub = c.subs[sub_id]
                    self.counters.resnapshots += 1
                    self._queue(c, sub, SNAPSHOT, sub.view.snapshot(down))
                c.behind.clear()
        if c.close is None:
            out.extend(
                (b'{"type":"%b",%b%d,' % (kind, sub.head, seq), body)
                for sub, seq, kind, body in c.frames
            )
        c.frames = []
        c.nbytes = 0
        self.counters.frames_out += len(out)
        self.counters.bytes_out += sum(len(h) + len(b) for h, b in out)
        return out, c.close

    def pending(self, client: ClientId) -> bool:
        """Whether ``pop`` would hand ``client`` anything now (a writer may stop)."""
        c = self._clients.get(client)
        return c is not None and bool(c.replies or c.frames or (c.behind and c.close is None))

    def backlog(self, client: ClientId) -> int:
        c = self._clients.get(client)
        return 0 if c is None else len(c.frames) + len(c.replies)


_NO_TREE: dict[str, object] = {}


def _delta_body(view: _View, batch: _Pending, tree: dict[str, object] | None) -> bytes | None:
    """``"venues":[…],"removed":[…](,"tree":…)}`` for one view, or None if it saw nothing."""
    admits = view.filter.admits
    venues: list[ControlVenue] = []
    removed: list[dict[str, object]] = []
    for key, (old, new) in batch.items():
        if new is not None and admits(new):
            venues.append(new)
        elif old is not None and admits(old):
            removed.append({"member_id": key[0], "conference": key[1], "id": key[2]})
    if not venues and not removed and tree is _NO_TREE:
        return None
    body: dict[str, object] = {"venues": venues, "removed": removed}
    if tree is not _NO_TREE:
        body["tree"] = tree
    return orjson.dumps(body)[1:]
