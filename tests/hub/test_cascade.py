"""hub.cascade: snapshots, ordered events, resync, cascade trees, counts (no event loop)."""

from __future__ import annotations

import pytest

from hub.cascade import CascadeState, ConferenceDelta, NeedSnapshot, VenueDelta
from hub.conference import (
    CallStats,
    CameraChanged,
    CascadeRef,
    Conference,
    ConferenceEnded,
    ConferenceKind,
    ConferenceStarted,
    Event,
    InvalidRecord,
    LayoutChanged,
    MuteChanged,
    Snapshot,
    StatsUpdated,
    Venue,
    VenueFailed,
    VenueJoined,
    VenueLeft,
    VenueRinging,
    VenueStatus,
)

STATS = CallStats(2048, 2000, 0.1, 5.0, 30.0, 1280, 720, 30.0)


def venue(vid: str, status: VenueStatus = VenueStatus.JOINED, **kw: object) -> Venue:
    return Venue(vid, f"Venue {vid}", status, **kw)  # type: ignore[arg-type]


def conf(number: str, *venues: Venue) -> Conference:
    return Conference(number, f"Meeting {number}", ConferenceKind.VMR, "auto", 1.0, venues)


def linked(epoch: int = 7, seq: int = 10) -> CascadeState:
    s = CascadeState()
    s.bind_member(1, "a.example")
    s.apply_snapshot(1, Snapshot(epoch, seq, (conf("100", venue("v1"), venue("v2")),)))
    return s


def test_first_snapshot_yields_conference_and_venue_deltas() -> None:
    s = CascadeState()
    s.bind_member(1, "a.example")
    deltas = s.apply_snapshot(1, Snapshot(1, 0, (conf("100", venue("v1")),)))
    assert deltas == [
        ConferenceDelta(1, "100", conf("100")),
        VenueDelta(1, "100", "v1", venue("v1")),
    ]
    assert s.position(1) == (1, 0) and s.in_sync(1)


def test_snapshot_diff_reports_only_changes() -> None:
    s = linked()
    new = Snapshot(7, 20, (conf("100", venue("v1", muted=True)), conf("200")))
    deltas = s.apply_snapshot(1, new)
    assert VenueDelta(1, "100", "v1", venue("v1", muted=True)) in deltas
    assert VenueDelta(1, "100", "v2", None) in deltas
    assert ConferenceDelta(1, "200", conf("200")) in deltas
    assert len(deltas) == 3
    assert s.apply_snapshot(1, Snapshot(7, 21, ())) == [
        ConferenceDelta(1, "100", None),
        ConferenceDelta(1, "200", None),
    ]


def test_events_apply_in_order() -> None:
    s = linked()
    d = s.apply_event(1, Event(7, 11, MuteChanged("100", "v1", True)))
    assert d == [VenueDelta(1, "100", "v1", venue("v1", muted=True))]
    assert s.position(1) == (7, 11)


def test_stale_event_is_ignored() -> None:
    s = linked()
    assert s.apply_event(1, Event(7, 10, MuteChanged("100", "v1", True))) == []
    assert s.venue(1, "100", "v1") == venue("v1")


def test_gap_needs_snapshot_and_refuses_until_one_arrives() -> None:
    s = linked()
    got = s.apply_event(1, Event(7, 12, MuteChanged("100", "v1", True)))
    assert isinstance(got, NeedSnapshot) and "gap" in got.reason
    nxt = s.apply_event(1, Event(7, 11, MuteChanged("100", "v1", True)))
    assert isinstance(nxt, NeedSnapshot)  # never guess, even if this one would fit
    s.apply_snapshot(1, Snapshot(7, 12, (conf("100", venue("v1")),)))
    assert s.apply_event(1, Event(7, 13, CameraChanged("100", "v1", False)))


def test_new_epoch_needs_snapshot() -> None:
    s = linked()
    got = s.apply_event(1, Event(8, 1, MuteChanged("100", "v1", True)))
    assert isinstance(got, NeedSnapshot) and "epoch" in got.reason


def test_event_before_any_snapshot_needs_snapshot() -> None:
    s = CascadeState()
    s.bind_member(1, "a.example")
    assert isinstance(s.apply_event(1, Event(1, 1, ConferenceEnded("1"))), NeedSnapshot)


def test_contradicting_event_needs_snapshot() -> None:
    s = linked()
    got = s.apply_event(1, Event(7, 11, MuteChanged("100", "nope", True)))
    assert isinstance(got, NeedSnapshot) and "unknown venue" in got.reason
    s = linked()
    assert isinstance(s.apply_event(1, Event(7, 11, ConferenceEnded("999"))), NeedSnapshot)
    s = linked()
    assert isinstance(s.apply_event(1, Event(7, 11, ConferenceStarted(conf("100")))), NeedSnapshot)


def test_every_change_kind() -> None:
    s = linked(seq=0)
    changes = [
        ConferenceStarted(conf("200", venue("x"))),
        VenueRinging("200", venue("y", VenueStatus.RINGING)),
        VenueJoined("200", venue("y", stats=STATS)),
        StatsUpdated("200", "y", STATS),
        MuteChanged("200", "y", True),
        CameraChanged("200", "y", False),
        LayoutChanged("200", "2x2"),
        VenueFailed("200", "x", "busy"),
        VenueLeft("200", "y", "hung up"),
    ]
    for seq, change in enumerate(changes, start=1):
        assert not isinstance(s.apply_event(1, Event(7, seq, change)), NeedSnapshot)
    c = s.conference(1, "200")
    assert c is not None and c.layout == "2x2"
    assert s.venue(1, "200", "x") == venue("x", VenueStatus.FAILED, reason="busy")
    y = s.venue(1, "200", "y")
    assert y is not None and (y.status, y.muted, y.camera_on, y.stats, y.reason) == (
        VenueStatus.NOT_JOINED,
        True,
        False,
        None,
        "hung up",
    )
    assert s.apply_event(1, Event(7, 10, ConferenceEnded("200"))) == [
        ConferenceDelta(1, "200", None)
    ]
    assert s.conference(1, "200") is None


