"""Single sign-on tokens: valid once, for one member server, for a short while."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from controllers.auth import HubKey
from controllers.sso import MAX_TTL_S, SsoError, SsoVerifier, issue, sso_url

PASSWORD = "Member-Pass1"
PHC = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash(PASSWORD)
KEY = HubKey.from_phc(PHC)
NOW = 1_800_000_000.0


def member(domain: str = "c1.prov.gov", password: str = PASSWORD) -> SsoVerifier:
    return SsoVerifier(domain, password)


def test_a_token_signs_in_once() -> None:
    m = member()
    token = issue(KEY, domain="c1.prov.gov", admin="ops", now=NOW)
    sign_in = m.verify(token, NOW + 5)
    assert sign_in.admin == "ops" and sign_in.expires == NOW + 60
    with pytest.raises(SsoError, match="already used"):
        m.verify(token, NOW + 6)


def test_expired_foreign_forged_and_garbled_tokens_are_refused() -> None:
    token = issue(KEY, domain="c1.prov.gov", admin="ops", now=NOW, ttl=30)
    with pytest.raises(SsoError, match="expired"):
        member().verify(token, NOW + 30)
    with pytest.raises(SsoError, match="another member"):
        member("c2.prov.gov").verify(token, NOW)
    with pytest.raises(SsoError, match="bad signature"):
        member(password="Other-Pass1").verify(token, NOW)
    body, sig = token.split(".")
    other = issue(KEY, domain="c1.prov.gov", admin="root", now=NOW)
    with pytest.raises(SsoError, match="bad signature"):
        member().verify(f"{other.split('.')[0]}.{sig}", NOW)  # claims swapped under a signature
    for garbled in ("", "x", "a.b.c", "e30.AAAA", "x" * 5000):
        with pytest.raises(SsoError, match="malformed"):
            member().verify(garbled, NOW)
    with pytest.raises(SsoError, match="bad signature"):
        member().verify(f"{body}.!!", NOW)


def test_lifetimes_are_bounded() -> None:
    with pytest.raises(ValueError):
        issue(KEY, domain="d", admin="a", now=NOW, ttl=MAX_TTL_S + 1)
    late = issue(KEY, domain="c1.prov.gov", admin="ops", now=NOW + 3600)  # issued "later"
    with pytest.raises(SsoError, match="lifetime"):
        member().verify(late, NOW)


def test_the_link_sits_beside_the_member_link() -> None:
    assert sso_url("wss://m.example:8443/fed/link/c1", "c1", "T") == (
        "https://m.example:8443/fed/sso/c1?token=T"
    )
    assert sso_url("ws://127.0.0.1:9000/fed/link", "c1", "T").startswith("http://127.0.0.1:9000/")
