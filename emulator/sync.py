"""The member server's side of data-set sync: apply a push atomically, keep it, answer.

Role: what an emulated member holds of each data set the hub pushes (accounts, rooms,
VMRs, routes, the federation list, domains, numbers), as ``(version, items by key)``.
``apply(sync)`` returns the one ``SyncAck`` to send. A push is applied whole or not at
all: it is checked and applied to a copy, which replaces the held data set only if
every item was good. Pushing the version already held is acknowledged again without
change (idempotent); a delta whose ``base`` is not the held version is refused, so
the hub sends everything; a whole data set always replaces what is held.

A push split into several frames (``parts``) is staged frame by frame and applied, as
one version, at the last frame, which alone is answered; a frame out of sequence drops
what was staged (and refuses at the last frame), so an interrupted chunked push leaves
the held version as it was and the hub's next push starts again at part 0. Pure: no I/O.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from controllers.messages import Sync, SyncAck

MAX_KEY = 64
MAX_ITEMS = 1_000_000


@dataclass(frozen=True, slots=True)
class Held:
    """One data set as the member holds it."""

    version: int = 0
    items: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))


class BadItem(ValueError):
    """An item of a push that cannot be applied; the whole push is refused."""


def _key(item: Mapping[str, Any]) -> str:
    key = item.get("key")
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY:
        raise BadItem(f"item key must be a string of 1..{MAX_KEY} characters, not {key!r}")
    return key


_full: OrderedDict[int, tuple[Sync, Mapping[str, Mapping[str, Any]]]] = OrderedDict()
"""A whole data set as applied, by the identity of its push (held, so the identity stays
its own): members sent one decoded frame (emulator/link.py) share what it holds, as it
is read-only."""


@dataclass(slots=True)
class _Staged:
    """The frames of a chunked push received so far."""

    revision: int
    base: int
    parts: int
    items: list[Mapping[str, Any]]
    received: int = 1


class MemberData:
    """Every data set a member server holds (see the module docstring)."""

    def __init__(self) -> None:
        self.held: dict[str, Held] = {}
        self.staged: dict[str, _Staged] = {}
        self.applied = 0  # pushes that changed something

    def version(self, dataset: str) -> int:
        return self.held.get(dataset, Held()).version

    def items(self, dataset: str) -> Mapping[str, Mapping[str, Any]]:
        return self.held.get(dataset, Held()).items

    def apply(self, sync: Sync) -> SyncAck | None:
        """Apply one push whole or not at all; the ack to send back (None: a frame of a
        chunked push that is not its last, nothing to answer yet)."""
        if sync.parts > 1:
            return self._stage(sync)
        return self._apply(sync)

    def _stage(self, sync: Sync) -> SyncAck | None:
        staged = self.staged.get(sync.dataset)
        if sync.part == 0:
            staged = self.staged[sync.dataset] = _Staged(
                sync.revision, sync.base, sync.parts, list(sync.items)
            )
        elif (
            staged is None
            or (staged.revision, staged.base, staged.parts)
            != (sync.revision, sync.base, sync.parts)
            or staged.received != sync.part
        ):
            self.staged.pop(sync.dataset, None)
            if not sync.last:
                return None
            return SyncAck(
                sync.dataset,
                sync.revision,
                ok=False,
                error=f"part {sync.part} of {sync.parts} came without the parts before it",
            )
        else:
            staged.items += sync.items
            staged.received += 1
        if len(staged.items) > MAX_ITEMS:
            self.staged.pop(sync.dataset, None)
            return SyncAck(
                sync.dataset, sync.revision, ok=False, error=f"more than {MAX_ITEMS} items"
            )
        if not sync.last:
            return None
        del self.staged[sync.dataset]
        return self._apply(Sync(sync.dataset, sync.revision, tuple(staged.items), sync.base))

    def _apply(self, sync: Sync) -> SyncAck:
        current = self.held.get(sync.dataset, Held())
        if not sync.full and sync.revision == current.version:
            return SyncAck(sync.dataset, sync.revision, ok=True)  # a repeated delta: held
        if not sync.full and sync.base != current.version:
            return SyncAck(
                sync.dataset,
                sync.revision,
                ok=False,
                error=f"holding version {current.version}, not {sync.base}: send everything",
            )
        try:
            items = self._applied(current, sync)
        except BadItem as exc:
            return SyncAck(sync.dataset, sync.revision, ok=False, error=str(exc)[:512])
        self.held[sync.dataset] = Held(sync.revision, items)
        self.applied += 1
        return SyncAck(sync.dataset, sync.revision, ok=True)

    @staticmethod
    def _applied(current: Held, sync: Sync) -> Mapping[str, Mapping[str, Any]]:
        if sync.full:  # the same for every member: one emulator process hosts them all
            hit = _full.get(id(sync))
            if hit is not None and hit[0] is sync:
                return hit[1]
        items = MemberData._changed({} if sync.full else dict(current.items), sync)
        if sync.full:
            _full[id(sync)] = (sync, items)
            while len(_full) > 8:
                _full.popitem(last=False)
        return items

    @staticmethod
    def _changed(
        items: dict[str, Mapping[str, Any]], sync: Sync
    ) -> Mapping[str, Mapping[str, Any]]:
        for item in sync.items:
            key = _key(item)
            deleted = item.get("deleted", False)
            if not isinstance(deleted, bool):
                raise BadItem(f"item {key}: deleted must be a boolean")
            if deleted:
                items.pop(key, None)
            else:
                items[key] = MappingProxyType(dict(item))
            if len(items) > MAX_ITEMS:
                raise BadItem(f"more than {MAX_ITEMS} items")
        return MappingProxyType(items)

    def lose_everything(self) -> None:
        """Fault injection: the server lost its data (a disk was replaced)."""
        self.held.clear()
        self.staged.clear()

    def wipe(self, datasets: tuple[str, ...]) -> None:
        """Binding: the server forgets what it held of ``datasets`` (its local accounts)."""
        for d in datasets:
            self.held.pop(d, None)
