"""hub.live: the live state service — trust rules, limits, summaries, trees, subscriptions."""

from __future__ import annotations

import pytest

from hub.cascade import ConferenceDelta, NeedSnapshot, VenueDelta
from hub.conference import (
    CascadeRef,
    Conference,
    ConferenceKind,
    ConferenceStarted,
    Event,
    MuteChanged,
    Snapshot,
    Venue,
    VenueJoined,
    VenueStatus,
)
from hub.federation import Federation, Member
from hub.live import LiveChange, LiveState, Refusal
from hub.numbering import NumberPlan, NumberRange
from hub.trust import MemberLimits, PlanRules, Relation

# province 1 ── city 2 ── county 4
#            └─ city 3
FED = Federation.of(
    [
        Member(1, None, 1, "prov.example", "Province", "prov"),
        Member(2, 1, 2, "c2.prov.example", "City 2", "city2"),
        Member(3, 1, 2, "c3.prov.example", "City 3", "city3"),
        Member(4, 2, 3, "k4.c2.prov.example", "County 4", "county4"),
    ]
)
PLAN = NumberPlan(
    [
        NumberRange(1, 1, "vmr", "1000", "1999"),
        NumberRange(2, 2, "general_meeting", "2000", "2999"),
        NumberRange(3, 3, "scheduled_meeting", "3000", "3999"),
        NumberRange(4, 4, "vmr", "4000", "4999"),
        NumberRange(5, 2, "system_account", "7000", "7999"),
    ]
)
DOMAINS = {m.id: m.domain for m in FED}


def venue(vid: str, cascade: CascadeRef | None = None) -> Venue:
    return Venue(vid, f"Venue {vid}", VenueStatus.JOINED, cascade=cascade)


def conf(number: str, *venues: Venue) -> Conference:
    return Conference(number, f"Meeting {number}", ConferenceKind.VMR, "auto", 1.0, venues)


def link(domain_of: int, number: str) -> Venue:
    return venue(f"cascade-{number}", CascadeRef(DOMAINS[domain_of], number))


def live(limits: MemberLimits | None = None) -> LiveState:
    state = LiveState(PlanRules(FED, PLAN), limits)
    for mid, domain in DOMAINS.items():
        state.bind_member(mid, domain)
    return state


def federation_up(state: LiveState) -> None:
    root = conf("1000", venue("a"), link(2, "2000"))
    assert state.apply_snapshot(1, Snapshot(1, 0, (root,))) is None
    assert state.apply_snapshot(2, Snapshot(1, 0, (conf("2000", link(4, "4000")),))) is None
    assert state.apply_snapshot(4, Snapshot(1, 0, (conf("4000", venue("b"), venue("c")),))) is None
    assert state.apply_snapshot(3, Snapshot(1, 0, (conf("3000", venue("d")),))) is None


def test_rules_answer_from_the_plan_and_the_tree() -> None:
    rules = PlanRules(FED, PLAN)
    assert rules.holds(2, "2500") and not rules.holds(2, "1500") and not rules.holds(1, "2500")
    assert not rules.holds(2, "7000")  # a system account is no conference number
    assert not rules.holds(2, "not-a-number") and not rules.holds(99, "2500")
    assert rules.relation(1, "c2.prov.example") is Relation.CHILD
    assert rules.relation(4, "c2.prov.example") is Relation.PARENT
    assert rules.relation(4, "prov.example") is None  # a grandparent is not the uplink
    assert rules.relation(3, "c2.prov.example") is None  # nor is a sibling
    assert rules.relation(2, "c2.prov.example") is None  # nor the member itself
    assert rules.relation(2, "ghost.example") is None


def test_a_member_cannot_claim_another_members_number() -> None:
    """The compromised-village case: a snapshot claiming the province's meeting number
    and naming other members' meetings is refused whole; nothing changes."""
    state = live()
    federation_up(state)
    before = state.revision
    refused = state.apply_snapshot(4, Snapshot(2, 0, (conf("1000", venue("x")),)))
    assert isinstance(refused, Refusal) and "not in this member's meeting ranges" in refused.reason
    hijack = conf("4001", venue("x", CascadeRef("prov.example", "1000")))
    refused = state.apply_snapshot(4, Snapshot(2, 0, (hijack,)))
    assert isinstance(refused, Refusal) and "neither a child nor the parent" in refused.reason
    assert state.revision == before and state.conference(4, "4001") is None
    assert [t.conference for t in state.federation_trees()] == ["1000"]


def test_events_are_checked_like_snapshots() -> None:
    state = live()
    federation_up(state)
    started = ConferenceStarted(conf("500000000"))
    assert isinstance(state.apply_event(4, Event(1, 1, started)), Refusal)
    sibling = VenueJoined("2000", venue("l", CascadeRef("c3.prov.example", "3000")))
    assert isinstance(state.apply_event(2, Event(1, 1, sibling)), Refusal)
    uplink = VenueJoined("4000", venue("up", CascadeRef("c2.prov.example", "2000")))
    assert state.apply_event(4, Event(1, 1, uplink)) is None  # the parent: allowed
    assert state.venue(4, "4000", "up") is not None
    # the uplink does not turn the county into a root, nor make the city a child of it
    assert [t.conference for t in state.federation_trees()] == ["1000"]


