"""The command registry: one list of kinds, their arguments and limits, for link and API."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from controllers.commands import KINDS, MAX_ARG_TEXT, MAX_ARGS, CommandKind, command_schema
from controllers.messages import Command

SCHEMA = Draft202012Validator(command_schema())


def _ok(body: dict[str, Any]) -> bool:
    return SCHEMA.is_valid(body)


def test_the_registry_covers_every_kind_and_the_api_offers_exactly_those() -> None:
    assert set(KINDS) == set(CommandKind)
    assert command_schema()["properties"]["kind"]["enum"] == [k.value for k in CommandKind]
    Draft202012Validator.check_schema(command_schema())


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "mute", "conference": "500", "venue": "v1"},
        {"kind": "hang_up", "conference": "500", "venue": "v1", "args": {}},
        {"kind": "layout", "conference": "500", "args": {"layout": "2x2"}},
        {"kind": "call", "conference": "500", "venue": "v1"},
        {"kind": "call", "conference": "500", "args": {"number": "500001000"}},
        {"id": "cmd-1", "kind": "unmute", "conference": "1", "venue": "v", "deadline_s": 60},
    ],
)
def test_the_api_takes_what_each_kind_needs(body: dict[str, Any]) -> None:
    assert _ok(body), list(SCHEMA.iter_errors(body))
    # whatever the API takes, the link carries
    Command("c", body["kind"], body["conference"], body.get("venue", ""), body.get("args", {}))


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "explode", "conference": "500"},
        {"kind": "layout", "conference": "500"},  # layout needs args.layout
        {"kind": "layout", "conference": "500", "args": {"layout": ""}},
        {"kind": "layout", "conference": "500", "args": {"layout": "x" * 65}},
        {"kind": "mute", "conference": "500", "venue": "v", "args": {"layout": "2x2"}},
        {"kind": "call", "conference": "500", "args": {"number": "12ab"}},
        {"kind": "call", "conference": "500", "args": {"number": "1" * 16}},
        {"kind": "call", "conference": "500", "args": {"number": 5}},
        {"kind": "mute", "conference": "500", "venue": "v", "deadline_s": 61},
        {"kind": "mute", "conference": "", "venue": "v"},
    ],
)
def test_the_api_refuses_what_a_kind_does_not_take(body: dict[str, Any]) -> None:
    assert not _ok(body)


def test_every_kinds_arguments_fit_the_links_envelope() -> None:
    for rule in KINDS.values():
        assert len(rule.args) <= MAX_ARGS
        for schema in rule.args.values():
            assert schema["type"] == "string" and schema["maxLength"] <= MAX_ARG_TEXT
