"""Scripted activity for demos and load: joins, leaves, muting, cameras, quality dips.

Role: one task drives every member of a process from one seeded RNG. ``Activity`` gives
expected actions per member per minute; ``Activity.flood`` asks for a total rate in
events per second instead (load tests), and members whose hub links are backed up are
skipped so the emulator never buffers without bound.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass

from emulator.member import EmulatedMember

KINDS = ("join_leave", "mute", "camera", "dip")
MAX_BACKLOG = 256
CHUNK = 2000


@dataclass(frozen=True, slots=True)
class Activity:
    """Expected actions per member per minute, by kind; or a total rate when flooding."""

    join_leave: float = 0.5
    mute: float = 1.0
    camera: float = 0.5
    dip: float = 0.3
    total_per_second: float | None = None

    @classmethod
    def flood(cls, events_per_second: float) -> Activity:
        """Mute/camera toggles and quality dips at ``events_per_second`` across all members."""
        return cls(0.0, 2.0, 1.0, 1.0, total_per_second=events_per_second)

    def weights(self) -> list[float]:
        return [self.join_leave, self.mute, self.camera, self.dip]

    def per_second(self, members: int) -> float:
        if self.total_per_second is not None:
            return self.total_per_second
        return sum(self.weights()) / 60.0 * members


async def drive(
    members: Sequence[EmulatedMember], activity: Activity, seed: int = 0, tick: float = 0.05
) -> None:
    """Run the script until cancelled."""
    rng = random.Random(f"activity:{seed}")
    rate = activity.per_second(len(members))
    weights = activity.weights()
    if rate <= 0 or not members or sum(weights) <= 0:
        return
    carry = 0.0
    while True:
        await asyncio.sleep(tick)
        carry = min(carry + rate * tick, rate)  # never owe more than a second's worth
        while carry >= 1:
            count = min(int(carry), CHUNK)
            carry -= count
            for kind in rng.choices(KINDS, weights, k=count):
                member = members[rng.randrange(len(members))]
                if member.frozen or any(o.backlog > MAX_BACKLOG for o in member.outlets):
                    continue
                member.random_action(kind)
            await asyncio.sleep(0)  # let the link writers drain between chunks