def test_limits_bound_what_a_member_holds() -> None:
    state = live(MemberLimits(conferences=2, venues_per_conference=3, venues=4))
    three = Snapshot(1, 0, (conf("2000"), conf("2001"), conf("2002")))
    assert "limit of 2" in str(state.apply_snapshot(2, three))
    many = conf("2000", *(venue(f"v{i}") for i in range(4)))
    assert "limit of 3" in str(state.apply_snapshot(2, Snapshot(1, 0, (many,))))
    spread = (
        conf("2000", venue("a"), venue("b"), venue("c")),
        conf("2001", venue("d"), venue("e")),
    )
    assert "limit of 4 venues" in str(state.apply_snapshot(2, Snapshot(1, 0, spread)))
    assert state.apply_snapshot(2, Snapshot(1, 0, (conf("2000", venue("a"), venue("b")),))) is None
    assert state.apply_event(2, Event(1, 1, ConferenceStarted(conf("2001", venue("c"))))) is None
    third = Event(1, 2, ConferenceStarted(conf("2002")))
    assert "limit of 2 conferences" in str(state.apply_event(2, third))
    assert state.apply_event(2, Event(1, 2, VenueJoined("2001", venue("d")))) is None
    assert "limit of 4 venues" in str(
        state.apply_event(2, Event(1, 3, VenueJoined("2001", venue("e"))))
    )
    # an update of a venue already held is no growth
    assert state.apply_event(2, Event(1, 3, VenueJoined("2001", venue("d")))) is None


def test_summary_is_computed_once_for_any_scope() -> None:
    state = live()
    federation_up(state)
    whole = state.summary()
    assert whole.total.members == 4 and whole.total.conferences == 4
    assert whole.total.venues_total == 4 and whole.total.cascade_links == 2
    city = state.summary({2, 4})
    assert set(city.members) == {2, 4} and city.total.venues_total == 2
    assert city.total.cascade_links == 1
    assert city.as_dict()["total"] == {
        "members": 2,
        "conferences": 2,
        "venues": {"joined": 2, "not_joined": 0, "ringing": 0, "failed": 0},
        "venues_total": 2,
        "cascade_links": 1,
    }


def test_trees_are_rooted_in_the_scope() -> None:
    state = live()
    federation_up(state)
    (prov,) = state.federation_trees()
    assert [n.conference for n in prov.walk()] == ["1000", "2000", "4000"]
    (city,) = state.federation_trees({2, 4})
    assert city.conference == "2000" and [n.conference for n in city.walk()] == ["2000", "4000"]
    assert state.federation_trees({3}) == ()  # a conference with no cascade is no tree
    assert state.federation_trees({4}) == ()


def test_pages_of_conferences() -> None:
    state = live()
    numbers = [f"2{i:03d}" for i in range(25)]
    assert (
        state.apply_snapshot(2, Snapshot(1, 0, tuple(conf(n) for n in reversed(numbers)))) is None
    )
    first = state.conferences(2, limit=10)
    assert first.total == 25 and [c.number for c in first.conferences] == numbers[:10]
    last = state.conferences(2, offset=20, limit=10)
    assert [c.number for c in last.conferences] == numbers[20:]
    assert state.conferences(99).total == 0
    with pytest.raises(ValueError):
        state.conferences(2, limit=0)


def test_subscribers_see_every_change_in_order_and_can_leave() -> None:
    state = live()
    seen: list[LiveChange] = []
    other: list[LiveChange] = []
    sub = state.subscribe(seen.append)
    state.subscribe(other.append)

    def broken(change: LiveChange) -> None:
        raise RuntimeError("a faulty reader")

    state.subscribe(broken)
    assert state.apply_snapshot(2, Snapshot(1, 0, (conf("2000", venue("a")),))) is None
    assert state.apply_event(2, Event(1, 1, MuteChanged("2000", "a", True))) is None
    assert [c.revision for c in seen] == [1, 2] == [c.revision for c in other]
    assert seen[0].deltas == (
        ConferenceDelta(2, "2000", conf("2000")),
        VenueDelta(2, "2000", "a", venue("a")),
    )
    sub.cancel()
    sub.cancel()
    assert isinstance(
        state.apply_event(2, Event(1, 5, MuteChanged("2000", "a", False))), NeedSnapshot
    )
    state.forget_member(2)
    assert len(seen) == 2 and len(other) == 3 and state.revision == 3
    assert other[-1].deltas == (ConferenceDelta(2, "2000", None),)


def test_cascade_venues_have_their_own_limit() -> None:
    """A province cascades in all its children: those venues do not count as endpoints."""
    state = live(MemberLimits(venues_per_conference=1, cascades_per_conference=2))
    both = conf("1000", venue("a"), link(2, "2000"), link(3, "3000"))
    assert state.apply_snapshot(1, Snapshot(1, 0, (both,))) is None
    again = VenueJoined("1000", venue("l2", CascadeRef("c2.prov.example", "2001")))
    assert "3 cascade venues" in str(state.apply_event(1, Event(1, 1, again)))
    assert "limit of 1" in str(state.apply_event(1, Event(1, 1, VenueJoined("1000", venue("b")))))
