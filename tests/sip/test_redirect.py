"""The redirect policy: who gets which answer, and how responses are addressed."""

from __future__ import annotations

import pytest

from sip.message import SipRequest, SipResponse, parse_message
from sip.redirect import (
    ALLOWED_METHODS,
    MemberServer,
    Origin,
    RedirectPolicy,
    RoutingTable,
    redirect,
    response_address,
    stamp_via,
)
from tests.sip.conftest import ALPHA, BETA, request

UDP = Origin("udp", "127.0.0.1", 5999)
TCP = Origin("tcp", "127.0.0.1", 40000)
TLS = Origin("tls", "127.0.0.1", 40001)


def _req(data: bytes) -> SipRequest:
    msg = parse_message(data)
    assert isinstance(msg, SipRequest)
    return msg


def answer(table: RoutingTable, data: bytes, origin: Origin = UDP, **policy: object) -> SipResponse:
    response = redirect(_req(data), origin, table, RedirectPolicy(**policy))  # type: ignore[arg-type]
    assert response is not None
    # every response is valid SIP that round-trips
    assert parse_message(response.to_bytes()) == response
    return response


def contact(response: SipResponse) -> str:
    assert response.status == 302
    value = response.header("contact")
    assert value is not None
    return value


@pytest.mark.parametrize(
    ("origin", "to", "expected"),
    [
        (UDP, "<sip:1001@alpha.example.com>", "<sip:127.0.0.11:5060>;expires=3600"),
        (UDP, "<sip:1001@ALPHA.Example.com.>", "<sip:127.0.0.11:5060>;expires=3600"),
        (TCP, "<sip:1001@alpha.example.com>", "<sip:127.0.0.11:5060;transport=tcp>;expires=3600"),
        (TLS, "<sip:1001@alpha.example.com>", "<sip:127.0.0.11:5061;transport=tls>;expires=3600"),
        (TLS, "<sips:1001@alpha.example.com>", "<sips:127.0.0.11:5061>;expires=3600"),
        (UDP, "<sip:2001@beta.example.com>", "<sip:127.0.0.12:5070>;expires=3600"),
    ],
)
def test_register_goes_to_the_owner_of_the_to_domain(
    table: RoutingTable, origin: Origin, to: str, expected: str
) -> None:
    response = answer(table, request("REGISTER", to=to, transport=origin.transport.upper()), origin)
    assert contact(response) == expected
    assert response.header("expires") == "3600"
    assert response.reason == "Moved Temporarily"


def test_sips_request_uri_keeps_tls(table: RoutingTable) -> None:
    response = answer(table, request("INVITE", "sips:1500@redirect.example.net"), TLS)
    assert contact(response) == "<sips:1500@127.0.0.11:5061>;expires=3600"
    # beta has no TLS: a sips target cannot be honoured, and is never downgraded
    assert answer(table, request("INVITE", "sips:2500@redirect.example.net"), TLS).status == 480
    assert answer(table, request("REGISTER", to="<sip:a@beta.example.com>"), TLS).status == 480


@pytest.mark.parametrize(
    ("ruri", "expected"),
    [
        ("sip:1500@redirect.example.net", "<sip:1500@127.0.0.11:5060>;expires=3600"),
        ("sip:2999@alpha.example.com", "<sip:2999@127.0.0.12:5070>;expires=3600"),  # range wins
        ("sip:bob@beta.example.com", "<sip:bob@127.0.0.12:5070>;expires=3600"),  # by domain
        ("sip:5000@alpha.example.com", "<sip:5000@127.0.0.11:5060>;expires=3600"),
        (
            "sip:%31%35%30%30@x.example;user=phone",
            "<sip:1500@127.0.0.11:5060;user=phone>;expires=3600",
        ),
        ("tel:1-500", "<sip:1500@127.0.0.11:5060;user=phone>;expires=3600"),
    ],
)
@pytest.mark.parametrize("method", ["INVITE", "MESSAGE", "SUBSCRIBE"])
def test_calls_go_to_the_owner_of_the_number(
    table: RoutingTable, method: str, ruri: str, expected: str
) -> None:
    assert contact(answer(table, request(method, ruri))) == expected


@pytest.mark.parametrize(
    ("method", "ruri", "to"),
    [
        ("REGISTER", "sip:redirect.example.net", "<sip:1001@unknown.example.com>"),
        ("REGISTER", "sip:redirect.example.net", "<tel:+1001>"),
        ("INVITE", "sip:5000@unknown.example.com", "<sip:x@y>"),
        ("INVITE", "tel:+5000", "<sip:x@y>"),
        ("INVITE", "sip:1234567890123456@unknown.example.com", "<sip:x@y>"),
    ],
)
def test_unknown_domain_or_number_is_404(
    table: RoutingTable, method: str, ruri: str, to: str
) -> None:
    assert answer(table, request(method, ruri, to=to)).status == 404


def test_never_redirects_to_the_request_uri_itself(table: RoutingTable) -> None:
    assert answer(table, request("INVITE", "sip:1500@127.0.0.11")).status == 482
    assert answer(table, request("INVITE", "sip:1500@127.0.0.11:5060")).status == 482
    assert answer(table, request("REGISTER", "sip:127.0.0.11:5060")).status == 482
    assert answer(table, request("INVITE", "sip:1500@127.0.0.11:5080")).status == 302


def test_ack_is_absorbed_cancel_and_options_get_200(table: RoutingTable) -> None:
    assert redirect(_req(request("ACK", "sip:1500@alpha.example.com")), UDP, table) is None
    cancel = answer(table, request("CANCEL", "sip:1500@alpha.example.com"))
    assert cancel.status == 200 and cancel.header("contact") is None
    options = answer(table, request("OPTIONS", "sip:redirect.example.net"))
    assert options.status == 200 and options.header("allow") == ", ".join(ALLOWED_METHODS)


