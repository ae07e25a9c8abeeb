"""The member's link session closes bad frames with the code that says why."""

from __future__ import annotations

import pytest

from controllers.auth import MemberAuthenticator
from controllers.session import CLOSE_INVALID, CLOSE_TOO_BIG
from emulator.link import Close, MemberLinkSession


def session(max_frame: int = 100) -> MemberLinkSession:
    auth = MemberAuthenticator("link", "Member-Pass1")
    return MemberLinkSession(
        domain="c1.prov.gov", epoch=1, authenticator=auth, now=0.0, max_frame=max_frame
    )


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b'{"type": "heartbeat", "id": 1, "pad": "' + b"x" * 200 + b'"}', CLOSE_TOO_BIG),
        (b"{not json", CLOSE_INVALID),
        (b'{"type": "heartbeat", "id": "1"}', CLOSE_INVALID),
    ],
)
def test_bad_frames_close_with_their_code(frame: bytes, code: int) -> None:
    outputs = session().receive(frame, 1.0)
    closes = [o for o in outputs if isinstance(o, Close)]
    assert [c.code for c in closes] == [code]
