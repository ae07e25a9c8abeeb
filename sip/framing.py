"""Cutting a TCP/TLS byte stream into SIP messages (RFC 3261 §18.3, RFC 5626 §3.5.1).

`StreamFramer` is sans-I/O: `feed(data)` returns the complete frames found so far,
each either the bytes of one message (hand them to `parse_message`) or `PING`, a
CRLFCRLF keepalive that the caller answers with `PONG` (a single CRLF). CRLFs
before a start line are skipped. Content-Length is mandatory on a stream. A
`SipParseError` from `feed` is fatal for the connection: answer if you can, then
close it, because the stream can no longer be cut reliably.
"""

from __future__ import annotations

import re
from typing import Final

from sip.errors import SipParseError
from sip.message import DEFAULT_LIMITS, Limits


class _Ping:
    """The RFC 5626 keepalive ping; answer it with PONG."""

    def __repr__(self) -> str:
        return "PING"


PING: Final = _Ping()
PONG: Final = b"\r\n"

Frame = bytes | _Ping

_LENGTH_RE: Final = re.compile(
    rb"\n(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?(?=\n)", re.IGNORECASE
)


class StreamFramer:
    """Accumulates stream bytes and yields whole messages and keepalive pings."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._buf = bytearray()
        self._scan_from = 0  # where to resume looking for the end of the head
        self._need: int | None = None  # total size of the message being read, once known

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame]:
        """Add bytes; return the frames they complete. Raises SipParseError (fatal)."""
        self._buf += data
        frames: list[Frame] = []
        while True:
            frame = self._next()
            if frame is None:
                return frames
            frames.append(frame)

    def _next(self) -> Frame | None:
        buf = self._buf
        if self._need is None:
            while buf[:2] == b"\r\n":
                if buf[:4] == b"\r\n\r\n":
                    del buf[:4]
                    return PING
                if len(buf) < 4 and b"\r\n\r\n".startswith(buf):
                    return None  # maybe a ping cut short; wait for the rest
                del buf[:2]
            end = buf.find(b"\r\n\r\n", self._scan_from)
            if end < 0:
                if len(buf) > self._limits.max_message_size:
                    raise SipParseError("message head larger than the size limit", 513)
                self._scan_from = max(0, len(buf) - 3)
                return None
            self._need = end + 4 + self._content_length(bytes(buf[: end + 2]))
            self._scan_from = 0
            if self._need > self._limits.max_message_size:
                raise SipParseError("message larger than the size limit", 513)
        if len(buf) < self._need:
            return None
        frame = bytes(buf[: self._need])
        del buf[: self._need]
        self._need = None
        return frame

    @staticmethod
    def _content_length(head: bytes) -> int:
        found = _LENGTH_RE.findall(head)
        if not found:
            raise SipParseError("Content-Length is required on a stream transport")
        if len(found) > 1:
            raise SipParseError("more than one Content-Length header")
        text = found[0]
        if not text.isdigit() or len(text) > 10:
            raise SipParseError("bad Content-Length")
        return int(text)