@pytest.mark.parametrize("method", ["BYE", "INFO", "PUBLISH", "NOTIFY", "UPDATE", "FOO"])
def test_other_methods_are_405_with_allow(table: RoutingTable, method: str) -> None:
    response = answer(table, request(method, "sip:1500@alpha.example.com"))
    assert response.status == 405
    assert set(response.header_values("allow")) == set(ALLOWED_METHODS)


def test_max_forwards_zero_is_483_except_options(table: RoutingTable) -> None:
    data = request("INVITE", "sip:1500@x").replace(b"Max-Forwards: 70", b"Max-Forwards: 0")
    assert answer(table, data).status == 483
    options = request("OPTIONS", "sip:x").replace(b"Max-Forwards: 70", b"Max-Forwards: 0")
    assert answer(table, options).status == 200


def test_unsupported_require_is_420(table: RoutingTable) -> None:
    response = answer(
        table, request(extra="Require: 100rel, path\r\n"), supported=frozenset({"path"})
    )
    assert response.status == 420 and response.header("unsupported") == "100rel"


def test_register_tls_only(table: RoutingTable) -> None:
    assert answer(table, request(), UDP, register_tls_only=True).status == 403
    assert answer(table, request(transport="TLS"), TLS, register_tls_only=True).status == 302


def test_response_copies_dialog_headers_and_tags_to(table: RoutingTable) -> None:
    data = request("INVITE", "sip:1500@x", call_id="abc@host", cseq=77)
    response = answer(table, data)
    assert response.header("from") == "<sip:caller@alpha.example.com>;tag=from-1"
    assert response.call_id == "abc@host" and str(response.cseq) == "77 INVITE"
    tag = response.to.tag
    assert tag is not None and len(tag) == 16
    # deterministic: a retransmission gets the same tag, the CANCEL too
    assert answer(table, data).to.tag == tag
    assert answer(table, request("CANCEL", "sip:1500@x", call_id="abc@host", cseq=77)).to.tag == tag
    # another transaction gets another tag; an existing tag is kept
    assert answer(table, request("INVITE", "sip:1500@x", call_id="other")).to.tag != tag
    tagged = answer(table, request("INVITE", "sip:1500@x", to="<sip:1500@x>;tag=keep"))
    assert tagged.to.tag == "keep"


def test_via_received_and_rport() -> None:
    origin = Origin("udp", "192.0.2.9", 6000)
    req = _req(request(via_host="10.0.0.5:5062", via_params=";rport"))
    stamped = stamp_via(req.top_via, origin)
    assert (stamped.received, stamped.rport) == ("192.0.2.9", 6000)
    assert response_address(req.top_via, origin) == ("192.0.2.9", 6000)
    plain = _req(request(via_host="10.0.0.5:5062", via_params=""))
    assert stamp_via(plain.top_via, origin).received == "192.0.2.9"
    assert stamp_via(plain.top_via, origin).rport is None
    assert response_address(plain.top_via, origin) == ("192.0.2.9", 5062)  # sent-by port
    same = _req(request(via_host="192.0.2.9", via_params=""))
    assert stamp_via(same.top_via, origin) == same.top_via  # nothing to add
    assert response_address(same.top_via, origin) == ("192.0.2.9", 5060)
    assert response_address(same.top_via, Origin("tls", "192.0.2.9", 1)) == ("192.0.2.9", 5061)
    # maddr is ignored: answers go to the source, never to an address the request names
    maddr = _req(request(via_host="10.0.0.5:5062", via_params=";maddr=127.0.0.9"))
    assert response_address(maddr.top_via, origin) == ("192.0.2.9", 5062)
    named = _req(request(via_host="10.0.0.5:5062", via_params=";rport;maddr=victim.example"))
    assert response_address(named.top_via, origin) == ("192.0.2.9", 6000)


def test_only_the_top_via_is_stamped(table: RoutingTable) -> None:
    data = request(
        "INVITE", "sip:1500@x", via_params=";rport, SIP/2.0/UDP proxy;branch=z9hG4bKp"
    ).replace(b"Max-Forwards", b"Via: SIP/2.0/TCP far;branch=z9hG4bKf\r\nMax-Forwards")
    response = answer(table, data, Origin("udp", "127.0.0.2", 7000))
    assert response.header_lines("via") == [
        "SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-test-1;rport=7000;received=127.0.0.2, "
        "SIP/2.0/UDP proxy;branch=z9hG4bKp",
        "SIP/2.0/TCP far;branch=z9hG4bKf",
    ]


def test_routing_table_validation_and_lookups() -> None:
    table = RoutingTable.of([ALPHA, BETA], lambda n: 2 if n == "42" else None)
    assert table.by_member(1) == ALPHA and table.by_domain("BETA.example.com.") == BETA
    assert table.by_number("42") == BETA and table.by_number("+42") is None
    assert table.by_number("4" * 16) is None
    with pytest.raises(ValueError):
        RoutingTable({"wrong": ALPHA})
    with pytest.raises(ValueError):
        RoutingTable.of([ALPHA, MemberServer(1, "other.example.com", "h")])
    with pytest.raises(ValueError):
        MemberServer(1, "bad domain", "h")
    with pytest.raises(ValueError):
        MemberServer(1, "a.example.com", "h", port=0)
    with pytest.raises(TypeError):
        table.servers["x"] = ALPHA  # type: ignore[index]


def test_contact_expires_policy(table: RoutingTable) -> None:
    response = answer(table, request(), contact_expires=60)
    assert contact(response) == "<sip:127.0.0.11:5060>;expires=60"
    assert response.header("expires") == "60"
    with pytest.raises(ValueError):
        RedirectPolicy(contact_expires=-1)