def test_counts_split_venues_by_status_and_cascade_links() -> None:
    s = CascadeState()
    s.bind_member(1, "a.example")
    link = venue("c", cascade=CascadeRef("b.example", "200"))
    s.apply_snapshot(
        1,
        Snapshot(
            1,
            0,
            (conf("100", venue("v1"), venue("v2", VenueStatus.FAILED, reason="offline"), link),),
        ),
    )
    counts = s.counts()
    assert counts["conferences"] == 1 and counts["cascade_links"] == 1
    assert counts["venues"] == {"joined": 1, "not_joined": 0, "ringing": 0, "failed": 1}
    assert counts["venues_total"] == 2
    assert s.counts(1) == counts


def _tree_state() -> CascadeState:
    s = CascadeState()
    for mid, domain in (
        (1, "p.example"),
        (2, "c1.p.example"),
        (3, "c2.p.example"),
        (4, "t.c1.p.example"),
    ):
        s.bind_member(mid, domain)
    ref = CascadeRef
    s.apply_snapshot(
        1,
        Snapshot(
            1,
            0,
            (
                conf(
                    "100",
                    venue("v"),
                    venue("l1", cascade=ref("c1.p.example", "200")),
                    venue("l2", VenueStatus.NOT_JOINED, cascade=ref("c2.p.example", "300")),
                    venue("l3", cascade=ref("ghost.example", "900")),
                ),
            ),
        ),
    )
    s.apply_snapshot(
        2, Snapshot(1, 0, (conf("200", venue("l4", cascade=ref("t.c1.p.example", "400"))),))
    )
    s.apply_snapshot(3, Snapshot(1, 0, (conf("300"),)))
    s.apply_snapshot(4, Snapshot(1, 0, (conf("400", venue("w")),)))
    return s


def test_cascade_tree_from_cascade_venues() -> None:
    s = _tree_state()
    tree = s.cascade_tree(1, "100")
    assert tree is not None
    nodes = {(n.domain, n.conference): n for n in tree.walk()}
    assert len(nodes) == 5
    assert nodes[("t.c1.p.example", "400")].member_id == 4
    assert nodes[("c2.p.example", "300")].link is VenueStatus.NOT_JOINED
    ghost = nodes[("ghost.example", "900")]
    assert ghost.member_id is None and not ghost.known
    assert s.federation_roots() == [(1, "100")]
    assert s.cascade_tree(1, "nope") is None


def test_cascade_tree_survives_a_loop() -> None:
    s = CascadeState()
    s.bind_member(1, "a")
    s.bind_member(2, "b")
    s.apply_snapshot(1, Snapshot(1, 0, (conf("1", venue("x", cascade=CascadeRef("b", "2"))),)))
    s.apply_snapshot(2, Snapshot(1, 0, (conf("2", venue("y", cascade=CascadeRef("a", "1"))),)))
    tree = s.cascade_tree(1, "1")
    assert tree is not None and len(list(tree.walk())) == 3
    assert s.federation_roots() == []


def test_forget_and_rebind_member() -> None:
    s = linked()
    s.bind_member(1, "renamed.example")
    assert s.forget_member(1) == [ConferenceDelta(1, "100", None)]
    assert s.forget_member(1) == []
    with pytest.raises(KeyError):
        s.apply_snapshot(1, Snapshot(1, 0))


@pytest.mark.parametrize(
    "build",
    [
        lambda: Venue("", "n", VenueStatus.JOINED),
        lambda: Venue("x" * 65, "n", VenueStatus.JOINED),
        lambda: Venue("v", "n", "sleeping"),  # type: ignore[arg-type]
        lambda: CallStats(1, 1, 101.0, 0, 0, 0, 0, 0),
        lambda: CallStats(-1, 1, 0, 0, 0, 0, 0, 0),
        lambda: CallStats(True, 1, 0, 0, 0, 0, 0, 0),
        lambda: Conference("1", "n", ConferenceKind.VMR, venues=(venue("a"), venue("a"))),
        lambda: Snapshot(1, 0, (conf("1"), conf("1"))),
        lambda: Event(1, 0, ConferenceEnded("1")),
        lambda: VenueJoined("1", venue("a", VenueStatus.RINGING)),
        lambda: VenueRinging("1", venue("a")),
    ],
)
def test_records_validate_when_built(build: object) -> None:
    with pytest.raises((InvalidRecord, ValueError)):
        build()  # type: ignore[operator]


def test_a_chain_of_self_cascades_stops_at_five_levels() -> None:
    """300 conferences chained by cascades (what a hostile member could report): the
    tree is built without recursion and cut at the federation's depth."""
    s = CascadeState()
    s.bind_member(1, "a")
    links = [
        conf(str(n), venue(f"l{n}", cascade=CascadeRef("a", str(n + 1)))) for n in range(1, 300)
    ]
    chain = (*links, conf("300"))
    s.apply_snapshot(1, Snapshot(1, 0, chain))
    assert s.federation_roots() == [(1, "1")]
    tree = s.cascade_tree(1, "1")
    assert tree is not None
    nodes = list(tree.walk())
    assert [n.conference for n in nodes] == ["1", "2", "3", "4", "5"]
    assert nodes[-1].cut and not nodes[-1].children
    depth, node = 1, tree.as_dict()
    while node["children"]:
        node = node["children"][0]  # type: ignore[index]
        depth += 1
    assert depth == 5 and node["cut"] is True
