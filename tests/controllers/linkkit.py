"""Shared helpers for link tests: cheap argon2 hashes, hub configs for emulated members."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

from argon2 import PasswordHasher

from controllers.config import LinkSettings, MemberLinkConfig
from emulator.spec import EmulatedMemberSpec

# Cheap parameters keep hundreds of members fast; production uses argon2-cffi defaults.
FAST = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)

# Short timers so timeouts show within a second.
QUICK = LinkSettings(
    heartbeat_interval=0.2,
    heartbeat_timeout=0.8,
    handshake_timeout=2.0,
    snapshot_timeout=2.0,
    backoff_base=0.05,
    backoff_cap=0.3,
    stable_after=0.5,
    close_timeout=0.5,
)


def configs(specs: Iterable[EmulatedMemberSpec], urls: dict[str, str]) -> list[MemberLinkConfig]:
    return [
        MemberLinkConfig(i, s.domain, urls[s.key], s.username, FAST.hash(s.password))
        for i, s in enumerate(specs, start=1)
    ]


async def until(check: Callable[[], bool], within: float = 10.0, what: str = "") -> None:
    """Wait until ``check()`` holds; fail the test with ``what`` after ``within`` seconds."""
    end = time.monotonic() + within
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.02)
