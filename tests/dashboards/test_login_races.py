"""Strangers at the login, for real: a live hub (uvicorn on a loopback port), concurrent
logins over httpx, SQLite and PostgreSQL. The attempt is counted — per address and per
name — before any password is checked, so concurrency cannot buy extra guesses.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest

import dashboards.api.auth as auth_api
from dashboards.services import HubConfig
from tests.support.live_server import live_hub

WRONG = "not-the-password"


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A spy on the login's password check (the real argon2 check still runs): the
    passwords it was asked about, in order."""
    seen: list[str] = []
    real: Callable[[str | None, str], Awaitable[bool]] = auth_api.verify_password_async

    async def spy(phc: str | None, password: str) -> bool:
        seen.append(password)
        return await real(phc, password)

    monkeypatch.setattr(auth_api, "verify_password_async", spy)
    return seen


@pytest.fixture
def hub(hub_config: HubConfig) -> Iterator[str]:
    config = dataclasses.replace(
        hub_config,
        trusted_proxies=frozenset({"127.0.0.1"}),  # so each request can name its address
        links=False,
    )
    with live_hub(config) as base:
        yield base


async def _logins(base: str, attempts: list[tuple[str, str, str]]) -> list[httpx.Response]:
    """All at once: (address, username, password) each."""
    async with httpx.AsyncClient(base_url=base + "/api/v1", timeout=60) as c:
        return list(
            await asyncio.gather(
                *(
                    c.post(
                        "/auth/login",
                        json={"username": user, "password": pw},
                        headers={"X-Forwarded-For": ip},
                    )
                    for ip, user, pw in attempts
                )
            )
        )


def _login(base: str, user: str, pw: str, ip: str = "198.51.100.200") -> httpx.Response:
    return httpx.post(
        base + "/api/v1/auth/login",
        json={"username": user, "password": pw},
        headers={"X-Forwarded-For": ip},
        timeout=60,
    )


def test_forty_concurrent_wrong_logins_check_five_passwords(hub: str, checks: list[str]):
    """40 wrong passwords for one account from 40 addresses at once: exactly 5 are
    checked (the 5th locks), the other 35 are refused unchecked."""
    attempts = [(f"203.0.113.{i + 1}", "admin", WRONG) for i in range(40)]
    codes = [r.status_code for r in asyncio.run(_logins(hub, attempts))]
    assert len(checks) == 5, f"{len(checks)} passwords checked for one account at once"
    assert codes.count(401) == 4 and codes.count(423) == 36, codes
    assert _login(hub, "admin", "123456").status_code == 423  # the lock holds


def test_the_right_password_in_a_crowd_wins_only_before_the_lock(hub: str, checks: list[str]):
    """39 wrong and 1 right at once: the right one is refused unchecked once the lock is
    taken, and the lock stays; or it was one of the first 5 attempts, and its success
    restarts the count — which then allows at most 5 more checks (the 5th locks again).
    Never all 40 (before: every one was checked and the right one lifted the lock)."""
    attempts = [(f"203.0.113.{i + 1}", "admin", WRONG) for i in range(39)]
    attempts.append(("203.0.113.100", "admin", "123456"))
    rs = asyncio.run(_logins(hub, attempts))
    codes = [r.status_code for r in rs]
    assert set(codes) <= {200, 401, 423}, codes
    if rs[-1].status_code == 200:
        assert "123456" in checks[:5], checks
        assert len(checks) <= 5 + 5, f"{len(checks)} passwords checked"
    else:
        assert rs[-1].json()["error"]["code"] == "account_locked"
        assert "123456" not in checks and len(checks) <= 5, checks
        assert _login(hub, "admin", "123456").status_code == 423


def test_the_per_address_throttle_holds_under_concurrency(hub_config: HubConfig, checks):
    """40 logins at once from one address, 20 allowed: exactly 20 get through to a
    password check, 20 are told 429 with Retry-After."""
    config = dataclasses.replace(
        hub_config,
        ip_failures_per_window=20,
        trusted_proxies=frozenset({"127.0.0.1"}),
        links=False,
    )
    with live_hub(config) as base:
        attempts = [("192.0.2.7", f"ghost{i}", WRONG) for i in range(40)]
        rs = asyncio.run(_logins(base, attempts))
        codes = [r.status_code for r in rs]
        assert codes.count(429) == 20, codes
        assert codes.count(401) == 20
        assert len(checks) == 20
        assert all(int(r.headers["retry-after"]) >= 1 for r in rs if r.status_code == 429)
        # another address is not affected
        assert _login(base, "admin", "123456", ip="192.0.2.8").status_code == 200


def test_unknown_names_lock_like_accounts_under_concurrency(hub: str, checks: list[str]):
    """The same race against a name that is no account gives the same picture."""
    attempts = [(f"203.0.113.{i + 1}", "nobody-here", WRONG) for i in range(40)]
    codes = [r.status_code for r in asyncio.run(_logins(hub, attempts))]
    assert len(checks) <= 5
    assert codes.count(401) == 4 and codes.count(423) == 36, codes
