"""Tests for hub.numbering: refusals, lookups, next_free, and a stateful property test."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from hub.federation import Federation, Member
from hub.numbering import (
    FLAT,
    MAX_DIGITS,
    FrozenPlan,
    InvalidRange,
    NotDelegated,
    NumberPlan,
    NumberPlanError,
    NumberRange,
    RangeConflict,
    RangeInUse,
    RangeTooLarge,
    RangeType,
    UnknownRange,
    is_number,
    validate_number,
)

GM = RangeType.GENERAL_MEETING
IM = RangeType.INSTANT_MEETING
SM = RangeType.SCHEDULED_MEETING
VMR = RangeType.VMR
SYS = RangeType.SYSTEM_ACCOUNT


def R(id: int, member: int, type: RangeType | str, start: str, end: str) -> NumberRange:
    return NumberRange(id=id, member_id=member, type=type, start=start, end=end)


# -- numbers and ranges ----------------------------------------------------------------


@pytest.mark.parametrize("good", ["0", "7", "0123", "9" * MAX_DIGITS])
def test_validate_number_accepts_digits(good: str) -> None:
    assert validate_number(good) == good and is_number(good)


@pytest.mark.parametrize(
    "bad", ["", "12a4", " 123", "123 ", "+123", "-1", "1" * 16, "١٢٣", "²", "1.0", None, 123]
)
def test_validate_number_refuses(bad: object) -> None:
    assert not is_number(bad)
    with pytest.raises(NumberPlanError) as ei:
        validate_number(bad)  # type: ignore[arg-type]
    assert ei.value.code == "invalid_number"
    assert "digits" in ei.value.message
    json.dumps(ei.value.details)


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [
        ("12a4", "1299", "start '12a4'"),
        ("1200", "12x9", "end '12x9'"),
        ("", "", "start ''"),
        ("1" * 16, "2" * 16, "1 to 15 digits"),
        ("100", "1999", "same number of digits"),
        ("1999", "1000", "after its end"),
    ],
)
def test_invalid_range_refused(start: str, end: str, words: str) -> None:
    with pytest.raises(InvalidRange) as ei:
        R(1, 1, VMR, start, end)
    assert ei.value.code == "invalid_range"
    assert words in ei.value.message
    json.dumps(ei.value.details)


def test_range_type_coerced_from_string_and_bad_type_refused() -> None:
    assert R(1, 1, "vmr", "1", "2").type is VMR
    with pytest.raises(InvalidRange) as ei:
        R(1, 1, "party_line", "1", "2")
    assert "party_line" in ei.value.message
    with pytest.raises(InvalidRange):
        NumberRange(id="1", member_id=1, type=VMR, start="1", end="2")  # type: ignore[arg-type]
    with pytest.raises(InvalidRange):
        NumberRange(id=1, member_id=True, type=VMR, start="1", end="2")


def test_range_contains_and_size() -> None:
    r = R(1, 1, VMR, "0100", "0199")
    assert r.size == 100
    assert r.contains("0100") and r.contains("0199") and r.contains("0150")
    assert not r.contains("0200") and not r.contains("0099")
    assert not r.contains("100") and not r.contains("00100")
    with pytest.raises(NumberPlanError):
        r.contains("01a0")


# -- conflicts ---------------------------------------------------------------------------


def plan_with_existing() -> NumberPlan:
    return NumberPlan([R(3, 7, GM, "1500", "2500")])


@pytest.mark.parametrize(
    ("new", "why"),
    [
        (R(10, 8, VMR, "1000", "1999"), "other member, partial overlap from below"),
        (R(10, 7, VMR, "2000", "3000"), "same member, other type, overlap from above"),
        (R(10, 7, GM, "1500", "2500"), "exact duplicate"),
        (R(10, 9, SYS, "1600", "1700"), "new inside existing"),
        (R(10, 9, IM, "1000", "3000"), "new contains existing"),
        (R(10, 9, IM, "2500", "2500"), "single number at the end"),
        (R(10, 9, IM, "1400", "1500"), "touching at the start"),
    ],
)
def test_overlap_refused_and_names_existing(new: NumberRange, why: str) -> None:
    plan = plan_with_existing()
    with pytest.raises(RangeConflict) as ei:
        plan.check_add(new)
    err = ei.value
    assert err.code == "range_conflict", why
    assert err.existing == plan.get(3)
    assert err.message.startswith(
        f"range {new.start}–{new.end} ({new.type}) overlaps "
        "range 1500–2500 (general_meeting) of member 7"
    ), why
    assert err.details["existing_id"] == 3
    assert err.details["member_id"] == 7
    assert err.details["type"] == "general_meeting"
    assert (err.details["start"], err.details["end"]) == ("1500", "2500")
    json.dumps(err.details)
    with pytest.raises(RangeConflict):
        plan.add(new)
    assert list(plan) == [R(3, 7, GM, "1500", "2500")]


def test_conflict_reports_lowest_existing_range() -> None:
    plan = NumberPlan([R(1, 1, VMR, "100", "199"), R(2, 2, VMR, "200", "299")])
    with pytest.raises(RangeConflict) as ei:
        plan.check_add(R(3, 3, GM, "150", "250"))
    assert ei.value.existing.id == 1
    with pytest.raises(RangeConflict) as ei:
        plan.check_add(R(3, 3, GM, "050", "250"))
    assert ei.value.existing.id == 1
    with pytest.raises(RangeConflict) as ei:
        plan.check_add(R(3, 3, GM, "250", "250"))
    assert ei.value.existing.id == 2


def test_touching_ranges_and_other_lengths_allowed() -> None:
    plan = plan_with_existing()
    plan.add(R(4, 8, VMR, "1000", "1499"))
    plan.add(R(5, 8, VMR, "2501", "2600"))
    plan.add(R(6, 9, GM, "150", "250"))  # same digits, shorter: different numbers
    plan.add(R(7, 9, GM, "01500", "02500"))
    plan.add(R(8, 9, GM, "0", "9"))
    assert [r.id for r in plan] == [8, 6, 4, 3, 5, 7]
    assert plan.resolve("1500") == 7
    assert plan.resolve("150") == 9
    assert plan.resolve("01500") == 9
    assert plan.resolve("001500") is None


def test_duplicate_id_refused() -> None:
    plan = plan_with_existing()
    with pytest.raises(RangeConflict) as ei:
        plan.add(R(3, 8, VMR, "5000", "5999"))
    assert ei.value.code == "duplicate_id"
    assert "range id 3" in ei.value.message
    assert "range 1500–2500 (general_meeting) of member 7" in ei.value.message


def test_constructor_refuses_overlapping_or_duplicate_ranges() -> None:
    with pytest.raises(RangeConflict) as ei:
        NumberPlan([R(1, 1, VMR, "100", "199"), R(2, 2, GM, "150", "160")])
    assert "of member 1" in ei.value.message
    with pytest.raises(RangeConflict) as ei:
        NumberPlan([R(1, 1, VMR, "100", "199"), R(1, 2, GM, "300", "360")])
    assert ei.value.code == "duplicate_id"
    assert len(NumberPlan([R(2, 1, VMR, "200", "299"), R(1, 1, VMR, "100", "199")])) == 2


# -- remove / replace / members ----------------------------------------------------------


def test_remove_and_unknown() -> None:
    plan = plan_with_existing()
    with pytest.raises(UnknownRange) as ei:
        plan.remove(99)
    assert ei.value.code == "unknown_range" and "99" in ei.value.message
    with pytest.raises(UnknownRange):
        plan.get(99)
    assert plan.remove(3) == R(3, 7, GM, "1500", "2500")
    assert len(plan) == 0 and plan.resolve("2000") is None and plan.ranges_of(7) == []
    plan.add(R(4, 8, VMR, "1500", "2500"))  # the space is free again
    assert plan.resolve("2000") == 8


def test_ranges_of_sorted_and_remove_member() -> None:
    plan = NumberPlan(
        [
            R(1, 1, VMR, "5000", "5999"),
            R(2, 1, GM, "200", "299"),
            R(3, 2, GM, "100", "199"),
            R(4, 1, SYS, "1000", "1999"),
        ]
    )
    assert [r.id for r in plan.ranges_of(1)] == [2, 4, 1]
    assert plan.ranges_of(42) == []
    removed = plan.remove_member(1)
    assert [r.id for r in removed] == [2, 4, 1]
    assert [r.id for r in plan] == [3]
    assert plan.resolve("5500") is None
    assert plan.remove_member(1) == []


def test_copy_is_independent() -> None:
    plan = plan_with_existing()
    other = plan.copy()
    other.add(R(4, 8, VMR, "1000", "1499"))
    other.remove(3)
    assert [r.id for r in plan] == [3] and plan.resolve("1200") is None
    assert [r.id for r in other] == [4] and other.resolve("2000") is None
    assert plan.ranges_of(8) == [] and other.ranges_of(7) == []


def test_frozen_plan_never_changes_and_copies_share_nothing_mutable() -> None:
    """A published (frozen) plan refuses every change; drafts taken from it diverge
    freely, also across chunk splits and removals, and never touch the snapshot."""
    base = NumberPlan(
        [R(i, i % 7, VMR, f"{i * 10:06d}", f"{i * 10 + 4:06d}") for i in range(1, 2000)]
    )
    snapshot = base.freeze()
    before = list(snapshot)
    for change in (
        lambda: snapshot.add(R(9999, 1, VMR, "999999", "999999")),
        lambda: snapshot.remove(1),
        lambda: snapshot.remove_member(1),
    ):
        with pytest.raises(FrozenPlan):
            change()
    draft = snapshot.copy()
    for i in range(1, 2000, 3):
        draft.remove(i)
    for i in range(1, 1500):
        draft.add(R(10_000 + i, 3, GM, f"{i * 10 + 5:06d}", f"{i * 10 + 7:06d}"))
    second = draft.freeze().copy()
    second.remove_member(3)
    assert list(snapshot) == before and len(snapshot) == 1999
    assert snapshot.resolve("000015") is None and snapshot.resolve("000010") == 1
    assert draft.resolve("000015") == 3 and draft.resolve("000010") is None
    assert second.resolve("000015") is None and len(draft) == 1999 - 667 + 1499
    assert [r.id for r in draft.ranges_of(1)] == [r.id for r in draft if r.member_id == 1]


def test_resolve_refuses_invalid_numbers() -> None:
    plan = plan_with_existing()
    for bad in ["", "12x", "1" * 16]:
        with pytest.raises(NumberPlanError) as ei:
            plan.resolve(bad)
        assert ei.value.code == "invalid_number"
    assert plan.range_for("1500") == plan.get(3)


# -- next_free ---------------------------------------------------------------------------


def nf(found: tuple[str, NumberRange] | None) -> str | None:
    if found is None:
        return None
    number, rng = found
    assert rng.contains(number)
    return number


def test_next_free_falls_back_to_general_meeting() -> None:
    plan = NumberPlan([R(1, 1, GM, "100", "102"), R(2, 1, VMR, "900", "901")])
    assert nf(plan.next_free(1, VMR)) == "900"
    assert nf(plan.next_free(1, IM)) == "100"
    assert nf(plan.next_free(1, SM)) == "100"
    assert nf(plan.next_free(1, GM)) == "100"
    assert nf(plan.next_free(1, "instant_meeting")) == "100"  # type: ignore[arg-type]


def test_next_free_with_used_and_exhaustion() -> None:
    plan = NumberPlan([R(1, 1, IM, "098", "099"), R(2, 1, IM, "0100", "0101")])
    assert nf(plan.next_free(1, IM, {"098"})) == "099"
    assert nf(plan.next_free(1, IM, {"098", "099"})) == "0100"  # 3 digits before 4 digits
    assert nf(plan.next_free(1, IM, {"098", "099", "0100"})) == "0101"
    assert plan.next_free(1, IM, {"098", "099", "0100", "0101"}) is None
    # A specific range that is full does not fall back to general_meeting.
    plan.add(R(3, 1, GM, "500", "599"))
    assert plan.next_free(1, IM, {"098", "099", "0100", "0101"}) is None


def test_next_free_system_account_never_falls_back() -> None:
    plan = NumberPlan([R(1, 1, GM, "100", "199")])
    assert plan.next_free(1, SYS) is None
    assert plan.next_free(2, GM) is None  # unknown member
    plan.add(R(2, 1, SYS, "8000", "8000"))
    assert nf(plan.next_free(1, SYS)) == "8000"
    assert plan.next_free(1, SYS, used=frozenset({"8000"})) is None
    assert nf(plan.next_free(1, GM)) == "100"


# -- delegation down the tree --------------------------------------------------------
#
#            1 province
#          /     \
#      2 city    3 city
#        |          \
#      4 county     6 county
#        |
#      5 township
TREE = Federation.of(
    Member(i, parent, level, f"m{i}.example.gov", f"M{i}", f"m{i}")
    for i, parent, level in [(1, None, 1), (2, 1, 2), (3, 1, 2), (4, 2, 3), (5, 4, 4), (6, 3, 3)]
)
MEMBER_IDS = [m.id for m in TREE]


def tree_plan(*ranges: NumberRange) -> NumberPlan:
    return NumberPlan(ranges, lineage=TREE)


def test_nested_blocks_resolve_to_the_deepest_holder() -> None:
    plan = tree_plan(
        R(1, 1, GM, "100000", "199999"),
        R(2, 2, GM, "120000", "129999"),
        R(3, 4, VMR, "121000", "121999"),
        R(4, 5, VMR, "121500", "121509"),
        R(5, 3, GM, "130000", "139999"),
    )
    assert [plan.resolve(n) for n in ("100000", "120000", "121000", "121505", "121510")] == [
        1,
        2,
        4,
        5,
        4,
    ]
    assert plan.resolve("135000") == 3 and plan.resolve("200000") is None
    assert plan.range_for("121505") == plan.get(4)
    assert [r.id for r in plan] == [1, 2, 3, 4, 5]  # outer before inner
    # numbers given further down are not the giver's to hand out
    assert nf(plan.next_free(4, VMR)) == "121000"
    assert nf(plan.next_free(4, VMR, {"121000"})) == "121001"
    assert nf(plan.next_free(4, VMR, {f"1214{i:02d}" for i in range(100)} | {"121000"})) == (
        "121001"
    )
    used = {str(v) for v in range(121000, 121500)}
    assert nf(plan.next_free(4, VMR, used)) == "121510"
    assert nf(plan.next_free(2, GM)) == "120000"
    assert nf(plan.next_free(2, GM, {"120000"})) == "120001"
    assert nf(plan.next_free(2, GM, {str(v) for v in range(120000, 121000)})) == "122000"


@pytest.mark.parametrize(
    ("new", "why"),
    [
        (R(9, 3, GM, "125000", "125999"), "a sibling city inside city 2's block"),
        (R(9, 6, GM, "125000", "125999"), "a cousin county inside city 2's block"),
        (R(9, 2, VMR, "121000", "121000"), "city 2 nests in its own block"),
        (R(9, 4, GM, "119000", "120500"), "crosses the edge of city 2's block"),
        (R(9, 1, GM, "121900", "122100"), "province block crossing county 4's range"),
        (
            R(9, 4, GM, "120000", "129999"),
            "all of city 2's block, around county 4's own range",
        ),
        (R(9, 6, GM, "100000", "199999"), "a county block holding the province's"),
    ],
)
def test_delegation_conflicts(new: NumberRange, why: str) -> None:
    plan = tree_plan(
        R(1, 1, GM, "100000", "199999"),
        R(2, 2, GM, "120000", "129999"),
        R(3, 4, VMR, "121000", "121999"),
    )
    with pytest.raises(RangeConflict) as ei:
        plan.add(new)
    assert ei.value.code == "range_conflict", why
    assert len(plan) == 3


def test_enclosing_blocks_and_the_same_extent_down_a_line() -> None:
    plan = tree_plan(R(3, 5, VMR, "121500", "121509"))  # given from free space by the top
    assert plan.add(R(1, 2, GM, "120000", "129999")) is None  # then a block around it
    assert plan.add(R(2, 4, GM, "120000", "129999")) == plan.get(1)  # all of it, one down
    assert plan.resolve("125000") == 4 and plan.resolve("121505") == 5
    assert nf(plan.next_free(2, GM)) is None  # city 2 gave all of it away


def test_grant_rules_for_a_scoped_admin() -> None:
    plan = tree_plan(
        R(1, 1, GM, "100000", "199999"),
        R(2, 2, GM, "120000", "129999"),
        R(3, 4, VMR, "121000", "121999"),
    )
    # only from above
    for scope, member in [(2, 2), (4, 4), (4, 2), (3, 4), (2, 1)]:
        with pytest.raises(NotDelegated):
            plan.check_grant(R(9, member, GM, "121100", "121100"), scope)
    # out of a block the admin's subtree holds, not the province's or free space
    with pytest.raises(NotDelegated) as ei:
        plan.check_grant(R(9, 4, GM, "150000", "150099"), 2)
    assert "member 2" in ei.value.message and "150000" in ei.value.message
    with pytest.raises(NotDelegated):
        plan.check_grant(R(9, 4, GM, "300000", "300099"), 2)
    assert plan.check_grant(R(9, 4, GM, "122000", "122099"), 2) == plan.get(2)
    assert plan.check_grant(R(9, 5, GM, "121000", "121099"), 2) == plan.get(3)  # county's
    assert plan.check_grant(R(9, 5, GM, "121000", "121099"), 4) == plan.get(3)
    assert plan.check_grant(R(9, 5, GM, "122000", "122099"), 2) == plan.get(2)  # skip a level
    with pytest.raises(NotDelegated):
        plan.check_grant(R(9, 5, GM, "122000", "122099"), 4)  # city 2's, not county 4's
    # the federation-wide admin: free space or any ancestor's block
    assert plan.check_grant(R(9, 6, GM, "300000", "300099"), None) is None
    assert plan.check_grant(R(9, 5, GM, "150000", "150099"), None) == plan.get(1)
    # the cap binds scoped admins only
    with pytest.raises(RangeTooLarge) as ei2:
        plan.check_grant(R(9, 4, GM, "122000", "122999"), 2, max_size=999)
    assert ei2.value.details == {"size": 1000, "limit": 999}
    assert plan.check_grant(R(9, 4, GM, "122000", "122999"), 2, max_size=1000)
    assert plan.check_grant(R(9, 3, GM, "130000", "139999"), None, max_size=1) == plan.get(1)
    assert len(plan) == 3  # checks change nothing


def test_revoke_rules() -> None:
    plan = tree_plan(
        R(1, 1, GM, "100000", "199999"),
        R(2, 2, GM, "120000", "129999"),
        R(3, 4, VMR, "121000", "121999"),
    )
    with pytest.raises(NotDelegated):
        plan.check_revoke(2, 2)  # its own member's block
    with pytest.raises(NotDelegated):
        plan.check_revoke(1, 2)  # above it
    with pytest.raises(RangeInUse) as ei:
        plan.check_revoke(2, None)
    assert ei.value.details == {"id": 2, "nested": 1}
    assert plan.check_revoke(3, 2) == plan.get(3)
    plan.remove(3)
    assert plan.check_revoke(2, 1) == plan.get(2)
    with pytest.raises(UnknownRange):
        plan.check_revoke(3, None)


def test_hidden_conflict_names_nothing() -> None:
    plan = tree_plan(R(1, 3, GM, "130000", "139999"))
    plan_err = None
    try:
        plan.add(NumberRange(0, 2, GM, "135000", "135999", "mine"))
    except RangeConflict as e:
        plan_err = e.hidden()
    assert plan_err is not None and plan_err.code == "range_conflict"
    assert plan_err.message == (
        "range 135000–135999 (general_meeting) overlaps numbers that are already taken"
    )
    assert plan_err.details == {"start": "135000", "end": "135999", "type": "general_meeting"}


# -- stateful property test: the plan against a brute-force model ---------------------

LENGTHS = st.integers(min_value=1, max_value=3)
MEMBERS = st.sampled_from(MEMBER_IDS)
SCOPES = st.sampled_from([None, *MEMBER_IDS])
TYPES = st.sampled_from(list(RangeType))
IDS = st.integers(min_value=1, max_value=30)


@st.composite
def ranges(draw: st.DrawFn, range_id: int | None = None) -> NumberRange:
    length = draw(LENGTHS)
    top = 10**length - 1
    lo = draw(st.integers(0, top))
    hi = draw(st.integers(lo, min(top, lo + draw(st.sampled_from([0, 1, 3, 10, 100])))))
    return NumberRange(
        id=draw(IDS) if range_id is None else range_id,
        member_id=draw(MEMBERS),
        type=draw(TYPES),
        start=str(lo).zfill(length),
        end=str(hi).zfill(length),
    )


@st.composite
def numbers(draw: st.DrawFn) -> str:
    length = draw(LENGTHS)
    return str(draw(st.integers(0, 10**length - 1))).zfill(length)


def key(number: str) -> tuple[int, int]:
    return (len(number), int(number))


def overlaps(a: NumberRange, b: NumberRange) -> bool:
    return (
        len(a.start) == len(b.start) and int(a.start) <= int(b.end) and int(b.start) <= int(a.end)
    )


def inside(a: NumberRange, b: NumberRange) -> bool:
    """a lies wholly inside b."""
    return len(a.start) == len(b.start) and int(b.start) <= int(a.start) <= int(a.end) <= int(b.end)


def below(a: int, b: int) -> bool:
    """member a is strictly below member b."""
    return a != b and TREE.is_within(b, a)


def compatible(new: NumberRange, old: NumberRange) -> bool:
    """The invariant for one pair: apart, or nested with the outer holder above."""
    if not overlaps(new, old):
        return True
    if inside(new, old) and below(new.member_id, old.member_id):
        return True
    return inside(old, new) and below(old.member_id, new.member_id)


class PlanMachine(RuleBasedStateMachine):
    """A plan over a fixed tree against a dict of ranges checked by brute force."""

    def __init__(self) -> None:
        super().__init__()
        self.plan = NumberPlan(lineage=TREE)
        self.model: dict[int, NumberRange] = {}
        self.snapshots: list[tuple[NumberPlan, dict[int, NumberRange]]] = []

    def valid(self, rng: NumberRange) -> bool:
        return rng.id not in self.model and all(compatible(rng, o) for o in self.model.values())

    def deepest(self, number: str) -> NumberRange | None:
        hits = [r for r in self.model.values() if r.contains(number)]
        levels = [TREE.level_of(r.member_id) for r in hits]
        assert len(set(levels)) == len(levels)  # one holder per level on a line
        return max(hits, key=lambda r: TREE.level_of(r.member_id)) if hits else None

    def parent(self, rng: NumberRange) -> NumberRange | None:
        holders = [
            r for r in self.model.values() if inside(rng, r) and below(rng.member_id, r.member_id)
        ]
        return max(holders, key=lambda r: TREE.level_of(r.member_id)) if holders else None

    @initialize(rs=st.lists(ranges(), max_size=8))
    def load(self, rs: list[NumberRange]) -> None:
        ok = len({r.id for r in rs}) == len(rs) and all(
            compatible(a, b) for i, a in enumerate(rs) for b in rs[i + 1 :]
        )
        if ok:
            self.plan = NumberPlan(rs, lineage=TREE)
            self.model = {r.id: r for r in rs}
        else:
            with pytest.raises(RangeConflict):
                NumberPlan(rs, lineage=TREE)

    @rule(rng=ranges())
    def add(self, rng: NumberRange) -> None:
        if self.valid(rng):
            assert self.plan.add(rng) == self.parent(rng)
            self.model[rng.id] = rng
        else:
            with pytest.raises(RangeConflict) as ei:
                self.plan.add(rng)
            existing = ei.value.existing
            if ei.value.code == "duplicate_id":
                assert existing == self.model[rng.id]
            else:
                assert existing in self.model.values() and not compatible(rng, existing)
                assert f"of member {existing.member_id}" in ei.value.message

    @rule(rng=ranges(), scope=SCOPES, cap=st.sampled_from([None, 1, 4, 50]))
    def grant(self, rng: NumberRange, scope: int | None, cap: int | None) -> None:
        allowed = scope is None or below(rng.member_id, scope)
        if allowed and scope is not None and cap is not None and rng.size > cap:
            with pytest.raises(RangeTooLarge):
                self.plan.check_grant(rng, scope, cap)
            return
        if allowed and not self.valid(rng):
            with pytest.raises(RangeConflict):
                self.plan.check_grant(rng, scope, cap)
            return
        parent = self.parent(rng) if allowed else None
        if scope is not None and (parent is None or not TREE.is_within(scope, parent.member_id)):
            allowed = False
        if allowed:
            assert self.plan.check_grant(rng, scope, cap) == parent
            self.add(rng)
        else:
            with pytest.raises(NotDelegated):
                self.plan.check_grant(rng, scope, cap)

    @rule(range_id=IDS, scope=SCOPES)
    def revoke(self, range_id: int, scope: int | None) -> None:
        rng = self.model.get(range_id)
        if rng is None:
            with pytest.raises(UnknownRange):
                self.plan.check_revoke(range_id, scope)
            return
        if scope is not None and not below(rng.member_id, scope):
            with pytest.raises(NotDelegated):
                self.plan.check_revoke(range_id, scope)
            return
        nested = [r for r in self.model.values() if r.id != range_id and inside(r, rng)]
        if nested:
            with pytest.raises(RangeInUse) as ei:
                self.plan.check_revoke(range_id, scope)
            assert ei.value.details["nested"] == len(nested)
            return
        assert self.plan.check_revoke(range_id, scope) == rng
        assert self.plan.remove(range_id) == self.model.pop(range_id)

    @rule(range_id=IDS)
    def remove(self, range_id: int) -> None:
        if range_id in self.model:
            assert self.plan.remove(range_id) == self.model.pop(range_id)
        else:
            with pytest.raises(UnknownRange):
                self.plan.remove(range_id)

    @rule(member=MEMBERS)
    def remove_member(self, member: int) -> None:
        gone = sorted(
            (r for r in self.model.values() if r.member_id == member), key=lambda r: key(r.start)
        )
        assert self.plan.remove_member(member) == gone
        for r in gone:
            del self.model[r.id]

    @rule()
    def publish(self) -> None:
        """Freeze the plan as a snapshot and go on with a copy."""
        self.snapshots.append((self.plan.freeze(), dict(self.model)))
        self.plan = self.plan.copy()

    @rule(number=numbers())
    def resolve_random(self, number: str) -> None:
        self.check_number(number)

    @rule(member=MEMBERS, type=TYPES, used=st.frozensets(numbers(), max_size=20))
    def next_free(self, member: int, type: RangeType, used: frozenset[str]) -> None:
        own = [r for r in self.model.values() if r.member_id == member]
        applicable = [r for r in own if r.type is type]
        if not applicable and type in (IM, SM, VMR):
            applicable = [r for r in own if r.type is GM]
        free = [
            number
            for r in applicable
            for v in range(int(r.start), int(r.end) + 1)
            if (number := str(v).zfill(len(r.start))) not in used and self.deepest(number) == r
        ]
        expected = min(free, key=key) if free else None
        assert nf(self.plan.next_free(member, type, used)) == expected

    def check_number(self, number: str) -> None:
        expected = self.deepest(number)
        assert self.plan.range_for(number) == expected
        assert self.plan.resolve(number) == (expected.member_id if expected else None)

    @invariant()
    def matches_model_and_snapshots_never_move(self) -> None:
        rs = list(self.plan)
        assert {r.id: r for r in rs} == self.model and len(self.plan) == len(self.model)
        assert [key(r.start) for r in rs] == sorted(key(r.start) for r in rs)
        for i, a in enumerate(rs):
            for b in rs[i + 1 :]:
                assert compatible(a, b), (a, b)
        for r in rs:
            n = len(r.start)
            for v in (int(r.start) - 1, int(r.start), int(r.end), int(r.end) + 1):
                if 0 <= v < 10**n:
                    self.check_number(str(v).zfill(n))
        for m in MEMBER_IDS:
            assert self.plan.ranges_of(m) == sorted(
                (r for r in rs if r.member_id == m), key=lambda r: key(r.start)
            )
        for snap, model in self.snapshots:
            assert {r.id: r for r in snap} == model


PlanMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestPlanMachine = PlanMachine.TestCase


def test_flat_lineage_allows_no_nesting() -> None:
    plan = NumberPlan([R(1, 1, GM, "100", "199")])
    with pytest.raises(RangeConflict):
        plan.add(R(2, 2, GM, "150", "150"))
    assert FLAT.level_of(7) == 1 and not FLAT.is_within(1, 2) and FLAT.is_within(None, 2)
