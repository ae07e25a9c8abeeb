from __future__ import annotations

import pytest

from hub.password_policy import check


@pytest.mark.parametrize(
    ("pw", "user", "ok"),
    [
        ("123456", "admin", False),
        ("Abcdefg1", "admin", True),
        ("abcdefg1", "admin", False),
        ("abcdef1!", "admin", True),
        ("Admin123", "admin123", False),
        ("321nimdA", "Admin123", False),
        ("A" * 129 + "a1", "x", False),
    ],
)
def test_policy(pw, user, ok):
    assert (check(pw, user) == []) is ok
