"""The member side of sync: atomic, idempotent, refusing deltas it cannot apply."""

from __future__ import annotations

from controllers.messages import Sync, SyncAck
from emulator.sync import MemberData


def test_whole_then_delta_then_repeat() -> None:
    d = MemberData()
    ack = d.apply(Sync("rooms", 2, ({"key": "1", "name": "A"}, {"key": "2", "name": "B"})))
    assert ack == SyncAck("rooms", 2, True) and d.version("rooms") == 2
    delta = Sync("rooms", 4, ({"key": "1", "deleted": True}, {"key": "3", "name": "C"}), base=2)
    assert d.apply(delta).ok
    assert sorted(d.items("rooms")) == ["2", "3"] and d.version("rooms") == 4
    assert d.apply(delta).ok and sorted(d.items("rooms")) == ["2", "3"]  # repeated: no change
    assert d.applied == 2


def test_a_delta_on_another_base_is_refused_and_changes_nothing() -> None:
    d = MemberData()
    d.apply(Sync("vmrs", 3, ({"key": "1", "number": "2000"},)))
    ack = d.apply(Sync("vmrs", 6, ({"key": "2"},), base=5))
    assert not ack.ok and "holding version 3" in ack.error
    assert d.version("vmrs") == 3 and list(d.items("vmrs")) == ["1"]


def test_a_bad_item_refuses_the_whole_push() -> None:
    d = MemberData()
    d.apply(Sync("routes", 1, ({"key": "1", "prefix": "1"},)))
    for bad in ({"name": "no key"}, {"key": ""}, {"key": "k" * 65}, {"key": "2", "deleted": 1}):
        ack = d.apply(Sync("routes", 2, ({"key": "3", "prefix": "3"}, bad), base=1))
        assert not ack.ok
        assert d.version("routes") == 1 and list(d.items("routes")) == ["1"]


def test_a_whole_push_replaces_even_at_the_same_version_and_data_can_be_lost() -> None:
    d = MemberData()
    d.apply(Sync("numbers", 5, ({"key": "a"},)))
    d.apply(Sync("numbers", 5, ({"key": "b"},)))
    assert list(d.items("numbers")) == ["b"]
    d.lose_everything()
    assert d.version("numbers") == 0 and not d.apply(Sync("numbers", 6, (), base=5)).ok
