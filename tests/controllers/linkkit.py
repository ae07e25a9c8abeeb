"""Shared helpers for link tests: cheap argon2 hashes, hub configs and trust rules for
emulated members, and condition waits (woken by the links and the live state, never
by polling with sleeps)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from argon2 import PasswordHasher

from controllers.config import LinkSettings, MemberLinkConfig
from emulator.spec import EmulatedMemberSpec
from hub.federation import Federation, Member
from hub.live import LiveState
from hub.numbering import NumberPlan, NumberRange
from hub.trust import PlanRules

# Cheap parameters keep hundreds of members fast; production uses argon2-cffi defaults.
FAST = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)

LOOPBACK = ("127.0.0.0/8", "::1/128")

# Short timers so timeouts show within a second; emulated members live on loopback.
QUICK = LinkSettings(
    heartbeat_interval=0.2,
    heartbeat_timeout=0.8,
    handshake_timeout=2.0,
    snapshot_timeout=2.0,
    backoff_base=0.05,
    backoff_cap=0.3,
    stable_after=0.5,
    close_timeout=0.5,
    allowed_networks=LOOPBACK,
)


def configs(specs: Iterable[EmulatedMemberSpec], urls: dict[str, str]) -> list[MemberLinkConfig]:
    return [
        MemberLinkConfig(i, s.domain, urls[s.key], s.username, FAST.hash(s.password))
        for i, s in enumerate(specs, start=1)
    ]


def rules_for(specs: Sequence[EmulatedMemberSpec]) -> PlanRules:
    """The federation the hub would hold for ``specs`` (member ids 1, 2, … in order)."""
    ids = {s.key: i for i, s in enumerate(specs, start=1)}
    members = [
        Member(
            ids[s.key],
            ids[s.parent_key] if s.parent_key is not None else None,
            s.level,
            s.domain,
            s.display_name,
            s.username,
        )
        for s in specs
    ]
    ranges = [
        NumberRange(n, ids[s.key], r.type, r.start, r.end)
        for n, (s, r) in enumerate(((s, r) for s in specs for r in s.ranges), start=1)
    ]
    return PlanRules(Federation.of(members), NumberPlan(ranges))


def live_for(specs: Sequence[EmulatedMemberSpec]) -> LiveState:
    return LiveState(rules_for(specs))


class _Subscription(Protocol):
    def cancel(self) -> None: ...


class Watchable(Protocol):
    """Anything that calls a listener when it changes (LinkManager, LiveState)."""

    def subscribe(self, listener: Any) -> _Subscription: ...


async def until(
    check: Callable[[], bool],
    within: float = 10.0,
    what: str = "",
    *,
    watch: Sequence[Watchable],
) -> None:
    """Wait until ``check()`` holds, re-checking whenever one of ``watch`` reports a
    change; fail the test with ``what`` after ``within`` seconds."""
    if not watch:
        raise TypeError("until() needs something to watch")
    changed = asyncio.Event()

    def wake(*_: object) -> None:
        changed.set()

    subs = [w.subscribe(wake) for w in watch]
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    try:
        while not check():
            remaining = end - loop.time()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {what or check}")
            changed.clear()
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                if not check():
                    raise AssertionError(f"timed out waiting for {what or check}") from None
                return
    finally:
        for sub in subs:
            sub.cancel()
