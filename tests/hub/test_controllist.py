"""The control list of a federation conference, pure (no event loop)."""

from __future__ import annotations

import random

import pytest

from hub.cascade import CascadeState
from hub.conference import (
    CallStats,
    CascadeRef,
    Conference,
    ConferenceEnded,
    ConferenceKind,
    ConferenceStarted,
    Event,
    MuteChanged,
    Snapshot,
    StatsUpdated,
    Venue,
    VenueJoined,
    VenueLeft,
    VenueRole,
    VenueStatus,
)
from hub.controllist import ControlList, VenueFilter, tree_json
from hub.federation import Federation, FederationError, Member

DOMAINS = {1: "prov.example", 2: "city.example", 3: "county.example", 4: "town.example"}
DOMAINS[5] = "village.example"
STATS = CallStats(1000, 900, 0.1, 3, 20, 1280, 720, 30)


def venue(i: str, status=VenueStatus.JOINED, **kw) -> Venue:
    return Venue(i, f"Venue {i}", status, **kw)


def link(child: int) -> Venue:
    return Venue(f"cascade-c{child}", f"link {child}", VenueStatus.JOINED, cascade=ref(child))


def ref(child: int) -> CascadeRef:
    return CascadeRef(DOMAINS[child], f"c{child}")


def chain(kinds: dict[int, ConferenceKind] | None = None) -> CascadeState:
    """Five members, each running c<i> with 3 venues and a link down to c<i+1>."""
    kinds = kinds or {}
    state = CascadeState()
    for m, domain in DOMAINS.items():
        state.bind_member(m, domain)
        venues = [
            venue(f"m{m}a"),
            venue(f"m{m}b", VenueStatus.RINGING),
            venue(f"m{m}c", VenueStatus.FAILED, reason="busy"),
        ]
        if kinds.get(m) is ConferenceKind.BROADCAST:
            venues.append(venue(f"m{m}aud", role=VenueRole.AUDIENCE))
        if m < 5:
            venues.append(link(m + 1))
        other = Conference(f"x{m}", "unrelated", ConferenceKind.INSTANT, venues=(venue(f"x{m}"),))
        confs = (
            Conference(
                f"c{m}", f"meeting {m}", kinds.get(m, ConferenceKind.VMR), venues=tuple(venues)
            ),
            other,
        )
        state.apply_snapshot(m, Snapshot(1, 0, confs))
    return state


def ids(cl: ControlList) -> set[str]:
    return {k[2] for k in cl.venues}


def test_five_levels_every_venue_below_cascade_links_excluded() -> None:
    state = chain()
    cl = ControlList(state, 1, "c1")
    assert cl.exists
    assert ids(cl) == {f"m{m}{x}" for m in range(1, 6) for x in "abc"}
    assert not any(i.startswith("cascade-") or i.startswith("x") for i in ids(cl))
    assert cl.members() == {1, 2, 3, 4, 5}
    v = cl.venues[(1, "c1", "m1c")]
    assert (v.status, v.reason, v.stale, v.member_id) == (VenueStatus.FAILED, "busy", False, 1)
    # a level's list starts at that level
    assert ids(ControlList(state, 3, "c3")) == {f"m{m}{x}" for m in (3, 4, 5) for x in "abc"}


def test_unknown_root_is_empty_and_appears_when_it_starts() -> None:
    state = chain()
    cl = ControlList(state, 1, "nope")
    assert not cl.exists and cl.venues == {}
    ev = Event(
        1,
        1,
        ConferenceStarted(Conference("nope", "late", ConferenceKind.VMR, venues=(venue("n1"),))),
    )
    changes = cl.apply(state.apply_event(1, ev))  # type: ignore[arg-type]
    assert cl.exists and [c.key for c in changes] == [(1, "nope", "n1")]


def test_subordinate_audiences_hidden_in_broadcast_meetings() -> None:
    # a broadcast-interactive subordinate hides its audience; the root's own stays
    state = chain({3: ConferenceKind.BROADCAST})
    assert "m3aud" not in ids(ControlList(state, 1, "c1"))
    assert "m3aud" in ids(ControlList(state, 3, "c3"))
    # a broadcast-interactive federation conference hides every subordinate audience
    state = chain({1: ConferenceKind.BROADCAST, 2: ConferenceKind.BROADCAST})
    listed = ids(ControlList(state, 1, "c1"))
    assert "m1aud" in listed and "m2aud" not in listed
    # an audience venue joining later stays hidden
    cl = ControlList(state, 1, "c1")
    new = venue("late-aud", role=VenueRole.AUDIENCE)
    assert cl.apply(state.apply_event(2, Event(1, 1, VenueJoined("c2", new)))) == []  # type: ignore[arg-type]


