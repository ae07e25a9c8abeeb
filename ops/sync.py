"""Pushing the federation data to member servers: automatic, on change, and by hand.

Role: the asyncio service around ``hub.sync.DatasetSync`` (one per bound member and
data set). It learns each data set's version from storage (``DataStore``): the stored
ones' directly, the derived ones' (federation list, domains, number resources) after
``DataStore.derive`` has brought them up to the federation's revision. Every data set
goes as the changes since what the member acknowledged (everything when it lost its
data or asks), and only data sets that changed are sent. It sends ``sync`` messages
through ``SyncLinks``, split into parts of at most ``max_frame`` bytes when larger
(the member applies them together at the last part), and takes the members'
``sync_ack`` in ``on_ack``, keeping what each member acknowledged in storage, so a hub
restart resumes from there. It pushes

* every ``interval`` seconds (the ``sync`` settings section, default one hour),
* within ``debounce`` seconds of a change made on this node (``DataStore`` /
  ``FederationStore`` notify it), within 30 s of one made on another node,
* when a link comes up, and when asked (``push(member, datasets, force=True)``).

A member that refuses a delta (it lost its data, or asks) is sent everything next, and
is asked about its other data sets (an empty delta each), as is a member whose link
just came up.
Only the node that owns the member links runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from controllers.manager import LinkManager
from controllers.messages import DEFAULT_MAX_FRAME, MAX_SYNC_PARTS, Sync, SyncAck, encode
from controllers.session import NotUp as LinkNotUp
from hub.datasets import DERIVED, Dataset
from hub.sync import DatasetSync, Push
from storage.datasets import Changes, DataStore
from storage.federation_store import FederationStore, FederationView

log = logging.getLogger("fedhub.sync")

DEFAULT_INTERVAL_S = 3600.0
DEFAULT_DEBOUNCE_S = 2.0
RETRY_S = 1.0  # how soon to look again when a member with pending data is not linked yet


class NotUp(Exception):
    """The member's link is not up: nothing was sent."""


class TooLarge(Exception):
    """A push cannot be framed: one item alone is larger than a frame, or it needs more
    than ``MAX_SYNC_PARTS`` frames."""


def frames(message: Sync, max_frame: int) -> list[Sync]:
    """``message`` as one frame, or split into parts of at most ``max_frame`` bytes each
    (same data set, revision and base; the member applies them together)."""
    if len(encode(message)) <= max_frame:
        return [message]
    widest = Sync(
        message.dataset, message.revision, (), message.base, MAX_SYNC_PARTS - 1, MAX_SYNC_PARTS
    )
    budget = max_frame - len(encode(widest))
    parts: list[list[Any]] = [[]]
    used = 0
    for item in message.items:
        size = len(orjson.dumps(item)) + 1  # and a comma
        if size > budget:
            raise TooLarge(f"item {item.get('key')!r} alone is {size} bytes, over one frame")
        if parts[-1] and used + size > budget:
            parts.append([])
            used = 0
        parts[-1].append(item)
        used += size
    if len(parts) > MAX_SYNC_PARTS:
        raise TooLarge(f"{len(parts)} frames, more than {MAX_SYNC_PARTS}")
    return [
        Sync(message.dataset, message.revision, tuple(p), message.base, n, len(parts))
        for n, p in enumerate(parts)
    ]


class SyncLinks(Protocol):
    """How the sync reaches member servers (``LinkSyncLinks`` over the member links)."""

    def bound(self) -> Iterable[int]:
        """Members whose server is bound (they receive data)."""
        ...

    def is_up(self, member_id: int) -> bool: ...

    async def send(self, member_id: int, message: Sync) -> None:
        """Send now, or raise ``NotUp``."""
        ...


class LinkSyncLinks:
    """``SyncLinks`` over the member links of this node (``LinkManager``)."""

    def __init__(self, manager: LinkManager) -> None:
        self.manager = manager

    def bound(self) -> list[int]:
        return [int(str(s["member_id"])) for s in self.manager.status()]

    def is_up(self, member_id: int) -> bool:
        link = self.manager.link(member_id)
        return link is not None and link.link_state == "up"

    async def send(self, member_id: int, message: Sync) -> None:
        link = self.manager.link(member_id)
        if link is None:
            raise NotUp(f"member {member_id} has no link")
        try:
            await link.send_message(message)
        except LinkNotUp as exc:
            raise NotUp(str(exc)) from None


