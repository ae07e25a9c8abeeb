"""Conference-control command kinds: the one registry, with arguments and limits.

Role: the closed list of what a hub may ask a member server to do, what each kind
needs (a venue, which arguments, of what form) and the limits every command's
arguments meet. The link's ``command`` message (controllers/messages.py) checks the
envelope (``MAX_ARGS`` scalars, names up to ``MAX_ARG_NAME``, text up to
``MAX_ARG_TEXT``); the REST API's body schema is ``command_schema()``, derived from
the same rules (dashboards/api/commands.py), and accepts exactly the arguments a kind
takes. docs/member-link.md describes the kinds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from hub.numbering import MAX_DIGITS

# The envelope of ``args`` on the link (protocol version 1).
MAX_ARGS = 32
MAX_ARG_NAME = 64
MAX_ARG_TEXT = 1024
MAX_ID = 64
MAX_DEADLINE_S = 60.0


class CommandKind(StrEnum):
    MUTE = "mute"
    UNMUTE = "unmute"
    CAMERA_ON = "camera_on"
    CAMERA_OFF = "camera_off"
    LAYOUT = "layout"
    HANG_UP = "hang_up"
    CALL = "call"


@dataclass(frozen=True, slots=True)
class KindRule:
    """What one command kind takes: its arguments (JSON Schemas), some of them required."""

    kind: CommandKind
    summary: str
    args: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    required_args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "args", MappingProxyType(dict(self.args)))
        if len(self.args) > MAX_ARGS or any(len(n) > MAX_ARG_NAME for n in self.args):
            raise ValueError(f"{self.kind}: arguments outside the link's envelope")
        for name, schema in self.args.items():
            if schema.get("type") == "string" and not 0 < schema["maxLength"] <= MAX_ARG_TEXT:
                raise ValueError(f"{self.kind}.{name}: text longer than the link carries")


NUMBER_ARG: Mapping[str, Any] = {
    "type": "string",
    "pattern": f"^[0-9]{{1,{MAX_DIGITS}}}$",
    "maxLength": MAX_DIGITS,
}
LAYOUT_ARG: Mapping[str, Any] = {"type": "string", "minLength": 1, "maxLength": 64}

KINDS: Mapping[CommandKind, KindRule] = MappingProxyType(
    {
        r.kind: r
        for r in (
            KindRule(CommandKind.MUTE, "mute a venue's microphone"),
            KindRule(CommandKind.UNMUTE, "unmute a venue's microphone"),
            KindRule(CommandKind.CAMERA_ON, "turn a venue's camera on"),
            KindRule(CommandKind.CAMERA_OFF, "turn a venue's camera off"),
            KindRule(
                CommandKind.LAYOUT,
                "set the conference's layout",
                {"layout": LAYOUT_ARG},
                ("layout",),
            ),
            KindRule(CommandKind.HANG_UP, "hang up a venue"),
            KindRule(
                CommandKind.CALL,
                "redial target.venue, or call args.number (a contact or another member's meeting)",
                {"number": NUMBER_ARG},
            ),
        )
    }
)
assert set(KINDS) == set(CommandKind), "every command kind has its rule"


def command_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of a command as the REST API takes it.

    Per kind: exactly the kind's arguments, its required ones present. Which venue a
    command names is the member's to judge (it answers ``failed`` with the reason).
    """
    per_kind: list[dict[str, Any]] = []
    for rule in KINDS.values():
        args = {
            "type": "object",
            "properties": {n: dict(s) for n, s in rule.args.items()},
            "required": list(rule.required_args),
            "additionalProperties": False,
        }
        then: dict[str, Any] = {"properties": {"args": args}}
        if rule.required_args:
            then["required"] = ["args"]
        per_kind.append({"if": {"properties": {"kind": {"const": rule.kind.value}}}, "then": then})
    return {
        "type": "object",
        "properties": {
            "id": {"type": "string", "pattern": f"^[A-Za-z0-9_-]{{1,{MAX_ID}}}$"},
            "kind": {"type": "string", "enum": [k.value for k in KINDS]},
            "conference": {"type": "string", "minLength": 1, "maxLength": 64},
            "venue": {"type": "string", "maxLength": 64},
            "args": {"type": "object", "maxProperties": MAX_ARGS},
            "deadline_s": {"type": "number", "minimum": 0.1, "maximum": MAX_DEADLINE_S},
        },
        "required": ["kind", "conference"],
        "additionalProperties": False,
        "allOf": per_kind,
    }
