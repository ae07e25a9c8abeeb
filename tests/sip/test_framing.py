"""Stream framing by Content-Length, leading CRLFs and RFC 5626 keepalives."""

from __future__ import annotations

import pytest

from sip.errors import SipParseError
from sip.framing import PING, PONG, StreamFramer
from sip.message import Limits, parse_message
from tests.sip.conftest import request

MSG = request(body=b"hello\r\n\r\nworld")


def test_whole_and_split_messages() -> None:
    framer = StreamFramer()
    assert framer.feed(MSG + MSG) == [MSG, MSG]
    frames = []
    for i in range(len(MSG)):  # one byte at a time
        frames += framer.feed(MSG[i : i + 1])
    assert frames == [MSG] and framer.buffered == 0
    assert parse_message(frames[0]).body == b"hello\r\n\r\nworld"


def test_leading_crlfs_are_skipped_and_pings_answered() -> None:
    framer = StreamFramer()
    assert PONG == b"\r\n"
    assert framer.feed(b"\r\n\r\n") == [PING]
    assert framer.feed(b"\r\n" + MSG) == [MSG]
    assert framer.feed(b"\r\n\r") == []  # maybe a ping: wait
    assert framer.feed(b"\n") == [PING]
    assert framer.feed(b"\r\n\r\n\r\n\r\n" + MSG[:20]) == [PING, PING]
    assert framer.feed(MSG[20:]) == [MSG]


def test_compact_content_length() -> None:
    data = MSG.replace(b"Content-Length:", b"l   :")
    assert StreamFramer().feed(data) == [data]


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (MSG.replace(b"Content-Length: 14\r\n", b""), 400),
        (MSG.replace(b"Content-Length: 14", b"Content-Length: x"), 400),
        (MSG.replace(b"Content-Length: 14\r\n", b"Content-Length: 14\r\nl: 14\r\n"), 400),
        (MSG.replace(b"Content-Length: 14", b"Content-Length: 999999"), 513),
    ],
    ids=["missing", "not-a-number", "twice", "too-large"],
)
def test_bad_lengths_are_fatal(data: bytes, status: int) -> None:
    with pytest.raises(SipParseError) as exc:
        StreamFramer().feed(data)
    assert exc.value.status == status


def test_endless_head_is_cut_off() -> None:
    framer = StreamFramer(Limits(max_message_size=2048))
    framer.feed(b"INVITE sip:a@b SIP/2.0\r\n")
    with pytest.raises(SipParseError) as exc:
        for _ in range(100):
            framer.feed(b"X-Filler: " + b"a" * 50 + b"\r\n")
    assert exc.value.status == 513
