"""Token buckets, scanner detection, and log-line throttling (pure, fake clock)."""

from __future__ import annotations

import pytest

from sip.guard import RateLimiter, RateSpec, RejectLog, is_scanner


def test_bucket_allows_burst_then_rate() -> None:
    limiter = RateLimiter(RateSpec(rate=10, burst=5))
    assert [limiter.allow("a", 0.0) for _ in range(7)] == [True] * 5 + [False] * 2
    assert limiter.allow("b", 0.0)  # other sources have their own bucket
    assert not limiter.allow("a", 0.05)  # half a token
    assert limiter.allow("a", 0.11)
    assert not limiter.allow("a", 0.11)
    allowed = sum(limiter.allow("a", 1.0 + i / 1000) for i in range(1000))  # 1 s at 1000/s
    assert 9 <= allowed <= 16  # ~rate plus what refilled meanwhile


def test_zero_rate_disables_and_configure_changes_in_place() -> None:
    limiter = RateLimiter(RateSpec(rate=0, burst=1))
    assert all(limiter.allow("a", 0.0) for _ in range(1000))
    limiter.configure(RateSpec(rate=1, burst=2))
    assert [limiter.allow("a", 5.0) for _ in range(3)] == [True, True, False]
    with pytest.raises(ValueError):
        RateSpec(rate=-1, burst=1)
    with pytest.raises(ValueError):
        RateSpec(rate=1, burst=0)


def test_memory_is_bounded() -> None:
    limiter = RateLimiter(RateSpec(rate=1, burst=2), max_sources=100)
    for i in range(1000):
        limiter.allow(f"10.0.{i // 256}.{i % 256}", 0.0)
        assert len(limiter) <= 100


@pytest.mark.parametrize(
    "ua",
    [
        "friendly-scanner",
        "sipvicious 0.3.3",
        "SIPCLI/v1.8",
        "VaxSIPUserAgent/3.1",
        "sundayddr",
        "sip-scan",
        "Sivus",
        "smap 0.6",
        "PPLSIP",
    ],
)
def test_scanners(ua: str) -> None:
    assert is_scanner(ua)


@pytest.mark.parametrize("ua", [None, "", "Yealink SIP-T46S", "Linphone/5.2", "sipp-fedhub-test"])
def test_not_scanners(ua: str | None) -> None:
    assert not is_scanner(ua)


def test_reject_log_throttles_per_source_and_reason() -> None:
    log = RejectLog(interval=1.0)
    assert log.record("a", "rate-limit", 0.0) == 1
    assert [log.record("a", "rate-limit", 0.1 * i) for i in range(1, 10)] == [None] * 9
    assert log.record("a", "scanner", 0.5) == 1
    assert log.record("b", "rate-limit", 0.5) == 1
    assert log.record("a", "rate-limit", 1.2) == 10  # the line stands for the 10 since the last
    assert log.record("a", "rate-limit", 1.3) is None
