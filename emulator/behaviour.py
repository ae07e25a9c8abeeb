"""How an emulated member server behaves: latencies, call outcomes, call statistics.

Role: pure decisions drawn from a seeded ``random.Random`` so runs are reproducible.
``emulator.member`` asks these functions what happens and when, then makes it happen.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from hub.conference import CallStats


class CallOutcome(StrEnum):
    ANSWER = "answer"
    BUSY = "busy"
    NO_ANSWER = "no answer"
    OFFLINE = "venue offline"


@dataclass(frozen=True, slots=True)
class Behaviour:
    """Knobs of an emulated member (seconds, probabilities 0..1).

    ``latency`` bounds how long any command takes to act; ``ring`` how long a call rings
    before it is answered; ``p_busy``/``p_no_answer``/``p_offline`` are the chances a
    call to a reachable venue fails so; ``p_command_fail`` the chance any other command
    fails ("device did not respond"). ``stats_interval`` is how often joined venues
    report call statistics (0 = never).
    """

    latency: tuple[float, float] = (0.05, 0.4)
    ring: tuple[float, float] = (1.0, 4.0)
    p_busy: float = 0.05
    p_no_answer: float = 0.05
    p_offline: float = 0.03
    p_command_fail: float = 0.01
    stats_interval: float = 5.0

    def __post_init__(self) -> None:
        for name in ("p_busy", "p_no_answer", "p_offline", "p_command_fail"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within 0..1")
        if self.p_busy + self.p_no_answer + self.p_offline > 1.0:
            raise ValueError("call failure chances add up to more than 1")
        for lo, hi in (self.latency, self.ring):
            if not 0.0 <= lo <= hi:
                raise ValueError("ranges must be (low, high) with 0 <= low <= high")

    @classmethod
    def instant(cls) -> Behaviour:
        """No latency, no failures, no statistics: for tests that need determinism."""
        return cls((0.0, 0.0), (0.0, 0.0), 0.0, 0.0, 0.0, 0.0, 0.0)


def command_latency(rng: random.Random, b: Behaviour) -> float:
    return rng.uniform(*b.latency)


def command_fails(rng: random.Random, b: Behaviour) -> bool:
    return rng.random() < b.p_command_fail


def call_outcome(rng: random.Random, b: Behaviour, reachable: bool) -> tuple[float, CallOutcome]:
    """How long the call rings and how it ends; an unreachable venue is always offline."""
    ring = rng.uniform(*b.ring)
    if not reachable:
        return min(ring, 1.0), CallOutcome.OFFLINE
    draw = rng.random()
    if draw < b.p_offline:
        return min(ring, 1.0), CallOutcome.OFFLINE
    if draw < b.p_offline + b.p_busy:
        return min(ring, 0.5), CallOutcome.BUSY
    if draw < b.p_offline + b.p_busy + b.p_no_answer:
        return b.ring[1] * 2, CallOutcome.NO_ANSWER
    return ring, CallOutcome.ANSWER


# Resolutions a video endpoint steps through as its bandwidth changes.
_LADDER = ((1920, 1080, 4000), (1280, 720, 2000), (960, 540, 1200), (640, 360, 600), (320, 180, 0))


def initial_stats(rng: random.Random) -> CallStats:
    """A healthy call just after connecting."""
    tx = rng.choice((2048, 3072, 4096))
    return CallStats(
        tx_kbps=tx,
        rx_kbps=int(tx * rng.uniform(0.85, 1.0)),
        loss_pct=round(rng.uniform(0.0, 0.3), 2),
        jitter_ms=round(rng.uniform(2, 12), 1),
        rtt_ms=round(rng.uniform(15, 60), 1),
        width=1920 if tx >= 4000 else 1280,
        height=1080 if tx >= 4000 else 720,
        fps=30.0,
    )


def evolve_stats(prev: CallStats, rng: random.Random, dip: bool = False) -> CallStats:
    """One step of a mean-reverting random walk; ``dip`` forces a quality drop.

    Loss and jitter rise together with RTT in a dip; the encoder answers with a lower
    bitrate, then resolution and frame rate follow the bitrate down the ladder.
    """
    loss = prev.loss_pct * 0.6 + rng.uniform(0.0, 0.4)
    jitter = prev.jitter_ms * 0.7 + rng.uniform(2.0, 6.0)
    rtt = prev.rtt_ms * 0.8 + rng.uniform(5.0, 15.0)
    if dip:
        loss += rng.uniform(3.0, 15.0)
        jitter += rng.uniform(20.0, 80.0)
        rtt += rng.uniform(50.0, 250.0)
    target = 4096 * max(0.1, 1.0 - loss / 20.0)
    tx = int(max(128, min(6000, prev.tx_kbps + (target - prev.tx_kbps) * 0.5)))
    rx = int(max(64, tx * rng.uniform(0.8, 1.0) * (1.0 - loss / 100.0)))
    width, height, _ = next(step for step in _LADDER if tx >= step[2])
    fps = 30.0 if loss < 2 else 25.0 if loss < 5 else 15.0
    return CallStats(
        tx_kbps=tx,
        rx_kbps=rx,
        loss_pct=round(min(loss, 100.0), 2),
        jitter_ms=round(min(jitter, 60_000.0), 1),
        rtt_ms=round(min(rtt, 60_000.0), 1),
        width=width,
        height=height,
        fps=fps,
    )
