"""Via, name-addr and CSeq values; list splitting."""

from __future__ import annotations

import pytest

from sip.errors import SipParseError
from sip.headers import (
    CSeq,
    NameAddr,
    Via,
    parse_cseq,
    parse_name_addr,
    parse_params,
    parse_via,
    parse_vias,
    salvage_via,
    split_values,
)
from sip.uri import AbsoluteUri, SipUri


def test_via_fields_and_round_trip() -> None:
    via = parse_via(
        "SIP / 2.0 / tcp  [2001:db8::1] : 5070 ; branch = z9hG4bK1 ;rport;received=[::1]"
    )
    assert (via.transport, via.host, via.port) == ("TCP", "2001:db8::1", 5070)
    assert via.branch == "z9hG4bK1" and via.rport_requested and via.rport is None
    assert via.received == "[::1]"
    assert str(via) == "SIP/2.0/TCP [2001:db8::1]:5070;branch=z9hG4bK1;rport;received=[::1]"
    assert parse_via(str(via)) == via


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SIP/2.0/UDP a:5062;branch=b;rport", "SIP/2.0/UDP a:5062;branch=b;rport"),
        ("SIP/2.0/UDP 192.0.2.15;;,;,,", "SIP/2.0/UDP 192.0.2.15"),  # RFC 4475 §3.1.2.1
        ("SIP/7.0/UDP c.example.com;branch=z9", "SIP/2.0/UDP c.example.com;branch=z9"),
        (
            "SIP/2.0/tcp h ; branch=x;;rport=y;maddr=a..b;received=1.2.3.4",
            "SIP/2.0/TCP h;branch=x;received=1.2.3.4",
        ),
        ('SIP/2.0/UDP h;branch=x;p="a;b", SIP/2.0/UDP next', 'SIP/2.0/UDP h;branch=x;p="a;b"'),
    ],
)
def test_salvage_via_keeps_sent_by_and_good_params(text: str, expected: str) -> None:
    via = salvage_via(text)
    assert via is not None and str(via) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "garbage",
        "SIP/2.0/UDP",
        "HTTP/1.1/UDP h",
        "SIP/2.0/UDP h junk;branch=x",
        "SIP/2.0/UDP h:99999",
    ],
)
def test_salvage_via_needs_a_sent_by(text: str) -> None:
    assert salvage_via(text) is None


def test_via_with_param_replaces() -> None:
    via = parse_via("SIP/2.0/UDP h;rport;branch=b").with_param("rport", "5062")
    assert via.rport == 5062 and str(via) == "SIP/2.0/UDP h;branch=b;rport=5062"


def test_via_list() -> None:
    vias = parse_vias('SIP/2.0/UDP a;branch=1, SIP/2.0/TLS b:5061;branch=2;x="q,uoted"')
    assert [v.host for v in vias] == ["a", "b"] and vias[1].param("x") == '"q,uoted"'


@pytest.mark.parametrize(
    "text",
    [
        "SIP/2.0/UDP",
        "SIP/2.0 host",
        "SIP/3.0/UDP host",
        "SIP/2.0/UDP host:99999",
        "SIP/2.0/UDP host;rport=x",
        "SIP/2.0/UDP host;received=a..b",
        "SIP/2.0/UDP host;;branch=1",
        "SIP/2.0/UDP ho st",
        'SIP/2.0/UDP host;q="unterminated',
    ],
)
def test_via_rejects(text: str) -> None:
    with pytest.raises(SipParseError):
        parse_via(text)


def test_bare_params_have_no_value() -> None:
    assert parse_via("SIP/2.0/UDP host;branch").branch is None
    assert parse_name_addr("<sip:a@b>;tag").tag is None


def test_name_addr_forms() -> None:
    quoted = parse_name_addr(r'"\"Joe\" \\ Smith, Jr." <sip:joe@example.com;transport=tcp>;tag=a1')
    assert quoted.display_name == '"Joe" \\ Smith, Jr.'
    assert quoted.tag == "a1" and quoted.sip_uri is not None
    assert quoted.sip_uri.param("transport") == "tcp"
    tokens = parse_name_addr("Alice  Smith <sips:alice@example.com>")
    assert tokens.display_name == "Alice  Smith" and tokens.uri == SipUri(
        "sips", host="example.com", user="alice"
    )
    spec = parse_name_addr("sip:bob@example.com;tag=9;expires=30")
    assert spec.uri == SipUri("sip", host="example.com", user="bob")
    assert spec.params == (("tag", "9"), ("expires", "30"))
    other = parse_name_addr("<urn:service:sos>")
    assert other.uri == AbsoluteUri("urn", "service:sos") and other.sip_uri is None
    instance = parse_name_addr('sip:a@b;+sip.instance="<urn:uuid:1>"')
    assert instance.param("+sip.instance") == '"<urn:uuid:1>"'


@pytest.mark.parametrize(
    "text",
    [
        r'"\"Joe\" \\ Smith" <sip:joe@example.com>;tag=a1',
        "Alice <sip:alice@example.com>",
        "sip:bob@example.com;tag=9",
        '<sip:x@y>;expires=30;+sip.instance="<urn:uuid:1>"',
        '"会议室" <tel:+861012345>',
        "<urn:service:sos>",
    ],
)
def test_name_addr_round_trip(text: str) -> None:
    value = parse_name_addr(text)
    assert parse_name_addr(str(value)) == value


@pytest.mark.parametrize(
    "text",
    [
        '"unterminated <sip:a@b>',
        "<sip:a@b",
        "Bad@Display <sip:a@b>",
        '"name" sip:a@b',
        "<sip:a b@c>",
        "sip:a@b,c",
        "<sip:a@b>;=x",
        "",
    ],
)
def test_name_addr_rejects(text: str) -> None:
    with pytest.raises(SipParseError):
        parse_name_addr(text)


def test_name_addr_validates_on_build() -> None:
    with pytest.raises(SipParseError):
        NameAddr(SipUri("sip", host="h"), display_name="a\r\nb")
    with pytest.raises(SipParseError):
        NameAddr(SipUri("sip", host="h"), params=(("bad name", None),))


def test_cseq() -> None:
    assert parse_cseq("  42   INVITE ") == CSeq(42, "INVITE")
    assert str(CSeq(7, "REGISTER")) == "7 REGISTER"
    for bad in ["INVITE", "1", "-1 INVITE", "2147483648 INVITE", "1 INV ITE", "x INVITE"]:
        with pytest.raises(SipParseError):
            parse_cseq(bad)


def test_split_values_respects_quotes_and_angles() -> None:
    text = '"a,b" <sip:x>, <sip:y,z>;q=1, sip:w, "esc\\",aped" <sip:v>'
    assert split_values(text) == [
        '"a,b" <sip:x>',
        "<sip:y,z>;q=1",
        "sip:w",
        '"esc\\",aped" <sip:v>',
    ]
    with pytest.raises(SipParseError):
        split_values("a,,b")


def test_params() -> None:
    assert parse_params(' ; a = 1 ;b; c="x;y"') == (("a", "1"), ("b", None), ("c", '"x;y"'))
    assert parse_params("") == ()
    with pytest.raises(SipParseError):
        parse_params(";a=")


def test_via_validates_on_build() -> None:
    with pytest.raises(SipParseError):
        Via("udp", "host")
    with pytest.raises(SipParseError):
        Via("UDP", "bad host")
