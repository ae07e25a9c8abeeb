"""A sorted list whose copies share structure: the index behind a number plan snapshot.

The items live in chunks of at most ``2 * LOAD`` sorted items. ``copy()`` copies only
the list of chunks (O(n / LOAD) pointers) and shares every chunk; a change to either
copy first copies the one chunk it touches. So a writer can take a private copy of a
published snapshot, change it and publish it, and the snapshot's readers never see a
change (see ``NumberPlan`` in :mod:`hub.numbering`). sortedcontainers' ``SortedList``
has the same chunked layout but copies everything on ``copy()``.

Items must be totally ordered (tuples, here). Not safe for concurrent writers; readers
of a copy that is no longer written to may run at any time.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")

LOAD = 256
"""Chunks split at ``2 * LOAD`` items: a change copies at most that many pointers."""


class CowSortedList(Generic[T]):
    """Sorted items with O(log n) lookups and O(LOAD + n / LOAD) ``add``/``remove``/``copy``."""

    __slots__ = ("_chunks", "_firsts", "_len", "_owned")

    def __init__(self, items: Iterable[T] = ()) -> None:
        ordered: list[Any] = sorted(items)
        self._chunks: list[list[Any]] = [
            ordered[i : i + LOAD] for i in range(0, len(ordered), LOAD)
        ]
        self._firsts: list[Any] = [c[0] for c in self._chunks]
        self._len = len(ordered)
        # ids of the chunks only this list refers to: the ones it may change in place.
        self._owned: set[int] = {id(c) for c in self._chunks}

    @classmethod
    def from_sorted(cls, items: list[T]) -> CowSortedList[T]:
        """A list of ``items`` that the caller has sorted already (not checked)."""
        new: CowSortedList[T] = cls.__new__(cls)
        new._chunks = [items[i : i + LOAD] for i in range(0, len(items), LOAD)]
        new._firsts = [c[0] for c in new._chunks]
        new._len = len(items)
        new._owned = {id(c) for c in new._chunks}
        return new

    def copy(self) -> CowSortedList[T]:
        """An independent list sharing every chunk with this one (neither owns them now)."""
        new = CowSortedList.__new__(CowSortedList)
        new._chunks = list(self._chunks)
        new._firsts = list(self._firsts)
        new._len = self._len
        new._owned = set()
        self._owned = set()
        return new

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[T]:
        for chunk in self._chunks:
            yield from chunk

    def _writable(self, i: int) -> list[Any]:
        chunk = self._chunks[i]
        if id(chunk) not in self._owned:
            chunk = list(chunk)
            self._chunks[i] = chunk
            self._owned.add(id(chunk))
        return chunk

    def add(self, item: T) -> None:
        """Insert ``item`` in order."""
        self._len += 1
        if not self._chunks:
            chunk: list[Any] = [item]
            self._chunks.append(chunk)
            self._firsts.append(item)
            self._owned.add(id(chunk))
            return
        i = max(0, bisect_right(self._firsts, item) - 1)
        chunk = self._writable(i)
        insort(chunk, item)
        self._firsts[i] = chunk[0]
        if len(chunk) > 2 * LOAD:
            tail = chunk[LOAD:]
            del chunk[LOAD:]
            self._chunks.insert(i + 1, tail)
            self._firsts.insert(i + 1, tail[0])
            self._owned.add(id(tail))

    def remove(self, item: T) -> None:
        """Remove one item equal to ``item``; ``ValueError`` if there is none."""
        i = bisect_right(self._firsts, item) - 1
        if i < 0:
            raise ValueError(f"{item!r} is not in the list")
        j = bisect_left(self._chunks[i], item)
        if j == len(self._chunks[i]) or self._chunks[i][j] != item:
            raise ValueError(f"{item!r} is not in the list")
        chunk = self._writable(i)
        del chunk[j]
        self._len -= 1
        if chunk:
            self._firsts[i] = chunk[0]
        else:
            del self._chunks[i]
            del self._firsts[i]
            self._owned.discard(id(chunk))

    def find_le(self, key: Any) -> T | None:
        """The greatest item ``<= key``, or None."""
        i = bisect_right(self._firsts, key) - 1
        if i < 0:
            return None
        chunk = self._chunks[i]
        item: T = chunk[bisect_right(chunk, key) - 1]
        return item

    def irange(self, lo: Any, hi: Any) -> Iterator[T]:
        """The items ``lo <= item <= hi`` in order."""
        # The last chunk starting below lo (equal items may span chunks).
        i = max(0, bisect_left(self._firsts, lo) - 1)
        chunks = self._chunks
        if i >= len(chunks):
            return
        j = bisect_left(chunks[i], lo)
        while i < len(chunks):
            chunk = chunks[i]
            while j < len(chunk):
                item = chunk[j]
                if item > hi:
                    return
                yield item
                j += 1
            i, j = i + 1, 0
