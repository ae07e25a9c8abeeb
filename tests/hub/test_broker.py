"""The Broker contract: every implementation runs this suite (Redis joins ``BROKERS``).

A later Redis broker adds a factory to ``BROKERS`` whose delivery is asynchronous; the
tests therefore read what was delivered through ``settle``, which an asynchronous
implementation replaces with "wait until the condition holds".
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hub.broker import Broker, InMemoryBroker, Position, Publication

BROKERS: dict[str, Callable[[], Broker[object]]] = {
    "memory": lambda: InMemoryBroker("n1", history_size=8),
}


def settle(broker: Broker[object]) -> None:
    """Delivery is synchronous in memory; an asynchronous broker waits here."""


@pytest.fixture(params=sorted(BROKERS))
def broker(request: pytest.FixtureRequest) -> Broker[object]:
    return BROKERS[request.param]()


def test_offsets_grow_by_one_per_publication(broker: Broker[object]) -> None:
    start = broker.position("a")
    assert start.offset == 0
    p1 = broker.publish("a", 1)
    p2 = broker.publish("a", 2)
    other = broker.publish("b", 3)
    assert (p1.offset, p2.offset, other.offset) == (1, 2, 1)
    assert p1.epoch == p2.epoch and broker.position("a") == p2


def test_subscribers_get_publications_in_order_once_and_only_after_subscribing(
    broker: Broker[object],
) -> None:
    broker.publish("a", "before")
    got: list[Publication[object]] = []
    twice: list[Publication[object]] = []
    broker.subscribe("a", got.append)
    broker.subscribe("a", twice.append)
    for i in range(5):
        broker.publish("a", i)
    broker.publish("b", "elsewhere")
    settle(broker)
    assert [p.data for p in got] == [0, 1, 2, 3, 4] == [p.data for p in twice]
    offsets = [p.position.offset for p in got]
    assert offsets == list(range(offsets[0], offsets[0] + 5))
    assert all(p.channel == "a" for p in got)


def test_unsubscribe_stops_delivery_at_once(broker: Broker[object]) -> None:
    got: list[object] = []
    sub = broker.subscribe("a", lambda p: got.append(p.data))
    broker.publish("a", 1)
    settle(broker)
    sub.close()
    sub.close()
    broker.publish("a", 2)
    settle(broker)
    assert got == [1]


def test_history_answers_what_followed_or_asks_for_a_resync(broker: Broker[object]) -> None:
    mark = broker.position("a")
    for i in range(5):
        broker.publish("a", i)
    held = broker.history("a", mark)
    assert held is not None and [p.data for p in held] == [0, 1, 2, 3, 4]
    assert broker.history("a", broker.position("a")) == []
    for i in range(20):  # more than the broker holds: the early position is lost
        broker.publish("a", i)
    assert broker.history("a", mark) is None
    assert broker.history("a", Position("another-epoch", 1)) is None


def test_a_handler_may_publish_a_reply(broker: Broker[object]) -> None:
    """Command routing: the owner answers on the issuer's reply channel."""
    replies: list[object] = []
    broker.subscribe(f"reply.{broker.node}", lambda p: replies.append(p.data))
    broker.subscribe(
        "member.7",
        lambda p: broker.publish(f"reply.{broker.node}", ("ok", p.data)),
    )
    broker.publish("member.7", "cmd-1")
    settle(broker)
    assert replies == [("ok", "cmd-1")]
