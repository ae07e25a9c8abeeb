"""The one typed error of the SIP message layer, and the status it maps to.

Every failure of the URI, header, message and stream-framing parsers is a
`SipParseError`. It carries the SIP status a UAS answers with (400, 416, 483, 505,
513) so the caller never has to guess: build the response with `status` and
`reason`, or drop the message when no response can be addressed.
"""

from __future__ import annotations

from typing import Final

REASONS: Final[dict[int, str]] = {
    400: "Bad Request",
    416: "Unsupported URI Scheme",
    483: "Too Many Hops",
    505: "Version Not Supported",
    513: "Message Too Large",
}


class SipParseError(ValueError):
    """A SIP message, header, URI or byte stream that cannot be accepted.

    `status` is the response code a server answers with; `detail` says what was
    wrong (safe to log: it never echoes more than a short excerpt of the input).
    """

    def __init__(self, detail: str, status: int = 400) -> None:
        if status not in REASONS:
            raise ValueError(f"unsupported parse-error status {status}")
        super().__init__(detail)
        self.detail = detail
        self.status = status

    @property
    def reason(self) -> str:
        return REASONS[self.status]

    def __repr__(self) -> str:
        return f"SipParseError({self.detail!r}, status={self.status})"


def excerpt(text: str | bytes, limit: int = 40) -> str:
    """A short printable excerpt of untrusted input for error details and logs."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    short = text[:limit]
    return repr(short) + ("…" if len(text) > limit else "")
