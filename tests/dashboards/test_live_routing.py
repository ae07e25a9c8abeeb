"""Commands through the Broker: a node without the links reaches the node that has them.

Two live hubs share one broker (in memory, standing for Redis): node "a" owns the
member links (real ones, to the emulator over loopback), node "b" owns none.
"""

from __future__ import annotations

import pytest

from controllers.manager import LinkManager
from dashboards.livehub import LiveHub
from emulator.behaviour import Behaviour
from emulator.federation import build_demo_federation, serve_federation
from hub.broker import InMemoryBroker
from tests.controllers.linkkit import QUICK, configs, live_for
from tests.dashboards.livekit import until

pytestmark = pytest.mark.timeout(60)

SPECS = build_demo_federation(9, cities=1, counties=1, townships=1, villages=(1, 1))[:2]


async def test_a_command_issued_on_another_node_reaches_the_link_owner() -> None:
    running = await serve_federation(SPECS, behaviour=Behaviour.instant())
    broker = InMemoryBroker("shared", spans_nodes=True)
    live = live_for(SPECS)
    a = LiveHub(live, broker, node="a")
    live.subscribe(lambda change: a.publish_deltas(list(change.deltas)))
    manager = LinkManager(configs(SPECS, running.urls), live=live, settings=QUICK)
    a.serve_commands(manager)
    b = LiveHub(live_for(SPECS), broker, node="b")
    b.serve_commands(LinkManager([], live=live_for(SPECS)))  # b has no links: it must not answer
    await manager.start()
    try:
        await until(lambda: manager.all_up() and live.in_sync(1), what="links up")
        member = running.federation.members[SPECS[0].key]
        conf = SPECS[0].meeting
        venue = next(
            v
            for v in member.world.snapshot().conferences[0].venues
            if v.status == "joined" and v.cascade is None
        )
        kind = "unmute" if venue.muted else "mute"
        r = await b.route(1, kind, (conf, venue.id), None, 5.0, "routed-1")
        assert (r.id, r.status, r.reason) == ("routed-1", "ok", "")
        assert member.world.venue(conf, venue.id).muted is not venue.muted  # type: ignore[union-attr]
        # the deltas reached node b's fan-out through the same broker
        assert b.fanout.counters.deltas_in > 0
        # nobody owns member 99: the issuer answers timeout after the deadline
        r = await b.route(99, "mute", (conf, venue.id), None, 0.2, "routed-2")
        assert r.status == "timeout" and "no node" in r.reason
        # and the in-memory broker of one node does not pretend to reach others
        assert not LiveHub(live_for(SPECS), InMemoryBroker()).routes_commands
    finally:
        await manager.stop()
        await a.stop()
        await b.stop()
        await running.close()
