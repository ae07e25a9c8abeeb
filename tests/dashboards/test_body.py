"""Request bodies are checked against their JSON Schema as JSON Schema means it."""

from __future__ import annotations

import pytest

from dashboards.body import check_json, ecma_pattern
from dashboards.errors import ApiError
from dashboards.schemas import NUMBER
from storage.mail_settings import EMAIL_PATTERN


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("^[0-9]{1,3}$", "12", True),
        ("^[0-9]{1,3}$", "12\n", False),  # Python's $ alone would take it
        ("^[^\\s/]+$", "host\n", False),
        ("^a$|^b$", "a\n", False),
        ("^[$]+$", "$$", True),  # a $ in a class is a character
        ("^\\$[0-9]+$", "$12", True),  # an escaped $ too
        ("^\\$[0-9]+$", "$12\n", False),
        ("ab", "xaby", True),  # unanchored: a search, as JSON Schema says
    ],
)
def test_dollar_ends_the_string(pattern: str, text: str, matches: bool) -> None:
    assert bool(ecma_pattern(pattern).search(text)) is matches


def test_a_trailing_newline_is_refused_where_the_schema_anchors() -> None:
    check_json("500001000", NUMBER)
    for bad in ("500001000\n", "500001000\r\n"):
        with pytest.raises(ApiError) as e:
            check_json(bad, NUMBER)
        assert e.value.status == 422 and e.value.code == "invalid_input"
    email = {"type": "string", "pattern": EMAIL_PATTERN}
    check_json("ops@prov.example", email)
    with pytest.raises(ApiError):
        check_json("ops@prov.example\n", email)
