"""The hub's sync state machine per data set, with a manual clock and no I/O."""

from __future__ import annotations

from hub.sync import ACK_TIMEOUT_S, DatasetSync, Push


def test_first_push_is_whole_then_deltas_from_what_was_acked() -> None:
    m = DatasetSync()
    assert m.next_push(0.0) is None and not m.pending  # nothing to send yet
    m.changed(3)
    push = m.next_push(0.0)
    assert push == Push(3, 0) and push.full
    m.sent(push, 0.0)
    assert m.next_push(1.0) is None  # waiting for the ack
    assert m.ack(3, True, "", 2.0) and m.acked == 3 and not m.pending
    m.changed(5)
    assert m.next_push(3.0) == Push(5, 3)


def test_a_refusal_makes_the_next_push_whole() -> None:
    m = DatasetSync(version=7, acked=5)
    push = m.next_push(0.0)
    assert push == Push(7, 5)
    m.sent(push, 0.0)
    assert m.ack(7, False, "holding version 0", 1.0)
    assert m.last_error == "holding version 0" and m.pending
    assert m.next_push(1.0) == Push(7, 0)


def test_acks_are_idempotent_and_stale_ones_ignored() -> None:
    m = DatasetSync(version=4)
    m.sent(Push(4, 0), 0.0)
    assert m.ack(4, True, "", 1.0)
    assert not m.ack(4, True, "", 2.0)  # duplicate
    assert not m.ack(2, True, "", 3.0)  # older than acked
    assert not m.ack(9, True, "", 3.0)  # never sent
    assert not m.ack(4, False, "late", 4.0)  # a refusal of nothing in flight
    assert m.acked == 4 and not m.pending and m.last_success == 1.0


def test_a_member_may_ask_for_everything() -> None:
    m = DatasetSync(version=4, acked=4)
    assert m.ack(0, False, "please resend", 1.0)
    assert m.next_push(1.0) == Push(4, 0)


def test_a_lost_push_is_sent_again_after_the_timeout_or_a_reconnect() -> None:
    m = DatasetSync(version=2, acked=1)
    m.sent(m.next_push(0.0), 0.0)  # type: ignore[arg-type]
    assert m.next_push(ACK_TIMEOUT_S - 1) is None
    assert m.next_push(ACK_TIMEOUT_S) == Push(2, 1)
    m.sent(Push(2, 1), ACK_TIMEOUT_S)
    m.link_down()
    assert m.next_push(ACK_TIMEOUT_S + 1) == Push(2, 1)


def test_force_probes_with_an_empty_delta() -> None:
    m = DatasetSync(version=6, acked=6)
    assert m.next_push(0.0) is None
    assert m.next_push(0.0, force=True) == Push(6, 6)
    assert m.next_push(0.0, full=True) == Push(6, 0)


def test_a_hub_whose_data_went_back_sends_everything_and_takes_the_lower_ack() -> None:
    """Restored from a backup: the member acknowledged more than the hub now has."""
    m = DatasetSync(version=4, acked=9)
    push = m.next_push(0.0)
    assert push == Push(4, 0) and m.pending
    m.sent(push, 0.0)
    assert not m.ack(9, True, "", 1.0)  # an old ack arriving late changes nothing
    assert m.ack(4, True, "", 1.0) and m.acked == 4 and not m.pending
    assert not m.ack(4, True, "", 2.0)  # a duplicate
