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


def test_a_chunked_push_is_staged_and_applied_as_one_version_at_its_last_part() -> None:
    d = MemberData()
    d.apply(Sync("vmrs", 2, ({"key": "1", "number": "2000"},)))
    parts = [
        Sync("vmrs", 5, ({"key": "2"},), base=2, part=0, parts=3),
        Sync("vmrs", 5, ({"key": "1", "deleted": True},), base=2, part=1, parts=3),
        Sync("vmrs", 5, ({"key": "3"},), base=2, part=2, parts=3),
    ]
    assert d.apply(parts[0]) is None and d.apply(parts[1]) is None
    assert d.version("vmrs") == 2 and list(d.items("vmrs")) == ["1"]  # staged, not applied
    assert d.apply(parts[2]) == SyncAck("vmrs", 5, True)
    assert d.version("vmrs") == 5 and sorted(d.items("vmrs")) == ["2", "3"]
    assert d.staged == {}


def test_an_interrupted_chunked_push_changes_nothing_and_a_new_one_starts_over() -> None:
    d = MemberData()
    first = Sync("rooms", 4, ({"key": "a"},), part=0, parts=2)
    assert d.apply(first) is None  # then the link dropped
    assert d.version("rooms") == 0 and d.items("rooms") == {}
    again = [Sync("rooms", 6, ({"key": "b"},), part=0, parts=2)]
    again.append(Sync("rooms", 6, ({"key": "c"},), part=1, parts=2))
    assert d.apply(again[0]) is None
    assert d.apply(again[1]) == SyncAck("rooms", 6, True)
    assert sorted(d.items("rooms")) == ["b", "c"]  # nothing of the interrupted push
    stray = Sync("rooms", 9, ({"key": "z"},), part=1, parts=2)  # its part 0 never came
    ack = d.apply(stray)
    assert ack is not None and not ack.ok and "without the parts before it" in ack.error
    assert d.version("rooms") == 6 and sorted(d.items("rooms")) == ["b", "c"]
