"""One-click call progress, pure: top-down dials, failures below a failure, recall."""

from __future__ import annotations

import pytest

from hub.calls import CallAll, CallError, Invitee, venue_counts
from hub.conference import CascadeRef, Conference, ConferenceKind, Venue, VenueStatus

# province 1 -> cities 2, 3 -> county 4 (under 2)
PEOPLE = [
    Invitee(1, "prov.example", "m1", None),
    Invitee(2, "c2.prov.example", "m2", 1),
    Invitee(3, "c3.prov.example", "m3", 1),
    Invitee(4, "k4.c2.prov.example", "m4", 2),
    Invitee(5, "k5.c3.prov.example", "", 3),
]


def no_links(member: int, conf: str, child: str) -> str:
    return ""


def test_top_down_and_each_result_once() -> None:
    call = CallAll.plan("x", (1, "m1"), PEOPLE, 0.0)
    assert call.members[1].status == "acknowledged"
    assert call.members[5].status == "failed" and "VMR" in call.members[5].reason
    first = call.due(lambda m, c, child: "cascade-m3" if child == "m3" else "", 0.0)
    assert [(d.member_id, d.from_member, d.from_conference, d.venue, d.number) for d in first] == [
        (2, 1, "m1", "", "m2"),
        (3, 1, "m1", "cascade-m3", ""),
    ]
    assert call.due(no_links, 0.1) == []  # county 4 waits for city 2
    call.settled(2, "ok", "", 0.2)
    with pytest.raises(CallError):
        call.settled(2, "ok", "", 0.2)  # exactly one result per dial
    (d,) = call.due(no_links, 0.3)
    assert (d.member_id, d.from_member, d.from_conference) == (4, 2, "m2")
    call.settled(3, "failed", "busy", 0.4)
    assert call.state == "running"
    call.settled(4, "timeout", "", 0.5)
    assert call.state == "done" and call.finished == 0.5
    view = call.as_dict({}, None)
    statuses = {m["member_id"]: (m["status"], m["reason"]) for m in view["members"]}  # type: ignore[index,union-attr]
    assert statuses[3] == ("failed", "busy") and statuses[4][0] == "timeout"


def test_members_below_a_failure_are_not_reached_and_recall_retries() -> None:
    people = [*PEOPLE[:4], Invitee(6, "v6.k4.c2.prov.example", "m6", 4)]
    call = CallAll.plan("x", (1, "m1"), people, 0.0)
    for d in call.due(no_links, 0.0):
        call.settled(d.member_id, "failed" if d.member_id == 2 else "ok", "no answer", 0.1)
    call.due(no_links, 0.2)
    assert call.members[4].reason.startswith("not reached: c2.prov.example")
    call.due(no_links, 0.2)
    assert call.members[6].status == "failed" and call.state == "done"
    assert sorted(call.recall(1.0)) == [2, 4, 6]
    assert call.state == "running" and call.finished is None
    (d,) = call.due(no_links, 1.1)
    assert d.member_id == 2 and call.members[2].attempts == 2
    with pytest.raises(CallError):
        CallAll.plan("y", (1, "m1"), [PEOPLE[1]], 0.0)  # an invitee before its inviter


def test_venue_counts_leave_cascade_links_out() -> None:
    conf = Conference(
        "m1",
        "x",
        ConferenceKind.VMR,
        venues=(
            Venue("a", "A", VenueStatus.JOINED),
            Venue("b", "B", VenueStatus.RINGING),
            Venue("c", "C", VenueStatus.FAILED, reason="busy"),
            Venue("l", "L", VenueStatus.JOINED, cascade=CascadeRef("c2.prov.example", "m2")),
        ),
    )
    assert venue_counts(conf) == {"joined": 1, "ringing": 1, "failed": 1, "not_joined": 0}
    assert venue_counts(None)["joined"] == 0
