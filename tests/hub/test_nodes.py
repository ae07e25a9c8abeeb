"""Node accounts, heartbeat health and the cluster file: each refusal with its reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.nodes import NodeError, NodeInfo, health, parse_cluster

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
BEAT = timedelta(seconds=15)


def test_node_info_canonicalises_and_refuses() -> None:
    n = NodeInfo("hub-1", "primary", "10.0.0.1", "2001:DB8::1", ("10.0.0.53",))
    assert n.public_address == "2001:db8::1"
    for kw, words in [
        ({"name": "-bad"}, "node name"),
        ({"name": "a" * 65}, "node name"),
        ({"role": "leader"}, "role must be"),
        ({"intranet_address": "hub.local"}, "intranet_address"),
        ({"public_address": "1.2.3"}, "public_address"),
        ({"dns_servers": ("8.8.8.8", "x")}, "dns_servers"),
        ({"dns_servers": ("1.1.1.1",) * 4}, "at most 3"),
    ]:
        values = {"name": "hub-1", "role": "primary", "intranet_address": "10.0.0.1", **kw}
        with pytest.raises(NodeError) as e:
            NodeInfo(**values)  # type: ignore[arg-type]
        assert words in e.value.message, kw


def test_health_grades_silence() -> None:
    assert health(T0, T0 + 2 * BEAT, BEAT) == "up"
    assert health(T0, T0 + 2 * BEAT + timedelta(seconds=1), BEAT) == "late"
    assert health(T0, T0 + 5 * BEAT, BEAT) == "late"
    assert health(T0, T0 + 6 * BEAT, BEAT) == "down"


GOOD = """
# the provincial hub
primary   hub-a 10.0.0.1
secondary hub-b 10.0.0.2   # same rack
secondary hub-c 10.0.0.3
"""


def test_cluster_file() -> None:
    plan = parse_cluster(GOOD)
    assert plan.primary.name == "hub-a" and plan.size == 3
    assert [n.address for n in plan.secondaries] == ["10.0.0.2", "10.0.0.3"]
    assert parse_cluster("primary solo 10.0.0.9").size == 1


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("primary a 10.0.0.1\nsecondary b 10.0.0.2", "2 nodes: a cluster needs an odd total"),
        ("secondary b 10.0.0.2\nsecondary c 10.0.0.3\nsecondary d 10.0.0.4", "no primary"),
        ("primary a 10.0.0.1\nprimary b 10.0.0.2\nsecondary c 10.0.0.3", "a second primary"),
        ("primary a 10.0.0.1\nsecondary a 10.0.0.2\nsecondary c 10.0.0.3", "listed twice"),
        ("primary a 10.0.0.1\nsecondary b 10.0.0.1\nsecondary c 10.0.0.3", "listed twice"),
        ("primary a 10.0.0.1\nsecondary b nowhere\nsecondary c 10.0.0.3", "line 2"),
        ("primary a", "line 1: expected"),
        ("leader a 10.0.0.1", "line 1: expected"),
        ("", "no primary"),
    ],
)
def test_cluster_file_refusals(text: str, words: str) -> None:
    with pytest.raises(NodeError) as e:
        parse_cluster(text)
    assert e.value.code == "invalid_cluster"
    assert words in e.value.message