def test_stale_members_keep_their_last_state() -> None:
    state = chain()
    cl = ControlList(state, 1, "c1")
    before = dict(cl.venues)
    changes = cl.set_stale(3, True)
    assert {c.key[0] for c in changes} == {3} and len(changes) == 3
    assert all(cl.venues[c.key].stale and c.new and c.new.status == c.old.status for c in changes)  # type: ignore[union-attr]
    assert cl.set_stale(3, True) == []  # no change twice
    assert cl.set_stale(99, True) == []  # not in this conference
    assert tree_json(cl.tree, None, {3})["children"][0]["children"][0]["stale"] is True  # type: ignore[index]
    cl.set_stale(3, False)
    assert cl.venues == before


def test_deltas_become_list_changes() -> None:
    state = chain()
    cl = ControlList(state, 1, "c1")
    ch = cl.apply(state.apply_event(4, Event(1, 1, MuteChanged("c4", "m4a", True))))  # type: ignore[arg-type]
    assert len(ch) == 1 and ch[0].new is not None and ch[0].new.muted and not ch[0].stats_only
    ch = cl.apply(state.apply_event(4, Event(1, 2, StatsUpdated("c4", "m4a", STATS))))  # type: ignore[arg-type]
    assert len(ch) == 1 and ch[0].stats_only
    # outside the federation conference: nothing
    assert cl.apply(state.apply_event(4, Event(1, 3, MuteChanged("x4", "x4", True)))) == []  # type: ignore[arg-type]
    # a cascade link's own changes are not venues of the list
    assert (
        cl.apply(state.apply_event(3, Event(1, 1, StatsUpdated("c3", "cascade-c4", STATS)))) == []
    )  # type: ignore[arg-type]
    # hanging up a cascade link drops the whole branch below it; the tree keeps it
    ch = cl.apply(state.apply_event(2, Event(1, 1, VenueLeft("c2", "cascade-c3", "hung up"))))  # type: ignore[arg-type]
    assert {c.key[0] for c in ch} == {3, 4, 5} and all(c.new is None for c in ch)
    assert cl.members() == {1, 2} and cl.tree is not None
    assert [n.member_id for n in cl.tree.walk()] == [1, 2, 3, 4, 5]
    # calling it back in brings the branch back
    back = Venue("cascade-c3", "link 3", VenueStatus.JOINED, cascade=ref(3))
    ch = cl.apply(state.apply_event(2, Event(1, 2, VenueJoined("c2", back))))  # type: ignore[arg-type]
    assert {c.key[0] for c in ch} == {3, 4, 5} and all(c.old is None for c in ch)
    ch = cl.apply(state.apply_event(3, Event(1, 2, ConferenceEnded("c3"))))  # type: ignore[arg-type]
    assert {c.key[0] for c in ch} == {3, 4, 5} and all(c.new is None for c in ch)
    assert cl.members() == {1, 2}


def test_filters_by_member_subtree_status_mute_camera() -> None:
    fed = Federation.of(
        Member(m, m - 1 if m > 1 else None, m, DOMAINS[m], f"M{m}", f"user{m}") for m in DOMAINS
    )
    state = chain()
    cl = ControlList(state, 1, "c1")

    def seen(f: VenueFilter) -> set[str]:
        return {k[2] for k, v in cl.venues.items() if f.admits(v)}

    assert seen(VenueFilter.build(fed, None)) == ids(cl)
    assert seen(VenueFilter.build(fed, None, members=[4])) == {
        f"m{m}{x}" for m in (4, 5) for x in "abc"
    }
    assert seen(VenueFilter.build(fed, 2, members=None)) == {
        f"m{m}{x}" for m in (2, 3, 4, 5) for x in "abc"
    }
    joined = VenueFilter.build(fed, None, status=["joined"])
    assert seen(joined) == {f"m{m}a" for m in range(1, 6)}
    state.apply_event(2, Event(1, 1, MuteChanged("c2", "m2a", True)))
    cl.apply([])  # nothing pending; rebuild for the new state below
    cl = ControlList(state, 1, "c1")
    assert seen(VenueFilter.build(fed, None, muted=True)) == {"m2a"}
    assert "m2a" not in seen(VenueFilter.build(fed, None, muted=False))
    assert seen(VenueFilter.build(fed, None, camera_on=False)) == set()
    with pytest.raises(FederationError):  # a city admin cannot name the province
        VenueFilter.build(fed, 2, members=[1])
    with pytest.raises(FederationError):
        VenueFilter.build(fed, None, status=["dancing"])


