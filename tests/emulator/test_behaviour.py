"""Behaviour: reproducible decisions and realistic call statistics."""

from __future__ import annotations

import random

import pytest

from emulator.behaviour import (
    Behaviour,
    CallOutcome,
    call_outcome,
    command_latency,
    evolve_stats,
    initial_stats,
)


def test_same_seed_same_decisions() -> None:
    b = Behaviour()
    runs = []
    for _ in range(2):
        rng = random.Random(42)
        runs.append([(command_latency(rng, b), call_outcome(rng, b, True)) for _ in range(50)])
    assert runs[0] == runs[1]


def test_call_outcomes_follow_the_configured_chances() -> None:
    rng = random.Random(1)
    b = Behaviour(p_busy=0.2, p_no_answer=0.1, p_offline=0.1)
    outcomes = [call_outcome(rng, b, True)[1] for _ in range(4000)]
    share = {o: outcomes.count(o) / len(outcomes) for o in CallOutcome}
    assert share[CallOutcome.BUSY] == pytest.approx(0.2, abs=0.03)
    assert share[CallOutcome.NO_ANSWER] == pytest.approx(0.1, abs=0.03)
    assert share[CallOutcome.ANSWER] == pytest.approx(0.6, abs=0.03)
    assert {call_outcome(rng, b, False)[1] for _ in range(20)} == {CallOutcome.OFFLINE}


def test_stats_stay_healthy_and_dip_realistically() -> None:
    rng = random.Random(7)
    stats = initial_stats(rng)
    for _ in range(200):
        stats = evolve_stats(stats, rng)
    assert stats.loss_pct < 2 and stats.fps == 30 and stats.tx_kbps > 2000
    dipped = evolve_stats(evolve_stats(stats, rng, dip=True), rng, dip=True)
    assert dipped.loss_pct > 3 and dipped.tx_kbps < stats.tx_kbps
    assert dipped.rtt_ms > stats.rtt_ms and dipped.fps < 30
    assert dipped.height <= stats.height
    recovered = dipped
    for _ in range(30):
        recovered = evolve_stats(recovered, rng)
    assert recovered.loss_pct < 2 and recovered.tx_kbps > dipped.tx_kbps


@pytest.mark.parametrize(
    "kwargs",
    [
        {"p_busy": 1.5},
        {"p_busy": 0.5, "p_no_answer": 0.4, "p_offline": 0.2},
        {"latency": (2.0, 1.0)},
    ],
)
def test_behaviour_validates(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        Behaviour(**kwargs)
