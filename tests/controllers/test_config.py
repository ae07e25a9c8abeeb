"""Link destinations: the URL shape (normalised before use) and the allowed networks."""

from __future__ import annotations

import ipaddress

import pytest

from controllers.config import ConfigError, LinkSettings, MemberLinkConfig
from tests.controllers.linkkit import FAST

HASH = FAST.hash("Str0ng!pass")


def config(url: str) -> MemberLinkConfig:
    return MemberLinkConfig(7, "m.example", url, "m-link", HASH)


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("wss://Member.Example:8443/fed/link", "wss://member.example:8443/fed/link"),
        ("wss://member.example/fed/link/", "wss://member.example:443/fed/link"),
        ("ws://127.0.0.1:9000/fed/link/m.example", "ws://127.0.0.1:9000/fed/link/m.example"),
        ("WS://[::1]:9000/fed/link", "ws://[::1]:9000/fed/link"),
    ],
)
def test_urls_are_normalised(url: str, normalised: str) -> None:
    assert config(url).url == normalised


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ws://127.0.0.1:70000/fed/link", "port must be a number in 1..65535"),
        ("ws://127.0.0.1:0/fed/link", "port must be a number in 1..65535"),
        ("ws://127.0.0.1:x/fed/link", "port must be a number in 1..65535"),
        ("ws://127.0.0.1:9000/fed/link/../../internal/admin", "no dot segments"),
        ("ws://127.0.0.1:9000/fed/link/..", "no dot segments"),
        ("ws://127.0.0.1:9000/fed/link/%2e%2e/admin", "no dot segments"),
        ("ws://127.0.0.1:9000/fed/link/a/b", "no dot segments"),
        ("ws://127.0.0.1:9000/fed/linkage", "link path must be"),
        ("ws://127.0.0.1:9000/admin", "link path must be"),
        ("ws://127.0.0.1:9000/fed/link?next=/admin", "query"),
        ("ws://127.0.0.1:9000/fed/link#x", "query or fragment"),
        ("wss://user:pw@member.example/fed/link", "credentials"),
        ("ws://10.1.2.3:9000/fed/link", "loopback only"),
        ("http://member.example/fed/link", "must be wss://"),
        ("wss://member.example/fed/link\nHost: x", "must be wss://"),
    ],
)
def test_bad_destinations_are_refused_with_the_reason(url: str, words: str) -> None:
    with pytest.raises(ConfigError, match="member 7") as info:
        config(url)
    assert words in str(info.value)


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def test_special_addresses_need_an_allowed_network() -> None:
    default = LinkSettings()
    assert default.destination_refusal([ip("10.20.0.5"), ip("203.0.113.7")]) is None
    for special in ("127.0.0.1", "::1", "169.254.169.254", "fe80::1", "0.0.0.0", "224.0.0.1"):
        assert "special" in str(default.destination_refusal([ip(special)])), special
    mapped = default.destination_refusal([ip("::ffff:127.0.0.1")])
    assert mapped is not None
    # a name resolving to one public and one loopback address is refused as a whole
    assert default.destination_refusal([ip("203.0.113.7"), ip("127.0.0.1")]) is not None
    lab = LinkSettings(allowed_networks=("127.0.0.0/8", "10.0.0.0/8"))
    assert lab.destination_refusal([ip("127.0.0.1"), ip("10.9.9.9")]) is None
    assert "not in the allowed link networks" in str(lab.destination_refusal([ip("192.0.2.1")]))
    assert "not in the allowed" in str(lab.destination_refusal([ip("::1")]))
    with pytest.raises(ConfigError, match="allowed link network"):
        LinkSettings(allowed_networks=("10.0.0.0/33",))
