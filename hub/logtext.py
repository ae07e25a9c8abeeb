"""Untrusted text made safe for a log line.

Role: the one helper through which every string a member server (or any other peer)
chose goes before it reaches a log. Log lines are read by people and by filters
(fail2ban acts on ``SIP reject from <HOST> … reason=…``): a newline or a control
character in peer text could forge a whole line. ``untrusted`` escapes them (and
backslashes, so the escaping is unambiguous) and bounds the length.
"""

from __future__ import annotations

import re

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
"""The line format of every fedhub process (``fedhub …`` and ``python -m sip``), e.g.
``2026-11-30 15:03:00,123 WARNING fedhub.sip: SIP reject from …``. The fail2ban
filter in docs/sip.md is anchored on it: change both together."""

_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\\\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    named = _NAMED.get(ch)
    if named is not None:
        return named
    return f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"


def untrusted(text: object, limit: int = 300) -> str:
    """``text`` on one line: control characters and backslashes escaped, at most
    ``limit`` characters of it kept (then ``…``)."""
    s = text if isinstance(text, str) else str(text)
    short = s[:limit]
    out = _UNSAFE.sub(_escape, short)
    return out + "…" if len(s) > limit else out
