"""End to end with sipp (-sf scenarios): REGISTER → 302, INVITE → 302 → ACK, flood control.

Skipped only when sipp is missing and FEDHUB_REQUIRE_SIPP is unset (CI sets it).
All traffic stays on loopback addresses.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import pytest

from sip.service import RedirectService, RedirectSettings
from tests.sip.conftest import make_table
from tests.sip.sipp import injection, run_sipp, scenario, sipp_args, sipp_available
from tests.support.clock import ManualClock

if not sipp_available():
    if os.environ.get("FEDHUB_REQUIRE_SIPP"):
        raise RuntimeError("sipp is required (FEDHUB_REQUIRE_SIPP is set) but not installed")
    pytest.skip("sipp is not installed", allow_module_level=True)

CALLS = 20


@pytest.fixture
async def service(tmp_path: Path):  # type: ignore[no-untyped-def]
    svc = RedirectService(make_table())
    await svc.start(
        RedirectSettings(host="127.0.0.1", udp_port=0, tcp_port=0, tls_port=None, rate=0)
    )
    yield svc
    await svc.stop()


def _contacts(messages: str) -> list[str]:
    return re.findall(r"^SIP/2\.0 302 .*?^Contact: (.*?)\r?$", messages, re.M | re.S)


@pytest.mark.parametrize(("transport", "sipp_t"), [("udp", "u1"), ("tcp", "t1")])
async def test_register_302(
    service: RedirectService, tmp_path: Path, transport: str, sipp_t: str
) -> None:
    suffix = ";transport=tcp" if transport == "tcp" else ""
    expected = f"<sip:127.0.0.11:5060{suffix}>;expires=3600"
    scen = scenario("register_302", tmp_path, re.escape(expected))
    inf = injection(tmp_path, [("1001", "alpha.example.com"), ("1002", "ALPHA.example.com")])
    target = f"127.0.0.1:{service.ports[transport]}"
    result = await run_sipp(
        sipp_args(target, scen, inf, tmp_path, calls=CALLS, rate=50, transport=sipp_t), tmp_path
    )
    assert result.returncode == 0, result.output
    assert (result.successful, result.failed) == (CALLS, 0)
    assert _contacts(result.messages) == [expected] * CALLS
    assert service.stats["answered.302"] == CALLS


@pytest.mark.parametrize(("transport", "sipp_t"), [("udp", "u1"), ("tcp", "t1")])
async def test_invite_302_ack(
    service: RedirectService, tmp_path: Path, transport: str, sipp_t: str
) -> None:
    suffix = ";transport=tcp" if transport == "tcp" else ""
    expected = f"<sip:2500@127.0.0.12:5070{suffix}>;expires=3600"
    scen = scenario("invite_302_ack", tmp_path, re.escape(expected))
    inf = injection(tmp_path, [("2500", "alpha.example.com")])  # number range beats domain
    target = f"127.0.0.1:{service.ports[transport]}"
    result = await run_sipp(
        sipp_args(target, scen, inf, tmp_path, calls=CALLS, rate=50, transport=sipp_t), tmp_path
    )
    assert result.returncode == 0, result.output
    assert (result.successful, result.failed) == (CALLS, 0)
    assert _contacts(result.messages) == [expected] * CALLS
    stats = service.stats
    assert stats["answered.302"] == CALLS and stats["absorbed.ACK"] == CALLS


async def test_flood_from_one_ip_is_throttled_while_another_is_served(tmp_path: Path) -> None:
    clock = ManualClock()  # frozen: the flood gets its burst and nothing more
    svc = RedirectService(make_table(), clock=clock.monotonic)
    await svc.start(
        RedirectSettings(
            host="127.0.0.1", udp_port=0, tcp_port=None, tls_port=None, rate=20, burst=10
        )
    )
    try:
        target = f"127.0.0.1:{svc.ports['udp']}"
        inf = injection(tmp_path, [("1001", "alpha.example.com")])
        expected = re.escape("<sip:127.0.0.11:5060>;expires=3600")
        flood_dir, calm_dir = tmp_path / "flood", tmp_path / "calm"
        flood_dir.mkdir()
        calm_dir.mkdir()
        flood_scen = scenario("register_302", flood_dir, expected, timeout_ms=1000)
        calm_scen = scenario("register_302", calm_dir, expected, timeout_ms=2000)
        flood, calm = await asyncio.gather(
            run_sipp(
                sipp_args(target, flood_scen, inf, flood_dir, calls=400, rate=200,
                          source="127.0.0.2", trace_msg=False, extra=("-nr",)),
                flood_dir,
            ),
            run_sipp(
                sipp_args(target, calm_scen, inf, calm_dir, calls=10, rate=5, source="127.0.0.3"),
                calm_dir,
            ),
        )  # fmt: skip
        assert calm.returncode == 0, calm.output
        assert (calm.successful, calm.failed) == (10, 0)
        assert flood.returncode != 0
        assert (flood.successful, flood.failed) == (10, 390)  # the burst of 10, then nothing
        assert svc.stats["rejected.rate-limit"] == 390
    finally:
        await svc.stop()


async def test_answers_ignore_maddr(service: RedirectService, tmp_path: Path) -> None:
    """A Via maddr naming another host does not divert the 302 away from sipp."""
    expected = "<sip:127.0.0.11:5060>;expires=3600"
    scen = scenario("register_302", tmp_path, re.escape(expected), via_extra=";maddr=127.0.0.9")
    inf = injection(tmp_path, [("1001", "alpha.example.com")])
    target = f"127.0.0.1:{service.ports['udp']}"
    result = await run_sipp(
        sipp_args(target, scen, inf, tmp_path, calls=CALLS, rate=50, transport="u1"), tmp_path
    )
    assert result.returncode == 0, result.output
    assert (result.successful, result.failed) == (CALLS, 0)
    assert "maddr=127.0.0.9" in result.messages
