"""Demo and load federations: shape, numbers, credentials, cascades, reproducibility."""

from __future__ import annotations

import itertools

import pytest

from emulator.federation import EmulatedFederation, build_demo_federation, build_load_federation
from emulator.spec import RANGE_TYPES, NumberRangeSpec
from hub.cascade import CascadeState
from hub.conference import ConferenceKind, VenueRole, VenueStatus

DEMO = build_demo_federation(seed=1)


def test_demo_is_a_five_level_tree_of_about_forty_members() -> None:
    assert 35 <= len(DEMO) <= 50
    assert 250 <= sum(len(s.venues) for s in DEMO) <= 350
    by_key = {s.key: s for s in DEMO}
    assert {s.level for s in DEMO} == {1, 2, 3, 4, 5}
    for s in DEMO:
        if s.parent_key is not None:
            assert by_key[s.parent_key].level == s.level - 1
            assert s.domain.endswith("." + by_key[s.parent_key].domain)
    assert DEMO[0].domain == "prov.example" and DEMO[1].domain == "city1.prov.example"


def test_identities_are_unique_and_passwords_strong() -> None:
    policy = pytest.importorskip("hub.password_policy")
    for field in ("key", "domain", "username", "display_name"):
        values = [getattr(s, field) for s in DEMO]
        assert len(set(values)) == len(values), field
    for s in DEMO:
        assert policy.check(s.password, s.username) == [], s.password


def test_number_ranges_never_overlap_and_are_typed() -> None:
    ranges: list[NumberRangeSpec] = [r for s in DEMO for r in s.ranges]
    assert {r.type for r in ranges} == set(RANGE_TYPES)
    for a, b in itertools.combinations(ranges, 2):
        assert len(a.start) == len(a.end)
        assert a.end < b.start or b.end < a.start or len(a.start) != len(b.start)
    for s in DEMO:
        for v in s.venues:
            assert s.range_of("system_account").contains(v.number)
        for c in s.conferences:
            assert any(r.contains(c.number) and r.type != "system_account" for r in s.ranges)


def test_every_kind_role_and_state_shows_up() -> None:
    kinds = {c.kind for s in DEMO for c in s.conferences}
    assert kinds == set(ConferenceKind)
    assert {v.initial for v in DEMO[0].venues} == set(VenueStatus)
    assert VenueRole.AUDIENCE in {v.role for s in DEMO for v in s.venues}


def test_same_seed_same_federation() -> None:
    assert build_demo_federation(seed=1) == DEMO
    assert build_demo_federation(seed=2) != DEMO


def test_cascades_build_the_whole_tree() -> None:
    fed = EmulatedFederation(DEMO)
    fed.setup()
    state = CascadeState()
    for i, s in enumerate(DEMO, start=1):
        state.bind_member(i, s.domain)
        state.apply_snapshot(i, fed.members[s.key].world.snapshot())
    assert state.federation_roots() == [(1, DEMO[0].meeting)]
    tree = state.cascade_tree(1, DEMO[0].meeting)
    assert tree is not None
    nodes = list(tree.walk())
    assert len(nodes) == len(DEMO) and all(n.known for n in nodes)
    counts = state.counts()
    assert counts["venues_total"] == sum(len(s.venues) for s in DEMO)
    assert all(n > 0 for n in counts["venues"].values())  # type: ignore[union-attr]


def test_load_federation() -> None:
    specs = build_load_federation(seed=1, members=50, venues=333)
    assert len(specs) == 50 and sum(len(s.venues) for s in specs) == 333
    assert all(v.initial is VenueStatus.JOINED for s in specs for v in s.venues)
    assert len({s.domain for s in specs}) == 50
