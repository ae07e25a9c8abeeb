"""The number plan: typed number ranges owned by federation members, and number lookup.

Pure: storage loads the stored ranges into a :class:`NumberPlan` and freezes it as part of
a snapshot; to change it, storage takes a ``copy()``, asks the copy to check and apply the
change (``add`` raises before anything changes), writes the change and, once that is
committed, publishes the copy frozen. The SIP redirector asks ``resolve(number)`` which
member answers for a dialled number; the API asks ``range_for`` and ``next_free``.

A number is a string of 1–15 ASCII digits (:func:`is_number`, the one definition of that
rule); ``(length, int value)`` identifies it, so ``"0123"`` and ``"123"`` are different
numbers and ranges of different lengths never overlap. Numbers are delegated down the
member tree: a range lies apart from every other, or wholly inside a block of one of
its holder's ancestors, and a number answers to its deepest holder (see
:class:`NumberPlan`). Every refusal is a :class:`NumberPlanError` whose message says
exactly why.
"""

from __future__ import annotations

import gc
import heapq
from bisect import bisect_left, insort
from collections.abc import Container, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from immutables import Map

from hub.cowlist import CowSortedList

MAX_DIGITS = 15
NUMBER_PATTERN = f"^[0-9]{{1,{MAX_DIGITS}}}$"
"""A number as a JSON Schema / OpenAPI pattern (the same rule as :func:`is_number`)."""
MAX_REMARK = 512


class RangeType(StrEnum):
    """What numbers of a range are for; a specific meeting type overrides ``general_meeting``."""

    SYSTEM_ACCOUNT = "system_account"
    GENERAL_MEETING = "general_meeting"
    INSTANT_MEETING = "instant_meeting"
    SCHEDULED_MEETING = "scheduled_meeting"
    VMR = "vmr"


# Meeting types that take numbers from general_meeting ranges when the member has none of
# their own. system_account and general_meeting itself never fall back.
_FALLBACK = {
    RangeType.INSTANT_MEETING: RangeType.GENERAL_MEETING,
    RangeType.SCHEDULED_MEETING: RangeType.GENERAL_MEETING,
    RangeType.VMR: RangeType.GENERAL_MEETING,
}


