"""Pushing the federation data to member servers: automatic, on change, and by hand.

Role: the asyncio service around ``hub.sync.DatasetSync`` (one per bound member and
data set). It learns each stored data set's version from storage (``DataStore``) and
the derived ones' (federation list, domains, number resources) from the federation
revision; it sends ``sync`` messages through ``SyncLinks`` and takes the members'
``sync_ack`` in ``on_ack``, keeping what each member acknowledged in storage, so a hub
restart resumes from there. It pushes

* every ``interval`` seconds (the ``sync`` settings section, default one hour),
* within ``debounce`` seconds of a change made on this node (``DataStore`` /
  ``FederationStore`` notify it), within 30 s of one made on another node,
* when a link comes up, and when asked (``push(member, datasets, force=True)``).

A member that refuses a delta (it lost its data, or asks) is sent everything next.
Only the node that owns the member links runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from controllers.manager import LinkManager
from controllers.messages import DEFAULT_MAX_FRAME, Sync, SyncAck, encode
from controllers.session import NotUp as LinkNotUp
from hub.datasets import DERIVED, Dataset
from hub.sync import DatasetSync, Push
from storage.datasets import DataStore
from storage.federation_store import FederationStore, FederationView

log = logging.getLogger("fedhub.sync")

DEFAULT_INTERVAL_S = 3600.0
DEFAULT_DEBOUNCE_S = 2.0
BIG_PUSH_ITEMS = 10_000  # from here on, a push's size is checked against the frame limit
RETRY_S = 1.0  # how soon to look again when a member with pending data is not linked yet


class NotUp(Exception):
    """The member's link is not up: nothing was sent."""


class SyncLinks(Protocol):
    """How the sync reaches member servers (``LinkSyncLinks`` over the member links)."""

    def bound(self) -> Iterable[int]:
        """Members whose server is bound (they receive data)."""
        ...

    def is_up(self, member_id: int) -> bool: ...

    async def send(self, member_id: int, message: Sync) -> None:
        """Send now, or raise ``NotUp``."""
        ...


