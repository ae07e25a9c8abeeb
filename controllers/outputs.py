"""What a link state machine asks its caller to do with the socket: send or close.

Role: the neutral vocabulary shared by both ends of the federation link — the hub's
``controllers.session`` / ``controllers.driver`` and the member's ``emulator.link`` —
so neither imports the other's state machine. Close codes are RFC 6455's, plus 4000
for the link's own timeouts.
"""

from __future__ import annotations

from dataclasses import dataclass

from controllers.messages import Message

CLOSE_NORMAL = 1000
CLOSE_PROTOCOL = 1002
CLOSE_INVALID = 1007
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_TIMEOUT = 4000


@dataclass(frozen=True, slots=True)
class Send:
    """Encode ``message`` and send it as one text frame."""

    message: Message


@dataclass(frozen=True, slots=True)
class Close:
    """Close the socket with ``code`` and ``reason``; the state machine is finished."""

    code: int
    reason: str
