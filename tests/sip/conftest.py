"""Shared fixtures for the SIP tests: a two-member routing table and message builders."""

from __future__ import annotations

import pytest

from sip.config import number_plan
from sip.headers import parse_cseq, parse_name_addr, parse_vias
from sip.message import CALL_ID_RE, SipResponse, parse_message
from sip.redirect import MemberServer, RoutingTable

ALPHA = MemberServer(1, "alpha.example.com", "127.0.0.11", 5060, 5061)
BETA = MemberServer(2, "beta.example.com", "127.0.0.12", 5070, None)
RANGES = [
    {"member_id": 1, "start": "1000", "end": "1999"},
    {"member_id": 2, "start": "2000", "end": "2999"},
]


def make_table() -> RoutingTable:
    return RoutingTable.of([ALPHA, BETA], number_plan(RANGES).resolve)


@pytest.fixture
def table() -> RoutingTable:
    return make_table()


def request(
    method: str = "REGISTER",
    ruri: str = "sip:redirect.example.net",
    *,
    to: str = "<sip:1001@alpha.example.com>",
    transport: str = "UDP",
    via_host: str = "127.0.0.1:5999",
    via_params: str = ";rport",
    branch: str = "z9hG4bK-test-1",
    call_id: str = "call-1@client",
    cseq: int = 1,
    extra: str = "",
    body: bytes = b"",
) -> bytes:
    """A well-formed request; `extra` is inserted as ready-made header lines (CRLF-ended)."""
    head = (
        f"{method} {ruri} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} {via_host};branch={branch}{via_params}\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:caller@alpha.example.com>;tag=from-1\r\n"
        f"To: {to}\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} {method}\r\n"
        f"{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


ECHOED = ("Via", "From", "To", "Call-ID", "CSeq")


def check_answer(data: bytes) -> tuple[int, list[str]]:
    """(status, the echoed headers present, in order) of an answer the redirector sent,
    asserting that it is valid SIP: every header it carries parses, and it parses as
    a whole unless it is an error answer to a request that lacked a valid From, To,
    Call-ID or CSeq (those are left out rather than echoed malformed)."""
    head = data.decode("utf-8", "surrogateescape").split("\r\n\r\n", 1)[0].split("\r\n")
    version, code, _ = head[0].split(" ", 2)
    assert version == "SIP/2.0" and code.isdigit(), head[0]
    present: list[str] = []
    for line in head[1:]:
        name, _, value = line.partition(": ")
        if name not in ECHOED:
            continue
        present.append(name)
        if name == "Via":
            parse_vias(value)
        elif name in ("From", "To"):
            parse_name_addr(value)
        elif name == "Call-ID":
            assert CALL_ID_RE.fullmatch(value), value
        else:
            parse_cseq(value)
    assert present.count("Via") >= 1
    if all(name in present for name in ECHOED):
        assert isinstance(parse_message(data), SipResponse)
    else:
        assert int(code) >= 400, head[0]
    return int(code), present


@pytest.fixture(scope="session")
def event_loop_policy() -> object:
    """Run the asyncio tests of the SIP package on uvloop, as production does."""
    import uvloop

    return uvloop.EventLoopPolicy()