class SyncService:
    """See the module docstring. ``start()`` once; ``stop()`` at shutdown."""

    def __init__(
        self,
        data: DataStore,
        federation: FederationStore,
        links: SyncLinks,
        *,
        interval: float = DEFAULT_INTERVAL_S,
        debounce: float = DEFAULT_DEBOUNCE_S,
        max_frame: int = DEFAULT_MAX_FRAME,
        loop_time: Any = None,
        wall_time: Callable[[], float] = time.time,
    ) -> None:
        self.data, self.federation, self.links = data, federation, links
        self.interval, self.debounce, self.max_frame = interval, debounce, max_frame
        self._time = loop_time or (lambda: asyncio.get_running_loop().time())
        self._wall = wall_time  # calendar time of a success, shown and stored
        self._state: dict[tuple[int, Dataset], DatasetSync] = {}
        self._loaded = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.pushes = 0
        self.frames_sent = 0
        # the derived data sets: their versions as of federation revision _derived_at,
        # and their changes since a base (the same for every member), kept for that long
        self._derived: dict[Dataset, int] = {}
        self._derived_at = -1
        self._derived_changes: dict[tuple[Dataset, int], Changes] = {}
        self._derived_frames: dict[tuple[Dataset, int, int], tuple[Sync, list[Sync]]] = {}
        # members to ask about every data set at their next push (an empty delta for
        # those in step): their link just came up, or they refused a delta
        self._probe: set[int] = set()
        # acknowledgements not stored yet: (member, data set) -> (acked, success, error)
        self._unrecorded: dict[tuple[int, Dataset], tuple[int, datetime | None, str]] = {}
        self._recording = asyncio.Lock()
        self._acked = asyncio.Condition()  # notified on every acknowledgement

    # -- state -----------------------------------------------------------------------

    def machine(self, member_id: int, dataset: Dataset) -> DatasetSync:
        key = (member_id, dataset)
        m = self._state.get(key)
        if m is None:
            m = self._state[key] = DatasetSync()
        return m

    async def derived_versions(self, view: FederationView | None = None) -> dict[Dataset, int]:
        """The derived data sets' versions, derived anew when the federation moved on."""
        view = view or await self.federation.current()
        if view.revision != self._derived_at:
            self._derived = await self.data.derive(view.revision, view.federation, view.plan)
            self._derived_at = view.revision
            self._derived_changes.clear()
            self._derived_frames.clear()
        return self._derived

    async def _framed(self, member_id: int, dataset: Dataset, base: int) -> tuple[Sync, list[Sync]]:
        """The push for a member at ``base`` and its frames; a derived data set's are
        made once for every member at that base."""
        key = (dataset, base, self.max_frame)
        if dataset in DERIVED and key in self._derived_frames:
            return self._derived_frames[key]
        changes = await self._changes(member_id, dataset, base)
        message = Sync(str(dataset), changes.version, changes.items, changes.base)
        framed = (message, frames(message, self.max_frame))
        if dataset in DERIVED:
            self._derived_frames[key] = framed
        return framed

    async def _changes(self, member_id: int, dataset: Dataset, base: int) -> Changes:
        """What a member at ``base`` needs; a derived data set's is read once for all."""
        if dataset not in DERIVED:
            return await self.data.changes_since(member_id, dataset, base)
        if self._derived_at < 0:
            await self.derived_versions()
        key = (dataset, base)
        changes = self._derived_changes.get(key)
        if changes is None:
            changes = await self.data.changes_since(member_id, dataset, base)
            if len(self._derived_changes) >= 64:
                self._derived_changes.clear()
                self._derived_frames.clear()
            self._derived_changes[key] = changes
        return changes

    async def load(self) -> None:
        """What storage says: each data set's version and what each member acknowledged."""
        versions = await self.data.all_versions()
        records = await self.data.all_sync_states()
        derived = await self.derived_versions()
        for mid in self.links.bound():
            for d in Dataset:
                m = self.machine(mid, d)
                m.changed(derived.get(d, 0) if d in DERIVED else versions.get((mid, d), 0))
                rec = records.get((mid, d))
                if rec is not None:
                    m.acked = max(m.acked, rec.acked_version)
                    m.last_success = rec.last_success.timestamp() if rec.last_success else None
                    m.last_error = rec.last_error
        self._loaded = True

    async def refresh(self) -> None:
        """Versions as stored: changes made through another node's API are seen too
        (that node's listeners do not reach this one); one query per round."""
        versions = await self.data.all_versions()
        derived = await self.derived_versions()
        for mid in self.links.bound():
            for d in Dataset:
                self.machine(mid, d).changed(
                    derived.get(d, 0) if d in DERIVED else versions.get((mid, d), 0)
                )

    async def _take_stored(self, member_id: int, datasets: Iterable[Dataset]) -> None:
        """The member's versions as stored now (one read of its sets and the derived)."""
        versions = await self.data.versions(member_id)
        derived = await self.derived_versions()
        for d in datasets:
            stored = derived.get(d, 0) if d in DERIVED else versions.get(d, 0)
            self.machine(member_id, d).changed(stored)

    async def changed(self, member_id: int, dataset: Dataset) -> None:
        """A stored data set of ``member_id`` changed (DataStore listener): push soon."""
        versions = await self.data.versions(member_id)
        self.machine(member_id, dataset).changed(versions.get(dataset, 0))
        self._wake.set()

    async def federation_changed(self) -> None:
        """Members, domains or ranges changed (FederationStore listener): push soon."""
        derived = await self.derived_versions()
        for mid in self.links.bound():
            for d in DERIVED:
                self.machine(mid, d).changed(derived.get(d, 0))
        self._wake.set()

    async def rebind(self, member_id: int) -> None:
        """The member's server was bound anew (its accounts wiped): everything goes again."""
        for d in Dataset:
            m = self.machine(member_id, d)
            m.acked = 0
            m.in_flight = None
            m.full_needed = True
        self._wake.set()

    def link_up(self, member_id: int) -> None:
        """The link is (back) up: the member may have lost its data meanwhile; ask."""
        self._probe.add(member_id)
        self._wake.set()

    def link_down(self, member_id: int) -> None:
        for d in Dataset:
            self.machine(member_id, d).link_down()

    # -- pushing ---------------------------------------------------------------------

    async def push(
        self,
        member_id: int,
        datasets: Iterable[Dataset] | None = None,
        *,
        force: bool = False,
        full: bool = False,
    ) -> dict[str, str]:
        """Send what each data set needs now; per data set: ``sent``, ``in step``, ``waiting``
        (an ack is due) or why not (``link down``)."""
        if not self._loaded:
            await self.load()
        out: dict[str, str] = {}
        async with self._lock:
            if self.links.is_up(member_id) and member_id in self._probe:
                self._probe.discard(member_id)
                force = True
            if force or self._derived_at < 0:
                # asked by hand or by the clock: the versions as stored now (else the
                # listeners and each round's ``refresh`` keep them)
                await self._take_stored(member_id, datasets or Dataset)
            for d in datasets or Dataset:
                m = self.machine(member_id, d)
                if not self.links.is_up(member_id):
                    out[d.value] = "link down"
                    continue
                now = self._time()
                plan = m.next_push(now, force=force, full=full)
                if plan is None:
                    out[d.value] = "waiting" if m.in_flight else "in step"
                    continue
                try:
                    message, parts = await self._framed(member_id, d, plan.base)
                except TooLarge as exc:  # the member would drop the link: don't
                    m.last_error = f"{d.value} at version {m.version}: {exc}; not sent"
                    log.error("member %d: %s", member_id, m.last_error)
                    out[d.value] = "too large"
                    continue
                try:
                    for part in parts:
                        await self.links.send(member_id, part)
                        self.frames_sent += 1
                except NotUp:  # a partly sent push is sent again from its first part
                    out[d.value] = "link down"
                    continue
                m.changed(message.revision)  # storage may have moved on since
                m.sent(Push(message.revision, message.base), now)
                self.pushes += 1
                out[d.value] = "sent"
        return out

    async def dry_run(
        self, member_id: int, datasets: Iterable[Dataset] | None = None
    ) -> dict[str, dict[str, Any]]:
        """What a push would change on the member, per data set; sends and changes nothing."""
        if not self._loaded:
            await self.load()
        out: dict[str, dict[str, Any]] = {}
        for d in datasets or Dataset:
            m = self.machine(member_id, d)
            base = 0 if (m.full_needed or m.acked == 0) else m.acked
            changes = await self._changes(member_id, d, base)
            if base and changes.version == m.acked:
                ups, dels = 0, 0
            else:
                dels = sum(1 for i in changes.items if i.get("deleted"))
                ups = len(changes.items) - dels
            out[d.value] = {
                "full": changes.base == 0,
                "from_version": m.acked,
                "to_version": changes.version,
                "upserts": ups,
                "deletes": dels,
            }
        return out

    async def on_ack(self, member_id: int, ack: SyncAck) -> None:
        """A member answered a push (duplicates and stale answers change nothing)."""
        try:
            dataset = Dataset(ack.dataset)
        except ValueError:
            log.warning("member %d acknowledged an unknown data set", member_id)
            return
        m = self.machine(member_id, dataset)
        wall = self._wall()
        if not m.ack(ack.revision, ack.ok, ack.error, wall):
            return
        async with self._acked:
            self._acked.notify_all()
        if not ack.ok:
            log.info("member %d refused %s r%d; sending it all", member_id, dataset, ack.revision)
            self._probe.add(member_id)  # it may have lost the other data sets too
            self._wake.set()
        success = datetime.fromtimestamp(wall, UTC) if ack.ok else None
        self._unrecorded[(member_id, dataset)] = (m.acked, success, m.last_error)
        async with self._recording:  # acks arriving meanwhile are kept in one transaction
            batch, self._unrecorded = self._unrecorded, {}
            if batch:
                await self.data.record_syncs(
                    [(mid, d, *record) for (mid, d), record in batch.items()]
                )

    async def in_step(self) -> None:
        """Return once every bound member holds every data set (``unsynced()`` is empty),
        as of its latest acknowledgement. Waits as long as it takes: bound it yourself."""
        async with self._acked:
            await self._acked.wait_for(lambda: not self.unsynced())

    def unsynced(self) -> dict[int, list[str]]:
        """Bound members whose data is not in step (pending or failing), with which sets.

        Such a member may not show up in a federation conference: the others do not
        know its numbers or domain yet (FEATURES.md, federation conference control).
        """
        out: dict[int, list[str]] = {}
        bound = set(self.links.bound())
        for (mid, d), m in sorted(self._state.items()):
            if mid in bound and (m.pending or m.last_error):
                out.setdefault(mid, []).append(d.value)
        for mid in bound - {mid for mid, _ in self._state}:
            out[mid] = [d.value for d in Dataset]  # never pushed yet
        return out

    def pending_members(self) -> list[int]:
        """Members with a data set the hub knows is not in step (no storage read)."""
        return sorted({mid for (mid, _), m in self._state.items() if m.pending})

    async def current_status(self, member_id: int) -> dict[str, dict[str, Any]]:
        """``status`` with the versions as stored now: a member bound a moment ago, or
        a change made through another node, shows before the next round takes it."""
        if not self._loaded:
            await self.load()
        await self._take_stored(member_id, Dataset)
        return self.status(member_id)

    def status(self, member_id: int) -> dict[str, dict[str, Any]]:
        """Per data set: ``version``, ``acked_version``, ``last_success``, ``last_error``,
        ``pending``."""
        out: dict[str, dict[str, Any]] = {}
        for d in Dataset:
            m = self.machine(member_id, d)
            out[d.value] = {
                "version": m.version,
                "acked_version": m.acked,
                "last_success": (
                    datetime.fromtimestamp(m.last_success, UTC).isoformat()
                    if m.last_success
                    else None
                ),
                "last_error": m.last_error or None,
                "pending": m.pending,
            }
        return out

    # -- running ---------------------------------------------------------------------

    async def start(self) -> None:
        await self.load()
        self._task = asyncio.create_task(self._run(), name="data-sync")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        last_round = self._time()
        waiting = False  # something is pending for a member whose link is not up yet
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RETRY_S if waiting else min(self.interval, 30.0)):
                    await self._wake.wait()
                await asyncio.sleep(self.debounce)  # gather a burst of changes
            self._wake.clear()
            try:
                await self.refresh()
            except Exception:
                log.exception("reading data-set versions failed")
            force = self._time() - last_round >= self.interval
            if force:
                last_round = self._time()
            waiting = False
            bound = set(self.links.bound())
            # an ordinary round pushes only what is known to be pending; every
            # interval, every member is asked (an empty delta when in step)
            known = {mid for mid, _ in self._state}
            due = set(self.pending_members()) | (bound - known)  # new links: never pushed
            members = sorted(bound if force else due & bound)
            for mid in members:
                try:
                    outcome = await self.push(mid, force=force)
                except Exception:
                    log.exception("sync to member %d failed", mid)
                    continue
                if "link down" in outcome.values() and any(
                    self.machine(mid, Dataset(d)).pending for d in outcome
                ):
                    waiting = True