def derived_items(view: FederationView, dataset: Dataset) -> list[dict[str, Any]]:
    """The federation list, primary domains or number resources, as sync items."""
    fed = view.federation
    members = list(fed.subtree(None))
    if dataset is Dataset.FEDERATION:
        return [
            {
                "key": str(m.id),
                "parent": None if m.parent_id is None else str(m.parent_id),
                "level": m.level,
                "display_name": m.display_name,
                "domain": m.domain,
            }
            for m in members
        ]
    if dataset is Dataset.DOMAINS:
        return [{"key": m.domain, "member": str(m.id)} for m in members]
    if dataset is Dataset.NUMBERS:
        return [
            {
                "key": str(r.id),
                "member": str(r.member_id),
                "type": str(r.type),
                "start": r.start,
                "end": r.end,
            }
            for m in members
            for r in view.plan.ranges_of(m.id)
        ]
    raise ValueError(f"{dataset} is not derived")


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
        loop_time: Any = None,
    ) -> None:
        self.data, self.federation, self.links = data, federation, links
        self.interval, self.debounce = interval, debounce
        self._time = loop_time or (lambda: asyncio.get_running_loop().time())
        self._state: dict[tuple[int, Dataset], DatasetSync] = {}
        self._loaded = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.pushes = 0
        self.bytes_sent = 0

    # -- state -----------------------------------------------------------------------

    def machine(self, member_id: int, dataset: Dataset) -> DatasetSync:
        key = (member_id, dataset)
        m = self._state.get(key)
        if m is None:
            m = self._state[key] = DatasetSync(deltas=dataset not in DERIVED)
        return m

    async def load(self) -> None:
        """What storage says: each data set's version and what each member acknowledged."""
        versions = await self.data.all_versions()
        records = await self.data.all_sync_states()
        view = await self.federation.current()
        for mid in self.links.bound():
            for d in Dataset:
                m = self.machine(mid, d)
                m.changed(view.revision if d in DERIVED else versions.get((mid, d), 0))
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
        revision = (await self.federation.current()).revision
        for mid in self.links.bound():
            for d in Dataset:
                self.machine(mid, d).changed(
                    revision if d in DERIVED else versions.get((mid, d), 0)
                )

    async def changed(self, member_id: int, dataset: Dataset) -> None:
        """A stored data set of ``member_id`` changed (DataStore listener): push soon."""
        versions = await self.data.versions(member_id)
        self.machine(member_id, dataset).changed(versions.get(dataset, 0))
        self._wake.set()

    async def federation_changed(self) -> None:
        """Members, domains or ranges changed (FederationStore listener): push soon."""
        view = await self.federation.current()
        for mid in self.links.bound():
            for d in DERIVED:
                self.machine(mid, d).changed(view.revision)
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
            view: FederationView | None = None
            versions = await self.data.versions(member_id)
            for d in datasets or Dataset:
                m = self.machine(member_id, d)
                if d in DERIVED:
                    view = view or await self.federation.current()
                    m.changed(view.revision)
                else:
                    m.changed(versions.get(d, 0))
                if not self.links.is_up(member_id):
                    out[d.value] = "link down"
                    continue
                now = self._time()
                plan = m.next_push(now, force=force, full=full)
                if plan is None:
                    out[d.value] = "waiting" if m.in_flight else "in step"
                    continue
                message = await self._message(member_id, d, plan, view)
                if len(message.items) > BIG_PUSH_ITEMS:
                    size = len(encode(message))
                    if size > DEFAULT_MAX_FRAME:  # the member would drop the link: don't
                        m.last_error = (
                            f"{d.value} at version {message.revision} is {size} bytes, more "
                            f"than one link frame ({DEFAULT_MAX_FRAME}); not sent"
                        )
                        log.error("member %d: %s", member_id, m.last_error)
                        out[d.value] = "too large"
                        continue
                try:
                    await self.links.send(member_id, message)
                except NotUp:
                    out[d.value] = "link down"
                    continue
                m.changed(message.revision)  # storage may have moved on since
                m.sent(Push(message.revision, message.base), now)
                self.pushes += 1
                out[d.value] = "sent"
        return out

    async def _message(
        self, member_id: int, dataset: Dataset, plan: Push, view: FederationView | None
    ) -> Sync:
        if dataset in DERIVED:
            view = view or await self.federation.current()
            return Sync(str(dataset), view.revision, tuple(derived_items(view, dataset)))
        changes = await self.data.changes_since(member_id, dataset, plan.base)
        return Sync(str(dataset), changes.version, changes.items, changes.base)

    async def dry_run(
        self, member_id: int, datasets: Iterable[Dataset] | None = None
    ) -> dict[str, dict[str, Any]]:
        """What a push would change on the member, per data set; sends and changes nothing."""
        if not self._loaded:
            await self.load()
        view = await self.federation.current()
        out: dict[str, dict[str, Any]] = {}
        for d in datasets or Dataset:
            m = self.machine(member_id, d)
            if d in DERIVED:
                items = derived_items(view, d)
                same = m.acked == view.revision and not m.full_needed
                out[d.value] = {
                    "full": True,
                    "from_version": m.acked,
                    "to_version": view.revision,
                    "upserts": 0 if same else len(items),
                    "deletes": 0,
                }
                continue
            base = 0 if (m.full_needed or m.acked == 0) else m.acked
            changes = await self.data.changes_since(member_id, d, base)
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
        if not m.ack(ack.revision, ack.ok, ack.error, self._time()):
            return
        if not ack.ok:
            log.info("member %d refused %s r%d; sending it all", member_id, dataset, ack.revision)
            self._wake.set()
        await self.data.record_sync(
            member_id,
            dataset,
            acked_version=m.acked,
            success=datetime.now(UTC) if ack.ok else None,
            error=m.last_error,
        )

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
