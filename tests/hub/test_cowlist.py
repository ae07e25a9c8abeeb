"""hub.cowlist: a sorted list whose copies share chunks, against plain sorted lists."""

from __future__ import annotations

from bisect import bisect_right

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import hub.cowlist
from hub.cowlist import CowSortedList

VALUES = st.integers(min_value=0, max_value=60)


class CowMachine(RuleBasedStateMachine):
    """Every older version keeps its contents however the newest one changes."""

    def __init__(self) -> None:
        super().__init__()
        self.versions: list[tuple[CowSortedList[int], list[int]]] = [(CowSortedList(), [])]

    @property
    def head(self) -> tuple[CowSortedList[int], list[int]]:
        return self.versions[-1]

    @rule(v=VALUES)
    def add(self, v: int) -> None:
        lst, model = self.head
        lst.add(v)
        model.append(v)
        model.sort()

    @rule(v=VALUES)
    def remove(self, v: int) -> None:
        lst, model = self.head
        if v in model:
            lst.remove(v)
            model.remove(v)
        else:
            with pytest.raises(ValueError):
                lst.remove(v)

    @precondition(lambda self: len(self.versions) < 6)
    @rule()
    def copy(self) -> None:
        lst, model = self.head
        self.versions.append((lst.copy(), list(model)))

    @rule(bulk=st.lists(VALUES, max_size=40))
    def load(self, bulk: list[int]) -> None:
        self.versions.append((CowSortedList(bulk), sorted(bulk)))

    @rule(key=st.integers(-1, 61), width=st.integers(0, 20))
    def lookups(self, key: int, width: int) -> None:
        for lst, model in self.versions:
            i = bisect_right(model, key) - 1
            assert lst.find_le(key) == (model[i] if i >= 0 else None)
            assert list(lst.irange(key, key + width)) == [
                x for x in model if key <= x <= key + width
            ]

    @invariant()
    def versions_unchanged(self) -> None:
        for lst, model in self.versions:
            assert list(lst) == model and len(lst) == len(model)


def test_cow_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub.cowlist, "LOAD", 2)  # split and empty chunks all the time
    CowMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=60, deadline=None)
    CowMachine.TestCase().runTest()