def test_tree_json_prunes_outside_scope() -> None:
    cl = ControlList(chain(), 1, "c1")
    assert cl.tree is not None
    full = tree_json(cl.tree, None, set(), cl.via)
    assert full is not None and full["member_id"] == 1 and full["venue"] is None
    assert full["children"][0]["venue"] == "cascade-c2"  # type: ignore[index]
    assert tree_json(cl.tree, frozenset({2, 3, 4, 5}), set()) is None
    sub = ControlList(chain(), 2, "c2")
    assert sub.tree is not None
    part = tree_json(sub.tree, frozenset({2, 3}), set())
    assert part is not None and part["children"][0]["children"] == []  # type: ignore[index]


def _random_event(rng: random.Random, state: CascadeState, m: int, seq: int) -> Event:
    confs = state.conferences(m)
    conf = rng.choice(confs)
    plain = [v for v in conf.venues if v.cascade is None]
    roll = rng.random()
    if roll < 0.05 and m > 1:
        # the member's federation meeting ends or restarts
        if conf.number == f"c{m}":
            return Event(1, seq, ConferenceEnded(conf.number))
    if roll < 0.1 and f"c{m}" not in {c.number for c in confs}:
        venues = (venue(f"m{m}a"),) + ((link(m + 1),) if m < 5 else ())
        return Event(
            1,
            seq,
            ConferenceStarted(Conference(f"c{m}", "again", ConferenceKind.VMR, venues=venues)),
        )
    v = rng.choice(plain) if plain else None
    if v is None or roll < 0.3:
        return Event(1, seq, VenueJoined(conf.number, venue(f"r{rng.randrange(20)}")))
    if roll < 0.5:
        return Event(1, seq, VenueLeft(conf.number, v.id, "left"))
    if roll < 0.8:
        return Event(1, seq, MuteChanged(conf.number, v.id, not v.muted))
    return Event(1, seq, StatsUpdated(conf.number, v.id, STATS))


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("seed", range(8))
def test_incremental_list_equals_rebuilt_after_random_run_and_reconnect(
    seed: int, lazy: bool
) -> None:
    rng = random.Random(seed)
    state = chain()
    cl = ControlList(state, 1, "c1", lazy=lazy)
    seqs = dict.fromkeys(DOMAINS, 0)
    for step in range(600):
        m = rng.randrange(1, 6)
        if rng.random() < 0.03:  # a link drops and comes back with a snapshot of new state
            cl.set_stale(m, True)
            confs = tuple(state.conferences(m))
            kept = tuple(
                Conference(
                    c.number,
                    c.name,
                    c.kind,
                    c.layout,
                    c.started_at,
                    c.venues[: rng.randrange(len(c.venues) + 1)],
                )
                for c in confs
            )
            seqs[m] = 0
            before = dict(cl.venues)
            applied = cl.apply(state.apply_snapshot(m, Snapshot(step + 2, 0, kept)))
            applied += cl.settle()
            for c in applied:  # the member's venues, or a branch below it cut off
                assert before.get(c.key) == c.old and cl.venues.get(c.key) == c.new
            cl.set_stale(m, False)
            assert not any(v.stale for v in cl.venues.values())
            continue
        seqs[m] += 1
        epoch = state.position(m)[0]
        ev = _random_event(rng, state, m, seqs[m])
        ev = Event(epoch or 1, seqs[m], ev.change)
        out = state.apply_event(m, ev)
        assert isinstance(out, list), out
        before = dict(cl.venues)
        changes = cl.apply(out)
        if rng.random() < 0.3:  # a lazy list settles at the flush, not at every event
            for c in changes:
                assert before.get(c.key) == c.old and cl.venues.get(c.key) == c.new
            before = dict(cl.venues)
            changes = cl.settle()
        for c in changes:  # each change moves the list from old to new
            assert before.get(c.key) == c.old
            assert cl.venues.get(c.key) == c.new
    cl.settle()
    fresh = ControlList(state, 1, "c1")
    assert cl.venues == fresh.venues
    assert cl.tree == fresh.tree
