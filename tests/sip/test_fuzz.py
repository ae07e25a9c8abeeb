"""Property tests: the parsers raise nothing but SipParseError, whatever the input."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sip.endpoint import Endpoint
from sip.errors import SipParseError
from sip.framing import StreamFramer
from sip.guard import RateSpec
from sip.message import parse_message
from sip.redirect import Origin
from tests.sip.conftest import check_answer, make_table

CORPUS = sorted((Path(__file__).parent / "corpus").glob("*/*.sip"))
SEEDS = [p.read_bytes() for p in CORPUS]
TOKENS = [
    b"\r\n",
    b"\r\n\r\n",
    b" ",
    b"\t",
    b":",
    b";",
    b",",
    b"<",
    b">",
    b'"',
    b"\\",
    b"%",
    b"@",
    b"\x00",
    b"\xff",
    b"sips:",
    b"tel:",
    b"[::1]",
    b"SIP/2.0",
    b"Content-Length: 9",
    b"\r\n ",
    b"=",
    b"?",
    b"&",
    b"9999999999",
    b"Via: SIP/2.0/UDP h",
    b"\n",
]


def _parse(data: bytes) -> None:
    try:
        msg = parse_message(data)
    except SipParseError:
        return
    # Accessors of a parsed message may only fail the typed way too.
    for name in ("vias", "contacts", "expires", "require", "content_length"):
        try:
            getattr(msg, name)
        except SipParseError:
            pass
    wire = msg.to_bytes()
    again = parse_message(wire)
    assert again.to_bytes() == wire  # serialization is canonical
    if msg.content_length is not None:  # (to_bytes adds the header when it is missing)
        assert again == msg


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["flip", "insert", "delete", "token", "dup"]))
        if op == "flip" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 16))]
        elif op == "token":
            data[pos:pos] = draw(st.sampled_from(TOKENS))
        elif op == "dup":
            end = min(len(data), pos + draw(st.integers(1, 64)))
            data[pos:pos] = data[pos:end]
    return bytes(data)


FUZZ = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=2048))
@example(b"INVITE sip:a@b SIP/2.0\r\n\r\n")
@example(b"SIP/2.0 200\r\n\r\n")
def test_arbitrary_bytes(data: bytes) -> None:
    _parse(data)


@FUZZ
@given(mutated())
def test_mutated_valid_messages(data: bytes) -> None:
    _parse(data)


@FUZZ
@given(mutated(), st.lists(st.integers(1, 200), max_size=10))
def test_framer_on_chunked_streams(data: bytes, cuts: list[int]) -> None:
    framer = StreamFramer()
    pos = 0
    try:
        for size in [*cuts, len(data)]:
            for frame in framer.feed(data[pos : pos + size]):
                if isinstance(frame, bytes):
                    _parse(frame)
            pos += size
    except SipParseError:
        pass


@FUZZ
@given(mutated(), st.sampled_from(["udp", "tcp", "tls"]))
def test_endpoint_never_raises(data: bytes, transport: str) -> None:
    endpoint = Endpoint(make_table(), rate=RateSpec(0, 1))
    out = endpoint.handle(data, Origin(transport, "127.0.0.1", 5062), 0.0)
    if out.data is not None:
        check_answer(out.data)  # whatever we send is itself valid SIP


def test_a_broken_second_via_is_not_echoed():
    """Found by the fuzzer: the parser reads only the top Via, so a request whose second
    Via value is broken was answered with that broken value copied into the response.
    The chain is cut at the first value that does not parse (the answer still routes to
    the previous hop)."""
    request = (
        b"FOO sip:alice@alpha.example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP c, lient.example.com:5060;branch=z9hG4bK74bf9\r\n"
        b"From: Alice <sip:alice@alpha.example.com>;tag=9fxced76sl\r\n"
        b"To: <sip:alice@alpha.example.com>\r\n"
        b"Call-ID: 3848276298220188511@client.example.com\r\n"
        b"CSeq: 1 FOO\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    endpoint = Endpoint(make_table(), rate=RateSpec(0, 1))
    out = endpoint.handle(request, Origin("udp", "127.0.0.1", 5062), 0.0)
    assert out.data is not None and out.data.startswith(b"SIP/2.0 405")
    check_answer(out.data)
    via = [line for line in out.data.split(b"\r\n") if line.startswith(b"Via:")]
    assert via == [b"Via: SIP/2.0/UDP c;received=127.0.0.1"], via
