"""The number plan: typed number ranges owned by federation members, and number lookup.

Pure: storage loads the stored ranges into a :class:`NumberPlan` and freezes it as part of
a snapshot; to change it, storage takes a ``copy()``, asks the copy to check and apply the
change (``add`` raises before anything changes), writes the change and, once that is
committed, publishes the copy frozen. The SIP redirector asks ``resolve(number)`` which
member answers for a dialled number; the API asks ``range_for`` and ``next_free``.

A number is a string of 1–15 ASCII digits (:func:`is_number`, the one definition of that
rule); ``(length, int value)`` identifies it, so ``"0123"`` and ``"123"`` are different
numbers and ranges of different lengths never overlap. No two ranges of the plan may
overlap at all, whatever their member or type.
Every refusal is a :class:`NumberPlanError` whose message says exactly why.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise

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
    """The range overlaps ``existing`` (or reuses its id); the caller shows ``message`` as is."""

    def __init__(self, rng: NumberRange, existing: NumberRange, code: str = "range_conflict"):
        if code == "duplicate_id":
            message = f"range id {rng.id} is already used by {existing.describe()}"
        else:
            message = f"range {rng.span()} ({rng.type}) overlaps {existing.describe()}"
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


# Index entries: (length, first value, last value, range id, range). Ranges never overlap,
# so (length, first value) is unique: tuples sort in C and never compare the range itself.
_Entry = tuple[int, int, int, int, NumberRange]
# Per-member entries: (length, first value, range id).
_MemberEntry = tuple[int, int, int]
_TOP = 10**MAX_DIGITS  # above every value: (length, value, _TOP) sorts after its entries


def _entry(rng: NumberRange) -> _Entry:
    return (len(rng.start), int(rng.start), int(rng.end), rng.id, rng)


class FrozenPlan(RuntimeError):
    """A published plan was asked to change: change a ``copy()`` instead."""


class NumberPlan:
    """All number ranges of the federation, with no two overlapping.

    A plan is either a *draft* (being changed by one writer) or *frozen* (published as
    part of a snapshot: it never changes again, and ``add``/``remove``/``remove_member``
    raise :class:`FrozenPlan`). A writer takes ``copy()`` of a frozen plan — cheap: the
    copy shares structure with it (O(n / 256) pointers and a few hash-trie nodes) — checks
    and changes the copy, and freezes it when its change is stored. Each change checks
    first and leaves the plan unchanged when it raises. Lookups are O(log n).
    """

    __slots__ = ("_by_id", "_by_member", "_frozen", "_index")

    def __init__(self, ranges: Iterable[NumberRange] = ()) -> None:
        """Load ``ranges`` (e.g. from storage); raises :class:`RangeConflict` if they overlap."""
        by_id: dict[int, NumberRange] = {}
        by_member: dict[int, list[_MemberEntry]] = {}
        entries: list[_Entry] = []
        for rng in ranges:
            if rng.id in by_id:
                raise RangeConflict(rng, by_id[rng.id], "duplicate_id")
            by_id[rng.id] = rng
            entries.append(_entry(rng))
        entries.sort(key=lambda e: e[:4])
        # Sorted by start, any overlap shows up between neighbours.
        for prev, cur in pairwise(entries):
            if prev[0] == cur[0] and prev[2] >= cur[1]:
                raise RangeConflict(cur[4], prev[4])
        for length, lo, _hi, rid, rng in entries:
            by_member.setdefault(rng.member_id, []).append((length, lo, rid))
        self._by_id: Map[int, NumberRange] = Map(by_id)
        self._by_member: Map[int, tuple[_MemberEntry, ...]] = Map(
            {m: tuple(v) for m, v in by_member.items()}
        )
        self._index: CowSortedList[_Entry] = CowSortedList(entries)
        self._frozen = False

    # -- snapshots ----------------------------------------------------------------
    def copy(self) -> NumberPlan:
        """A draft with the same ranges, sharing structure with this plan (no re-validation)."""
        new = NumberPlan.__new__(NumberPlan)
        new._by_id = self._by_id
        new._by_member = self._by_member
        new._index = self._index.copy()
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

    # -- checks and changes -----------------------------------------------------
    def _conflict(self, rng: NumberRange) -> NumberRange | None:
        """The lowest range overlapping ``rng``, if any."""
        length, lo, hi, _, _ = _entry(rng)
        before = self._index.find_le((length, lo, _TOP))
        if before is not None and before[0] == length and before[2] >= lo:
            return before[4]
        for e in self._index.irange((length, lo), (length, hi, _TOP)):
            return e[4]
        return None

    def check_add(self, rng: NumberRange) -> None:
        """Raise :class:`RangeConflict` if ``rng`` cannot be added; the caller then stores it."""
        existing = self._by_id.get(rng.id)
        if existing is not None:
            raise RangeConflict(rng, existing, "duplicate_id")
        existing = self._conflict(rng)
        if existing is not None:
            raise RangeConflict(rng, existing)

    def add(self, rng: NumberRange) -> None:
        """Check (as :meth:`check_add`) and insert ``rng``."""
        self._writable()
        self.check_add(rng)
        e = _entry(rng)
        self._by_id = self._by_id.set(rng.id, rng)
        self._index.add(e)
        own = list(self._by_member.get(rng.member_id, ()))
        insort(own, (e[0], e[1], e[3]))
        self._by_member = self._by_member.set(rng.member_id, tuple(own))

    def _delete(self, rng: NumberRange) -> None:
        e = _entry(rng)
        self._by_id = self._by_id.delete(rng.id)
        self._index.remove(e)
        own = list(self._by_member[rng.member_id])
        del own[bisect_left(own, (e[0], e[1], e[3]))]
        self._by_member = (
            self._by_member.set(rng.member_id, tuple(own))
            if own
            else self._by_member.delete(rng.member_id)
        )

    def remove(self, range_id: int) -> NumberRange:
        """Remove and return the range; :class:`UnknownRange` if there is none."""
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
        rng = self._by_id.get(range_id)
        if rng is None:
            raise UnknownRange(range_id)
        return rng

    def range_for(self, number: str) -> NumberRange | None:
        """The range holding ``number`` (validated: ``invalid_number``), or None."""
        if not is_number(number):
            validate_number(number)
        length = len(number)
        value = int(number)
        e = self._index.find_le((length, value, _TOP))
        if e is not None and e[0] == length and e[2] >= value:
            return e[4]
        return None

    def resolve(self, number: str) -> int | None:
        """The member that answers for ``number``, or None: the SIP routing resolver.

        Raises ``invalid_number`` for anything but 1–15 digits (the routing table checks
        with :func:`is_number` first and answers "not found" without asking).
        """
        rng = self.range_for(number)
        return None if rng is None else rng.member_id

    def ranges_of(self, member_id: int) -> list[NumberRange]:
        """The member's ranges sorted by (length, start); empty for an unknown member."""
        by_id = self._by_id
        return [by_id[rid] for _, _, rid in self._by_member.get(member_id, ())]

    def next_free(
        self, member_id: int, type: RangeType, used: Container[str] = frozenset()
    ) -> tuple[str, NumberRange] | None:
        """The lowest number of the member's ranges for ``type`` not in ``used``, with its range.

        A specific meeting type overrides the general one: instant, scheduled and VMR
        numbers come from the member's ``general_meeting`` ranges only when it has no
        range of that type; ``system_account`` never falls back. None when the member has
        no applicable range or all its numbers are used. The caller reserves the number
        (adds it to ``used``) before the next call. Costs one ``in used`` test per used
        number skipped.
        """
        type = RangeType(type)
        own = self.ranges_of(member_id)
        ranges = [r for r in own if r.type is type]
        fallback = _FALLBACK.get(type)
        if not ranges and fallback is not None:
            ranges = [r for r in own if r.type is fallback]
        for rng in ranges:
            length = len(rng.start)
            for value in range(int(rng.start), int(rng.end) + 1):
                number = str(value).zfill(length)
                if number not in used:
                    return number, rng
        return None

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[NumberRange]:
        """All ranges sorted by (length, start)."""
        return (e[4] for e in self._index)

    def __contains__(self, range_id: object) -> bool:
        return range_id in self._by_id
