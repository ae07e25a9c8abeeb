"""The Broker: how live deltas and commands travel between the nodes of a hub cluster.

Role: the one small interface that fan-out and command routing sit behind (the
centrifuge ``Broker`` pattern). The node that owns a member's link publishes that
member's deltas; every node's fan-out subscribes. A command issued on any node is
published on the channel of the member it targets; the node that owns the link
subscribes to it, acts and publishes the one result on the issuer's reply channel.

Delivery guarantees (every implementation; ``tests/hub/test_broker.py`` is the
contract suite each one must pass):

* ``publish`` stamps each publication with the channel's next ``Position``:
  ``offset`` grows by exactly one per publication within an ``epoch``.
* A subscriber gets a channel's publications in offset order, each at most once,
  only those published after it subscribed.
* Delivery is at most once: a publication can be lost (a Redis reconnect), but never
  silently — the subscriber then sees an offset gap or a new epoch and must resync
  from the source of truth (fresh snapshot; or, for a command, its deadline answers
  ``timeout``). ``history(channel, since)`` returns what followed ``since`` while the
  broker still holds it (bounded), else ``None`` meaning "resync".
* Unsubscribing stops delivery at once; publishing to a channel without subscribers
  is not an error (the publication still takes an offset and enters history).

This in-memory implementation is for one node: delivery is synchronous, inside
``publish``, so handlers must only queue work (never block or re-enter at length).
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """Where a publication sits in its channel's stream."""

    epoch: str
    offset: int


@dataclass(frozen=True, slots=True)
class Publication(Generic[T]):
    channel: str
    position: Position
    data: T


Handler = Callable[[Publication[T]], None]


class Subscription(Protocol):
    def close(self) -> None:
        """Stop delivery to this handler (idempotent)."""


class Broker(Protocol[T]):
    """See the module docstring for the guarantees every implementation keeps."""

    @property
    def node(self) -> str:
        """This node's name (reply channels are ``reply.<node>``)."""

    @property
    def spans_nodes(self) -> bool:
        """Whether publications reach other nodes (False: this node only)."""

    def publish(self, channel: str, data: T) -> Position: ...

    def subscribe(self, channel: str, handler: Handler[T]) -> Subscription: ...

    def position(self, channel: str) -> Position:
        """The position of the last publication (offset 0 before the first)."""

    def history(self, channel: str, since: Position) -> list[Publication[T]] | None:
        """Publications after ``since``, or None when they are no longer all held."""


_epochs = itertools.count(1)


class _Sub(Generic[T]):
    def __init__(self, broker: InMemoryBroker[T], channel: str, handler: Handler[T]) -> None:
        self._broker, self.channel, self.handler = broker, channel, handler
        self.open = True

    def close(self) -> None:
        if self.open:
            self.open = False
            subs = self._broker._subs.get(self.channel)
            if subs is not None and self in subs:
                subs.remove(self)


class InMemoryBroker(Generic[T]):
    """One node's broker: synchronous delivery, ``history_size`` publications kept."""

    def __init__(
        self, node: str = "local", history_size: int = 1024, *, spans_nodes: bool = False
    ) -> None:
        """``spans_nodes=True`` only for tests that run several nodes in one process."""
        self._node = node
        self._spans = spans_nodes
        self._epoch = f"{node}-{next(_epochs)}"
        self._offsets: dict[str, int] = {}
        self._history: dict[str, deque[Publication[T]]] = {}
        self._subs: dict[str, list[_Sub[T]]] = {}
        self._size = history_size

    @property
    def node(self) -> str:
        return self._node

    @property
    def spans_nodes(self) -> bool:
        return self._spans

    def publish(self, channel: str, data: T) -> Position:
        offset = self._offsets.get(channel, 0) + 1
        self._offsets[channel] = offset
        pub = Publication(channel, Position(self._epoch, offset), data)
        self._history.setdefault(channel, deque(maxlen=self._size)).append(pub)
        for sub in list(self._subs.get(channel, ())):
            if sub.open:
                sub.handler(pub)
        return pub.position

    def subscribe(self, channel: str, handler: Handler[T]) -> Subscription:
        sub = _Sub(self, channel, handler)
        self._subs.setdefault(channel, []).append(sub)
        return sub

    def position(self, channel: str) -> Position:
        return Position(self._epoch, self._offsets.get(channel, 0))

    def history(self, channel: str, since: Position) -> list[Publication[T]] | None:
        if since.epoch != self._epoch:
            return None
        held = self._history.get(channel, deque())
        last = self._offsets.get(channel, 0)
        if since.offset >= last:
            return []
        if not held or held[0].position.offset > since.offset + 1:
            return None
        return [p for p in held if p.position.offset > since.offset]
