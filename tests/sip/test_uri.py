"""URIs: parse, serialize, round-trip, and the statuses of bad ones."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sip.errors import SipParseError
from sip.uri import AbsoluteUri, SipUri, parse_sip_uri, parse_uri

ROUND_TRIP = [
    "sip:alice@example.com",
    "SIP:alice@Example.COM",
    "sips:bob:pw@[2001:db8::1]:5061;transport=tls;lr?subject=hi%20there&x=",
    "sip:%61lice;par=u%40ex@example.com",
    "sip:user;x=1@host:5060;maddr=192.0.2.1",
    "sip:host.example.com.",
    "sip:_sip._udp.example.com",
    "tel:+1-201-555-0123;phone-context=example.com",
    "sip:a@b;param=%3Bsemi%3D",
]


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_round_trip(text: str) -> None:
    uri = parse_sip_uri(text)
    assert parse_sip_uri(str(uri)) == uri


def test_components_are_decoded() -> None:
    uri = parse_sip_uri("sips:%61lice:p%40ss@Example.COM:5061;transport=TLS;lr?h=%20v")
    assert uri.scheme == "sips" and uri.secure
    assert (uri.user, uri.password, uri.host, uri.port) == ("alice", "p@ss", "Example.COM", 5061)
    assert uri.host_key == "example.com"
    assert uri.param("TRANSPORT") == "TLS" and uri.has_param("lr") and uri.param("lr") is None
    assert uri.headers == (("h", " v"),)
    assert str(uri) == "sips:alice:p%40ss@Example.COM:5061;transport=TLS;lr?h=%20v"


def test_ipv6_and_tel() -> None:
    assert parse_sip_uri("sip:[::1]:5070").host == "::1"
    tel = parse_sip_uri("tel:+12015550123;ext=7")
    assert (tel.scheme, tel.user, tel.host, tel.param("ext")) == ("tel", "+12015550123", "", "7")


def test_user_may_hold_semicolons_and_question_marks() -> None:
    uri = parse_sip_uri("sip:1001;npdi?x@example.com")
    assert uri.user == "1001;npdi?x" and uri.host == "example.com"


def test_absolute_uri_only_when_allowed() -> None:
    assert parse_uri("urn:service:sos", allow_absolute=True) == AbsoluteUri("urn", "service:sos")
    with pytest.raises(SipParseError) as exc:
        parse_uri("urn:service:sos")
    assert exc.value.status == 416


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("http://example.com/", 416),
        ("mailto:a@example.com", 416),
        ("im:a@example.com", 416),
        ("no-scheme-here", 400),
        ("1sip:a@b", 400),
        ("sip:", 400),
        ("sip:a@", 400),
        ("sip:@example.com", 400),
        ("sip:a b@example.com", 400),
        ("sip:a@example.com:99999", 400),
        ("sip:a@example.com:", 400),
        ("sip:a@ex..ample.com", 400),
        ("sip:a@[::1", 400),
        ("sip:a@[nothex]", 400),
        ("sip:a%zz@example.com", 400),
        ("sip:a@example.com;;lr", 400),
        ("sip:a@example.com?", 400),
        ("sip:a@example.com?novalue", 400),
        ("sip:a@exa<mple.com", 400),
        ("tel:", 400),
        ("sip:a@b\x00c", 400),
    ],
)
def test_rejects(text: str, status: int) -> None:
    with pytest.raises(SipParseError) as exc:
        parse_sip_uri(text)
    assert exc.value.status == status


def test_validates_on_build() -> None:
    with pytest.raises(SipParseError):
        SipUri("sip", host="bad host")
    with pytest.raises(SipParseError) as exc:
        SipUri("http", host="example.com")
    assert exc.value.status == 416
    with pytest.raises(SipParseError):
        SipUri("sip", host="example.com", port=70000)
    with pytest.raises(SipParseError):
        SipUri("tel", host="example.com", user="123")


_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00\r\n"), max_size=12)
_hosts = st.one_of(
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?(\.[a-z0-9]{1,8}){0,3}", fullmatch=True),
    st.ip_addresses().map(str),
)
_pnames = st.from_regex(r"[a-z][a-z0-9\-]{0,8}", fullmatch=True)


@given(
    scheme=st.sampled_from(["sip", "sips"]),
    user=st.none() | _text.filter(bool),
    password=st.none() | _text,
    host=_hosts,
    port=st.none() | st.integers(0, 65535),
    params=st.lists(st.tuples(_pnames, st.none() | _text), max_size=3),
    headers=st.lists(st.tuples(_pnames, _text), max_size=2),
)
def test_any_built_uri_round_trips(
    scheme: str,
    user: str | None,
    password: str | None,
    host: str,
    port: int | None,
    params: list[tuple[str, str | None]],
    headers: list[tuple[str, str]],
) -> None:
    uri = SipUri(
        scheme,
        host=host,
        user=user,
        password=password if user is not None else None,
        port=port,
        params=tuple(params),
        headers=tuple(headers),
    )
    assert parse_sip_uri(str(uri)) == uri
