"""The sans-I/O pipeline: guards, error answers, addressing, counters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sip.endpoint import Endpoint
from sip.guard import RateSpec
from sip.message import SipResponse, parse_message
from sip.redirect import EMPTY_TABLE, Origin, RoutingTable
from tests.sip.conftest import ECHOED, check_answer, make_table, request

UDP = Origin("udp", "127.0.0.2", 5999)
INVALID = Path(__file__).parent / "corpus" / "invalid"


def _response(data: bytes | None) -> SipResponse:
    assert data is not None
    msg = parse_message(data)
    assert isinstance(msg, SipResponse)
    return msg


@pytest.fixture
def endpoint(table: RoutingTable) -> Endpoint:
    return Endpoint(table, rate=RateSpec(rate=0, burst=1))


def test_redirects_and_addresses(endpoint: Endpoint) -> None:
    out = endpoint.handle(request(via_params=""), UDP, 0.0)
    assert out.address == ("127.0.0.2", 5999) and out.rejection is None
    assert _response(out.data).status == 302
    tcp = endpoint.handle(request(transport="TCP"), Origin("tcp", "127.0.0.2", 40000), 0.0)
    assert tcp.address is None and _response(tcp.data).status == 302
    assert endpoint.stats["answered.302"] == 2 and endpoint.stats["received"] == 2


@pytest.mark.parametrize(
    "name",
    [
        "505-version-3",
        "416-http-request-uri",
        "400-cseq-method-mismatch",
        "400-max-forwards-too-large",
        "400-bad-port",
        "400-content-length-beyond-body",
        "400-two-call-ids",
    ],
)
def test_unparsable_requests_are_answered_with_their_status(endpoint: Endpoint, name: str) -> None:
    out = endpoint.handle((INVALID / f"{name}.sip").read_bytes(), UDP, 0.0)
    response = _response(out.data)
    assert response.status == int(name[:3])
    assert response.call_id.startswith("bad-")
    assert response.to.tag is not None
    assert out.rejection is not None and out.rejection.reason == "malformed"
    assert out.address == ("127.0.0.2", 5060)  # Via sent-by has no port


@pytest.mark.parametrize(
    ("name", "left_out"),
    [
        ("400-missing-call-id", ["Call-ID"]),
        ("400-missing-cseq", ["CSeq"]),
        ("400-missing-from", ["From"]),
        ("400-missing-to", ["To"]),
        ("400-unterminated-quote", ["From"]),
        ("400-cseq-too-large", ["CSeq"]),
        ("400-cseq-not-a-number", ["CSeq"]),
    ],
)
def test_a_routable_request_gets_400_echoing_what_parses(
    endpoint: Endpoint, name: str, left_out: list[str]
) -> None:
    out = endpoint.handle((INVALID / f"{name}.sip").read_bytes(), UDP, 0.0)
    assert out.data is not None, "a request whose top Via parses is answered"
    status, echoed = check_answer(out.data)
    assert status == 400
    assert echoed == [h for h in ECHOED if h not in left_out]
    assert out.address == ("127.0.0.2", 5060)
    assert out.rejection is not None and out.rejection.reason == "malformed"


@pytest.mark.parametrize(
    "cseq", ["2147483648 INVITE", "4294967296 INVITE", "99999999999 INVITE", "1", "x INVITE"]
)
def test_cseq_outside_31_bits_is_400_without_cseq(endpoint: Endpoint, cseq: str) -> None:
    data = request("INVITE", "sip:1500@x").replace(b"CSeq: 1 INVITE", f"CSeq: {cseq}".encode())
    out = endpoint.handle(data, UDP, 0.0)
    assert out.data is not None
    assert check_answer(out.data) == (400, ["Via", "From", "To", "Call-ID"])


def test_a_mangled_top_via_keeps_its_sent_by_and_branch(endpoint: Endpoint) -> None:
    data = request(via_host="192.0.2.7:5070", via_params=";;rport;=x;,;,")
    out = endpoint.handle(data, UDP, 0.0)
    assert out.data is not None and check_answer(out.data) == (400, list(ECHOED))
    via = b"Via: SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bK-test-1;rport=5999;received=127.0.0.2\r\n"
    assert via in out.data
    assert out.address == ("127.0.0.2", 5999)  # rport salvaged too


@pytest.mark.parametrize(
    "name",
    ["400-missing-via", "400-via-without-host", "400-bad-status-code"],
)
def test_unroutable_messages_are_dropped_but_logged(endpoint: Endpoint, name: str) -> None:
    out = endpoint.handle((INVALID / f"{name}.sip").read_bytes(), UDP, 0.0)
    assert out.data is None
    assert out.rejection is not None and out.rejection.reason == "malformed"


def test_ack_is_never_answered_even_malformed(endpoint: Endpoint) -> None:
    data = request("ACK", "sip:1500@x").replace(b"Call-ID: call-1@client\r\n", b"")
    out = endpoint.handle(data, UDP, 0.0)
    assert out.data is None and out.rejection is not None


RFC4475 = Path(__file__).parent / "corpus" / "rfc4475"
RFC4475_ANSWERS = {
    k: v for k, v in json.loads((RFC4475 / "answers.json").read_text()).items() if k[0] != "_"
}


def test_every_rfc4475_invalid_message_is_in_the_corpus() -> None:
    assert sorted(p.stem for p in RFC4475.glob("*.sip")) == sorted(RFC4475_ANSWERS)
    sections = sorted(int(v["section"].rsplit(".", 1)[1]) for v in RFC4475_ANSWERS.values())
    assert sections == list(range(1, 20))  # §3.1.2.1 to §3.1.2.19


@pytest.mark.parametrize("name", sorted(RFC4475_ANSWERS))
def test_rfc4475_invalid_messages_get_their_answer(endpoint: Endpoint, name: str) -> None:
    expected = RFC4475_ANSWERS[name]
    out = endpoint.handle((RFC4475 / f"{name}.sip").read_bytes(), UDP, 0.0)
    if expected["answer"] is None:
        assert out.data is None
        return
    assert out.data is not None
    assert check_answer(out.data) == (expected["answer"], expected["echo"])
    assert out.address is not None and out.address[0] == UDP.host


def test_huge_message_gets_513(endpoint: Endpoint) -> None:
    out = endpoint.handle(request(body=b"x" * 70_000), UDP, 0.0)
    assert _response(out.data).status == 513


def test_responses_keepalives_and_binary_are_ignored(endpoint: Endpoint) -> None:
    response = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n"
    response += b"To: <sip:a@b>;tag=2\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    for data in (response, b"\r\n\r\n", b"\r\n", b"\x00\x01\x00\x00!\x12\xa4B" + b"\x00" * 12):
        assert endpoint.handle(data, UDP, 0.0).data is None
    assert endpoint.stats["ignored.response"] == 1 and endpoint.stats["keepalive"] == 2
    assert endpoint.stats["ignored.binary"] == 1


def test_scanners_are_dropped_silently(endpoint: Endpoint) -> None:
    out = endpoint.handle(request("OPTIONS", extra="User-Agent: friendly-scanner\r\n"), UDP, 0.0)
    assert out.data is None
    assert out.rejection is not None and out.rejection.reason == "scanner"
    assert "friendly-scanner" in out.rejection.detail


def test_rate_limit_per_source(table: RoutingTable) -> None:
    endpoint = Endpoint(table, rate=RateSpec(rate=1, burst=3))
    outs = [endpoint.handle(request(), UDP, 0.0) for _ in range(10)]
    assert [o.data is not None for o in outs] == [True] * 3 + [False] * 7
    rejections = [o.rejection for o in outs if o.rejection is not None]
    assert len(rejections) == 1 and rejections[0].reason == "rate-limit"  # one line, not 7
    other = endpoint.handle(request(), Origin("udp", "127.0.0.3", 5999), 0.0)
    assert other.data is not None
    assert endpoint.stats["rejected.rate-limit"] == 7
    later = endpoint.handle(request(), UDP, 100.0)
    assert later.data is not None


def test_table_and_policy_swap_live(endpoint: Endpoint) -> None:
    endpoint.table = EMPTY_TABLE
    assert _response(endpoint.handle(request(), UDP, 0.0).data).status == 404
    endpoint.table = make_table()
    assert _response(endpoint.handle(request(), UDP, 0.0).data).status == 302


def test_lazy_header_errors_are_answered(endpoint: Endpoint) -> None:
    data = request("INVITE", "sip:1500@x", extra="Require: a b\r\n")
    out = endpoint.handle(data, UDP, 0.0)
    assert _response(out.data).status == 400