class NumberPlanError(Exception):
    """A refused number or range change; ``code`` is machine-readable, ``details`` JSON-able."""

    def __init__(self, code: str, message: str, details: dict[str, object] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: dict[str, object] = details or {}


class InvalidRange(NumberPlanError):
    """A range that cannot exist: bad digits, lengths differ, start > end, bad type or id."""

    def __init__(self, message: str, details: dict[str, object] | None = None):
        super().__init__("invalid_range", message, details)


class RangeConflict(NumberPlanError):
    """The range overlaps ``existing`` (or reuses its id); the caller shows ``message`` as is
    to whoever may see ``existing``, and :meth:`hidden` to anyone else."""

    def __init__(
        self,
        rng: NumberRange,
        existing: NumberRange,
        code: str = "range_conflict",
        why: str = "",
    ):
        if code == "duplicate_id":
            message = f"range id {rng.id} is already used by {existing.describe()}"
        else:
            message = f"range {rng.span()} ({rng.type}) overlaps {existing.describe()}"
            if why:
                message += f": {why}"
        self.range = rng
        super().__init__(
            code,
            message,
            {
                "range": rng.as_dict(),
                "existing": existing.as_dict(),
                "existing_id": existing.id,
                "member_id": existing.member_id,
                "type": str(existing.type),
                "start": existing.start,
                "end": existing.end,
            },
        )
        self.existing = existing

    def hidden(self) -> NumberPlanError:
        """The same refusal saying only that the numbers are taken: for a caller who must
        not learn anything about ``existing`` (it lies outside the caller's scope)."""
        rng = self.range
        return NumberPlanError(
            self.code,
            f"range {rng.span()} ({rng.type}) overlaps numbers that are already taken",
            {"start": rng.start, "end": rng.end, "type": str(rng.type)},
        )


class NotDelegated(NumberPlanError):
    """A scoped admin asked for numbers its member was not given (or for its own member)."""

    def __init__(self, message: str, details: dict[str, object] | None = None):
        super().__init__("not_delegated", message, details)


class RangeTooLarge(NumberPlanError):
    """A scoped admin's range is larger than the configured cap."""

    def __init__(self, rng: NumberRange, limit: int):
        super().__init__(
            "range_too_large",
            f"range {rng.span()} holds {rng.size} numbers; an admin of a member may give at "
            f"most {limit} at once",
            {"size": rng.size, "limit": limit},
        )


class RangeInUse(NumberPlanError):
    """The range has been sub-allocated: the ranges given out of it go first."""

    def __init__(self, rng: NumberRange, nested: int):
        super().__init__(
            "range_in_use",
            f"range {rng.span()} has {nested} range(s) given out of it to members below; "
            "remove those first",
            {"id": rng.id, "nested": nested},
        )


class UnknownRange(NumberPlanError):
    """No range of the plan has this id."""

    def __init__(self, range_id: int):
        super().__init__("unknown_range", f"range {range_id} does not exist", {"id": range_id})


def is_number(number: object) -> bool:
    """True for a dialable number: 1–15 ASCII digits (the one definition of that rule)."""
    return (
        isinstance(number, str)
        and 0 < len(number) <= MAX_DIGITS
        and number.isascii()
        and number.isdigit()
    )


def validate_number(number: str) -> str:
    """Return ``number`` if it is 1–15 ASCII digits, else raise ``invalid_number``."""
    if not is_number(number):
        raise NumberPlanError(
            "invalid_number",
            f"number {number!r} must be 1 to {MAX_DIGITS} digits 0-9",
            {"number": number if isinstance(number, str) else repr(number)},
        )
    return number


def _check_id(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidRange(f"{name} must be an integer, not {value!r}", {"field": name})


@dataclass(frozen=True, slots=True)
class NumberRange:
    """Numbers ``start``..``end`` (inclusive, same length) owned by a member for one use.

    Building one validates it (:class:`InvalidRange`); ``type`` may be given as a string.
    Add it to a :class:`NumberPlan` to have it checked against the other ranges.
    """

    id: int
    member_id: int
    type: RangeType
    start: str
    end: str
    remark: str = ""

    def __post_init__(self) -> None:
        _check_id("id", self.id)
        _check_id("member_id", self.member_id)
        if not isinstance(self.type, RangeType):
            try:
                object.__setattr__(self, "type", RangeType(self.type))
            except ValueError:
                allowed = ", ".join(t.value for t in RangeType)
                raise InvalidRange(
                    f"range type {self.type!r} is not one of {allowed}", {"field": "type"}
                ) from None
        for name in ("start", "end"):
            value = getattr(self, name)
            if not is_number(value):
                raise InvalidRange(
                    f"range {name} {value!r} must be 1 to {MAX_DIGITS} digits 0-9",
                    {"field": name, "value": value if isinstance(value, str) else repr(value)},
                )
        if len(self.start) != len(self.end):
            raise InvalidRange(
                f"range start {self.start} and end {self.end} must have the same number of "
                f"digits ({len(self.start)} ≠ {len(self.end)})",
                {"field": "end", "start": self.start, "end": self.end},
            )
        if int(self.start) > int(self.end):
            raise InvalidRange(
                f"range start {self.start} is after its end {self.end}",
                {"field": "start", "start": self.start, "end": self.end},
            )
        if not isinstance(self.remark, str) or len(self.remark) > MAX_REMARK:
            raise InvalidRange(
                f"range remark must be text of at most {MAX_REMARK} characters",
                {"field": "remark"},
            )

    def contains(self, number: str) -> bool:
        """True when ``number`` (validated: ``invalid_number``) lies in this range."""
        validate_number(number)
        return len(number) == len(self.start) and int(self.start) <= int(number) <= int(self.end)

    @property
    def size(self) -> int:
        """How many numbers the range holds."""
        return int(self.end) - int(self.start) + 1

    def span(self) -> str:
        """``start–end`` for messages."""
        return f"{self.start}–{self.end}"

    def describe(self) -> str:
        """``range 1500–2500 (general_meeting) of member 7`` for messages."""
        return f"range {self.span()} ({self.type}) of member {self.member_id}"

    def as_dict(self) -> dict[str, object]:
        """The range as JSON-able fields."""
        return {
            "id": self.id,
            "member_id": self.member_id,
            "type": str(self.type),
            "start": self.start,
            "end": self.end,
            "remark": self.remark,
        }


class Lineage(Protocol):
    """What the plan needs to know of the member tree (``Federation`` is one)."""

    def level_of(self, member_id: int) -> int:
        """The member's level: 1 for the root, +1 per generation."""
        ...

    def is_within(self, scope: int | None, member_id: int) -> bool:
        """True when ``member_id`` is ``scope`` or below it (``None`` = everything)."""
        ...


class _Flat:
    """A tree of unrelated roots: no nesting at all (the stand-alone SIP config)."""

    def level_of(self, member_id: int) -> int:
        return 1

    def is_within(self, scope: int | None, member_id: int) -> bool:
        return scope is None or scope == member_id


FLAT: Lineage = _Flat()
"""The lineage of a plan whose members are all unrelated: no two ranges may overlap."""

# Index entries: (length, first value, last value, range id, range). One index per holder
# level: holders of one level are never in one ancestor line, so their ranges never
# overlap and (length, first value) is unique within a level. Tuples sort in C and never
# compare the range itself.
_Entry = tuple[int, int, int, int, NumberRange]
# Per-member entries: (length, first value, range id).
_MemberEntry = tuple[int, int, int]
_TOP = 10**MAX_DIGITS  # above every value: (length, value, _TOP) sorts after its entries


def _entry(rng: NumberRange) -> _Entry:
    return (len(rng.start), int(rng.start), int(rng.end), rng.id, rng)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a plan is built: loading 100k ranges makes
    some 500k tuples (none in cycles), and the collections they trigger would otherwise
    walk the whole heap again and again (2-3x the load time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _deepest_first(levels: dict[int, CowSortedList[_Entry]]) -> tuple[CowSortedList[_Entry], ...]:
    return tuple(levels[level] for level in sorted(levels, reverse=True))


class FrozenPlan(RuntimeError):
    """A published plan was asked to change: change a ``copy()`` instead."""


class NumberPlan:
    """All number ranges of the federation: blocks delegated down the member tree.

    Invariant (checked by :meth:`check_add`): any two ranges are either disjoint or one
    lies wholly inside the other, and then the outer one's holder is a strict ancestor of
    the inner one's. So ranges of members not in one ancestor line never overlap, a
    member's own ranges never overlap, and a number answers to the *deepest* holder
    (:meth:`range_for`). Who may give what (:meth:`check_grant`, :meth:`check_revoke`) is
    the delegation rule on top: an admin gives numbers only to members below its own,
    out of the blocks its subtree holds; the federation-wide admin also from free space.

    A plan is either a *draft* (being changed by one writer) or *frozen* (published as
    part of a snapshot: it never changes again, and ``add``/``remove``/``remove_member``
    raise :class:`FrozenPlan`). A writer takes ``copy()`` of a frozen plan — cheap: the
    copy shares structure with it (O(n / 256) pointers and a few hash-trie nodes) — checks
    and changes the copy, and freezes it when its change is stored. Each change checks
    first and leaves the plan unchanged when it raises. Lookups cost one bisect per level
    in use (at most 5): O(log n).
    """

    __slots__ = ("_by_id", "_by_member", "_deepest_first", "_frozen", "_levels", "_lineage")

    def __init__(self, ranges: Iterable[NumberRange] = (), lineage: Lineage = FLAT) -> None:
        """Load ``ranges`` (e.g. from storage) held by members of ``lineage``; raises
        :class:`RangeConflict` if they break the invariant."""
        self._lineage = lineage
        self._by_id: Map[int, tuple[NumberRange, int]] = Map()
        self._by_member: Map[int, tuple[_MemberEntry, ...]] = Map()
        self._levels: dict[int, CowSortedList[_Entry]] = {}
        self._deepest_first: tuple[CowSortedList[_Entry], ...] = ()
        self._frozen = False
        with _collector_paused():
            self._load(ranges, lineage)

    def _load(self, ranges: Iterable[NumberRange], lineage: Lineage) -> None:
        by_id: dict[int, tuple[NumberRange, int]] = {}
        rows: list[tuple[int, int, int, int, int, NumberRange]] = []
        level_of = None if lineage is FLAT else lineage.level_of
        for rng in ranges:
            rid = rng.id
            if rid in by_id:
                raise RangeConflict(rng, by_id[rid][0], "duplicate_id")
            level = 1 if level_of is None else level_of(rng.member_id)
            by_id[rid] = (rng, level)
            start = rng.start
            rows.append((len(start), int(start), -int(rng.end), level, rid, rng))
        # One sweep in (length, start, outer first) order with the stack of open blocks:
        # each range must close inside the innermost open block and be held below its
        # holder (then, by induction, below every holder on the stack). The range id
        # makes every row unique, so sorting never compares two ranges.
        rows.sort()
        stack: list[tuple[int, int, NumberRange]] = []  # open blocks: (length, last value, range)
        top_len, top_hi = -1, -1
        by_level: dict[int, list[_Entry]] = {}
        by_member: dict[int, list[_MemberEntry]] = {}
        for length, lo, neg_hi, level, rid, rng in rows:
            hi = -neg_hi
            if not (top_len == length and top_hi >= lo):  # leave the blocks that ended
                while stack and (stack[-1][0] != length or stack[-1][1] < lo):
                    stack.pop()
                top_len, top_hi = (stack[-1][0], stack[-1][1]) if stack else (-1, -1)
            if stack and top_len == length and top_hi >= lo:  # the innermost block holding lo
                outer = stack[-1][2]
                if top_hi < hi:
                    raise RangeConflict(rng, outer, why=_WHY_EDGE)
                if outer.member_id == rng.member_id or not lineage.is_within(
                    outer.member_id, rng.member_id
                ):
                    raise RangeConflict(
                        rng, outer, why=_WHY_LINE if level > by_id[outer.id][1] else _WHY_SIDE
                    )
            stack.append((length, hi, rng))
            top_len, top_hi = length, hi
            entry = (length, lo, hi, rid, rng)
            if level in by_level:
                by_level[level].append(entry)
            else:
                by_level[level] = [entry]
            own = by_member.get(rng.member_id)
            if own is None:
                by_member[rng.member_id] = [(length, lo, rid)]
            else:
                own.append((length, lo, rid))
        self._levels = {
            level: CowSortedList.from_sorted(entries) for level, entries in by_level.items()
        }
        self._deepest_first = _deepest_first(self._levels)
        self._by_id = Map(by_id)
        self._by_member = Map({m: tuple(v) for m, v in by_member.items()})

    # -- snapshots ----------------------------------------------------------------
    def copy(self, lineage: Lineage | None = None) -> NumberPlan:
        """A draft with the same ranges, sharing structure with this plan (no re-validation).

        ``lineage``: the tree the draft's checks consult from now on (the draft tree of
        the same change); by default this plan's.
        """
        new = NumberPlan.__new__(NumberPlan)
        new._lineage = self._lineage if lineage is None else lineage
        new._by_id = self._by_id
        new._by_member = self._by_member
        new._levels = {level: index.copy() for level, index in self._levels.items()}
        new._deepest_first = _deepest_first(new._levels)
        new._frozen = False
        return new

    def freeze(self) -> NumberPlan:
        """Make this plan read-only for good (it is being published); returns it."""
        self._frozen = True
        return self

    @property
    def frozen(self) -> bool:
        return self._frozen

    def _writable(self) -> None:
        if self._frozen:
            raise FrozenPlan("a published number plan never changes: change a copy()")

    # -- the invariant --------------------------------------------------------------
    def _overlapping(self, level: int, rng: NumberRange) -> Iterator[_Entry]:
        """The ranges of holders at ``level`` that share a number with ``rng``, in order."""
        index = self._levels.get(level)
        if not index:
            return
        length, lo, hi, _, _ = _entry(rng)
        before = index.find_le((length, lo, _TOP))
        if before is not None and before[0] == length and before[1] < lo <= before[2]:
            yield before
        yield from index.irange((length, lo), (length, hi, _TOP))

    def _check_outer(self, rng: NumberRange, level: int) -> NumberRange | None:
        """Check ``rng`` against the ranges of holders above ``level``; return the deepest
        range holding it (its parent block), or None when it lies in free space."""
        parent: NumberRange | None = None
        lo, hi = int(rng.start), int(rng.end)
        for outer_level in sorted(self._levels):
            if outer_level >= level:
                break
            for e in self._overlapping(outer_level, rng):
                outer = e[4]
                if not (e[1] <= lo and hi <= e[2]):
                    raise RangeConflict(rng, outer, why=_WHY_EDGE)
                if not self._lineage.is_within(outer.member_id, rng.member_id):
                    raise RangeConflict(rng, outer, why=_WHY_LINE)
                parent = outer
        return parent

    def check_add(self, rng: NumberRange) -> NumberRange | None:
        """Raise :class:`RangeConflict` if ``rng`` breaks the invariant; else return the
        deepest range holding it (the block it is carved from), or None (free space)."""
        found = self._by_id.get(rng.id)
        if found is not None:
            raise RangeConflict(rng, found[0], "duplicate_id")
        level = self._lineage.level_of(rng.member_id)
        for e in self._overlapping(level, rng):
            raise RangeConflict(rng, e[4], why=_WHY_SIDE)
        parent = self._check_outer(rng, level)
        lo, hi = int(rng.start), int(rng.end)
        for inner_level in sorted(self._levels):
            if inner_level <= level:
                continue
            for e in self._overlapping(inner_level, rng):
                inner = e[4]
                if not (lo <= e[1] and e[2] <= hi):
                    raise RangeConflict(rng, inner, why=_WHY_EDGE)
                if not self._lineage.is_within(rng.member_id, inner.member_id):
                    raise RangeConflict(rng, inner, why=_WHY_LINE)
        return parent

    def check_grant(
        self, rng: NumberRange, scope: int | None, max_size: int | None = None
    ) -> NumberRange | None:
        """Check that an admin of ``scope`` may give ``rng``; return its parent block.

        The federation-wide admin (``scope`` None) may give any member numbers from free
        space or out of an ancestor's block. An admin of member S gives only to members
        strictly below S, only out of a block held by S or a member below S (the deepest
        block holding the range), and at most ``max_size`` numbers at once. Raises
        :class:`NotDelegated`, :class:`RangeTooLarge` or :class:`RangeConflict`.
        """
        if scope is not None:
            if rng.member_id == scope or not self._lineage.is_within(scope, rng.member_id):
                raise NotDelegated(
                    "numbers are given from above: only an admin of a member above "
                    f"member {rng.member_id} can give it numbers",
                    {"member_id": rng.member_id},
                )
            if max_size is not None and rng.size > max_size:
                raise RangeTooLarge(rng, max_size)
        parent = self.check_add(rng)
        if scope is not None and (
            parent is None or not self._lineage.is_within(scope, parent.member_id)
        ):
            raise NotDelegated(
                f"range {rng.span()} is not inside a number block that your member "
                f"(member {scope}) or a member below it holds",
                {"start": rng.start, "end": rng.end},
            )
        return parent

    def check_revoke(self, range_id: int, scope: int | None) -> NumberRange:
        """The range an admin of ``scope`` may take back, or raise: only an admin above
        its holder (or the federation-wide admin) may, once nothing is given out of it."""
        rng = self.get(range_id)
        if scope is not None and (
            rng.member_id == scope or not self._lineage.is_within(scope, rng.member_id)
        ):
            raise NotDelegated(
                f"only an admin of a member above member {rng.member_id} can take its numbers back",
                {"member_id": rng.member_id},
            )
        nested = len(self._nested(rng))
        if nested:
            raise RangeInUse(rng, nested)
        return rng

    def _nested(self, rng: NumberRange) -> list[_Entry]:
        """The ranges lying inside ``rng`` held by members below its holder."""
        found = self._by_id.get(rng.id)
        level = 0 if found is None else found[1]
        out: list[_Entry] = []
        for inner_level, index in self._levels.items():
            if inner_level > level and len(index):
                out.extend(self._overlapping(inner_level, rng))
        return out

    # -- changes ----------------------------------------------------------------------
    def add(self, rng: NumberRange) -> NumberRange | None:
        """Check (as :meth:`check_add`) and insert ``rng``; returns its parent block."""
        self._writable()
        parent = self.check_add(rng)
        level = self._lineage.level_of(rng.member_id)
        e = _entry(rng)
        self._by_id = self._by_id.set(rng.id, (rng, level))
        index = self._levels.get(level)
        if index is None:
            index = self._levels[level] = CowSortedList()
            self._deepest_first = _deepest_first(self._levels)
        index.add(e)
        own = list(self._by_member.get(rng.member_id, ()))
        insort(own, (e[0], e[1], e[3]))
        self._by_member = self._by_member.set(rng.member_id, tuple(own))
        return parent

    def _delete(self, rng: NumberRange) -> None:
        level = self._by_id[rng.id][1]
        e = _entry(rng)
        self._by_id = self._by_id.delete(rng.id)
        self._levels[level].remove(e)
        own = list(self._by_member[rng.member_id])
        del own[bisect_left(own, (e[0], e[1], e[3]))]
        self._by_member = (
            self._by_member.set(rng.member_id, tuple(own))
            if own
            else self._by_member.delete(rng.member_id)
        )

    def remove(self, range_id: int) -> NumberRange:
        """Remove and return the range; :class:`UnknownRange` if there is none.

        Ranges given out of it stay with their holders (see :meth:`check_revoke`)."""
        self._writable()
        rng = self.get(range_id)
        self._delete(rng)
        return rng

    def remove_member(self, member_id: int) -> list[NumberRange]:
        """Remove and return all ranges of a member (sorted), e.g. when it leaves."""
        self._writable()
        removed = self.ranges_of(member_id)
        for rng in removed:
            self._delete(rng)
        return removed

    # -- queries ----------------------------------------------------------------
    def get(self, range_id: int) -> NumberRange:
        """The range with this id, or :class:`UnknownRange`."""
        found = self._by_id.get(range_id)
        if found is None:
            raise UnknownRange(range_id)
        return found[0]

    def range_for(self, number: str) -> NumberRange | None:
        """The range of the deepest holder of ``number`` (validated: ``invalid_number``),
        or None when nobody holds it."""
        if not is_number(number):
            validate_number(number)
        key = (len(number), int(number), _TOP)
        length, value = key[0], key[1]
        for index in self._deepest_first:
            e = index.find_le(key)
            if e is not None and e[0] == length and e[2] >= value:
                return e[4]
        return None

    def resolve(self, number: str) -> int | None:
        """The member that answers for ``number`` (its deepest holder), or None: the SIP
        routing resolver.

        Raises ``invalid_number`` for anything but 1–15 digits (the routing table checks
        with :func:`is_number` first and answers "not found" without asking).
        """
        rng = self.range_for(number)
        return None if rng is None else rng.member_id

    def ranges_of(self, member_id: int) -> list[NumberRange]:
        """The member's ranges sorted by (length, start); empty for an unknown member."""
        by_id = self._by_id
        return [by_id[rid][0] for _, _, rid in self._by_member.get(member_id, ())]

    def next_free(
        self, member_id: int, type: RangeType, used: Container[str] = frozenset()
    ) -> tuple[str, NumberRange] | None:
        """The lowest number the member answers for in its ranges for ``type`` (numbers it
        gave to members below are theirs) that is not in ``used``, with its range.

        A specific meeting type overrides the general one: instant, scheduled and VMR
        numbers come from the member's ``general_meeting`` ranges only when it has no
        range of that type; ``system_account`` never falls back. None when the member has
        no applicable range or all its numbers are used. The caller reserves the number
        (adds it to ``used``) before the next call. Costs one ``in used`` test per used
        number skipped, one step per range given out of it.
        """
        type = RangeType(type)
        own = self.ranges_of(member_id)
        ranges = [r for r in own if r.type is type]
        fallback = _FALLBACK.get(type)
        if not ranges and fallback is not None:
            ranges = [r for r in own if r.type is fallback]
        for rng in ranges:
            length = len(rng.start)
            nested = self._nested(rng)
            given = sorted((e[1], e[2]) for e in nested) if nested else []
            value, end = int(rng.start), int(rng.end)
            k = 0
            while value <= end:
                while k < len(given) and given[k][1] < value:
                    k += 1
                if k < len(given) and given[k][0] <= value:
                    value = given[k][1] + 1
                    continue
                number = str(value).zfill(length)
                if number not in used:
                    return number, rng
                value += 1
        return None

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[NumberRange]:
        """All ranges sorted by (length, start, outer before inner)."""
        by_id = self._by_id
        merged = heapq.merge(
            *(((e[0], e[1], level, e[3]) for e in index) for level, index in self._levels.items())
        )
        return (by_id[rid][0] for _, _, _, rid in merged)

    def __contains__(self, range_id: object) -> bool:
        return range_id in self._by_id


_WHY_SIDE = "members that are not in one ancestor line never share numbers"
_WHY_EDGE = "a range lies wholly inside the block it is given from, or apart from it"
_WHY_LINE = "only a member below a range's holder can hold numbers inside it"
