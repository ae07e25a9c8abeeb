"""The message parser on the corpus (valid round-trips, invalid statuses) and details."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sip.errors import SipParseError
from sip.headers import CSeq
from sip.message import Limits, SipRequest, SipResponse, parse_message
from sip.uri import SipUri
from tests.sip.conftest import request

CORPUS = Path(__file__).parent / "corpus"
VALID = sorted((CORPUS / "valid").glob("*.sip"))
INVALID = sorted((CORPUS / "invalid").glob("*.sip"))


def test_corpus_is_there() -> None:
    assert len(VALID) >= 25 and len(INVALID) >= 45


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_corpus_parses_and_round_trips(path: Path) -> None:
    msg = parse_message(path.read_bytes())
    wire = msg.to_bytes()
    again = parse_message(wire)
    assert again == msg
    assert again.to_bytes() == wire  # serialization is a fixed point
    # every typed accessor works on valid messages
    assert msg.top_via == msg.vias[0]
    assert msg.cseq.seq >= 0 and msg.call_id and msg.from_ and msg.to
    msg.contacts  # noqa: B018


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_corpus_is_rejected_with_its_status(path: Path) -> None:
    with pytest.raises(SipParseError) as exc:
        parse_message(path.read_bytes())
    assert exc.value.status == int(path.stem[:3])
    assert exc.value.reason


RFC4475 = CORPUS / "rfc4475"


@pytest.mark.parametrize("path", sorted(RFC4475.glob("*.sip")), ids=lambda p: p.stem)
def test_rfc4475_invalid_messages_parse_as_listed(path: Path) -> None:
    expected = json.loads((RFC4475 / "answers.json").read_text())[path.stem]["parse"]
    if expected == "ok":  # invalid, but in a header a redirector never reads
        msg = parse_message(path.read_bytes())
        assert parse_message(msg.to_bytes()) == msg
        return
    with pytest.raises(SipParseError) as exc:
        parse_message(path.read_bytes())
    assert exc.value.status == expected


def _big(n_headers: int = 0, line: int = 0, vias: int = 1, body: int = 0) -> bytes:
    extra = "".join(f"X-H{i}: v\r\n" for i in range(n_headers))
    if line:
        extra += "X-Long: " + "a" * line + "\r\n"
    extra += "".join(f"Via: SIP/2.0/UDP p{i};branch=z9hG4bK{i}\r\n" for i in range(vias - 1))
    return request(extra=extra, body=b"x" * body)


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (_big(n_headers=101), 513),
        (_big(line=9000), 513),
        (_big(body=70_000), 513),
        (_big(vias=71), 483),
        (b"\x00" * 10, 400),
        (b"", 400),
        (b"\r\n\r\n", 400),
    ],
    ids=[
        "too-many-headers",
        "line-too-long",
        "too-large",
        "too-many-vias",
        "nuls",
        "empty",
        "crlf",
    ],
)
def test_limits(data: bytes, status: int) -> None:
    with pytest.raises(SipParseError) as exc:
        parse_message(data)
    assert exc.value.status == status


def test_limits_are_configurable() -> None:
    assert parse_message(_big(n_headers=101), Limits(max_headers=200))
    with pytest.raises(SipParseError) as exc:
        parse_message(_big(), Limits(max_message_size=100))
    assert exc.value.status == 513


def test_request_accessors() -> None:
    msg = parse_message(
        request(
            "INVITE",
            "sip:2001@alpha.example.com;user=phone",
            extra="Contact: <sip:a@192.0.2.1>;expires=30, sip:b@192.0.2.2\r\n"
            "Require: 100rel\r\nrequire: timer\r\nExpires: 99999999999\r\nUser-Agent: ua/1\r\n",
            body=b"v=0\r\n",
        )
    )
    assert isinstance(msg, SipRequest)
    assert msg.method == "INVITE" and msg.uri.user == "2001" and msg.uri.param("user") == "phone"
    assert msg.cseq == CSeq(1, "INVITE") and msg.max_forwards == 70
    assert [c.param("expires") for c in msg.contacts] == ["30", None]
    assert msg.require == ("100rel", "timer")
    assert msg.expires == 2**32 - 1  # RFC 3261 §20.19: larger values are capped
    assert msg.user_agent == "ua/1" and msg.header("USER-agent") == "ua/1"
    assert msg.body == b"v=0\r\n" and msg.content_length == 5
    assert msg.top_via.rport_requested and msg.from_.tag == "from-1" and msg.to.tag is None


def test_compact_and_canonical_names() -> None:
    msg = parse_message((CORPUS / "valid" / "compact-forms.sip").read_bytes())
    names = [name for name, _ in msg.headers]
    assert names[:5] == ["Via", "From", "To", "Call-ID", "CSeq"]
    assert "Supported" in names and "Content-Length" in names
    assert msg.header("k") == msg.header("supported") == "path, gruu"
    assert msg.header_values("supported") == ["path", "gruu"]


def test_folding_is_joined() -> None:
    msg = parse_message((CORPUS / "valid" / "folding-and-tabs.sip").read_bytes())
    assert msg.header("subject") == "a subject spread over three lines"
    assert msg.from_.display_name == "Folded Name" and msg.from_.tag == "f1"
    assert msg.cseq == CSeq(1, "OPTIONS") and msg.top_via.branch == "z9hG4bKfold"


def test_body_is_cut_at_content_length_and_nuls_kept() -> None:
    cut = parse_message((CORPUS / "valid" / "content-length-shorter-than-body.sip").read_bytes())
    assert cut.body == b"hello"
    nul = parse_message((CORPUS / "valid" / "nul-in-body.sip").read_bytes())
    assert nul.body == b"\x00\x01\x02\r\n\r\n\x00\xff\x00"


def test_missing_content_length_takes_the_rest_of_the_datagram() -> None:
    data = request(body=b"abc").replace(b"Content-Length: 3\r\n", b"")
    assert parse_message(data).body == b"abc"


def test_response() -> None:
    msg = parse_message((CORPUS / "valid" / "response-180.sip").read_bytes())
    assert isinstance(msg, SipResponse)
    assert (msg.status, msg.reason, msg.to.tag) == (180, "Ringing", "r180")


def test_lazy_headers_raise_the_typed_error() -> None:
    msg = parse_message(request(extra="Contact: *, <sip:a@192.0.2.4>\r\n"))
    with pytest.raises(SipParseError):
        msg.contacts  # noqa: B018
    star = parse_message(request(extra="Contact: *\r\nExpires: 0\r\n"))
    assert star.contact_wildcard and star.contacts == () and star.expires == 0


def test_build_validates_and_serializes() -> None:
    uri = SipUri("sip", host="example.com", user="bob")
    req = SipRequest("OPTIONS", uri, (("Call-ID", "x"), ("Content-Length", "99")), b"ab")
    wire = req.to_bytes()
    assert wire.startswith(b"OPTIONS sip:bob@example.com SIP/2.0\r\nCall-ID: x\r\n")
    assert b"Content-Length: 2\r\n\r\nab" in wire  # always the real length
    with pytest.raises(SipParseError):
        SipRequest("BAD METHOD", uri)
    with pytest.raises(SipParseError):
        SipRequest("OPTIONS", uri, (("X", "a\r\nInjected: 1"),))
    with pytest.raises(SipParseError):
        SipRequest("OPTIONS", uri, (("Bad Name", "v"),))
    with pytest.raises(SipParseError):
        SipResponse(700, "Nope")
    with pytest.raises(SipParseError):
        SipResponse(200, "O\nK")
    assert SipResponse(200, "OK").to_bytes() == b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"


def test_version_is_case_insensitive() -> None:
    data = request().replace(b" SIP/2.0\r\n", b" sip/2.0\r\n", 1)
    assert parse_message(data).to_bytes().split(b"\r\n")[0].endswith(b"SIP/2.0")
