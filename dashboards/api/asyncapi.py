"""The live websocket's frames: the schemas the server enforces, published as AsyncAPI 3.0.

Role: one truth for ``/ws/live``. ``INBOUND`` holds the JSON Schema of every frame a
client may send; ``dashboards.live_ws`` validates each inbound frame with exactly
these objects, and ``GET /api/v1/asyncapi.json`` publishes them (with the outbound
frames, documented for clients). docs/live-api.md explains every frame and field.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from dashboards.api import api
from dashboards.api.commands import COMMAND as REST_COMMAND
from dashboards.endpoint import Ctx
from dashboards.schemas import ID, obj
from hub.conference import VenueRole, VenueStatus

FRAME_ID: dict[str, Any] = {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,64}$"}
CONFERENCE: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 64}
STATUS: dict[str, Any] = {"type": "string", "enum": [s.value for s in VenueStatus]}
MAX_SELECTION = 1000


def _type(name: str) -> dict[str, Any]:
    return {"type": "string", "const": name}


SUBSCRIBE = obj(
    {
        "type": _type("subscribe"),
        "id": FRAME_ID,
        "member_id": ID,
        "conference": CONFERENCE,
        "filters": obj(
            {
                "members": {"type": "array", "items": ID, "maxItems": 64, "uniqueItems": True},
                "status": {"type": "array", "items": STATUS, "maxItems": 4, "uniqueItems": True},
                "muted": {"type": "boolean"},
                "camera_on": {"type": "boolean"},
            }
        ),
    },
    ("type", "id", "member_id", "conference"),
)

UNSUBSCRIBE = obj({"type": _type("unsubscribe"), "id": FRAME_ID}, ("type", "id"))

VENUE_REF = obj(
    {"member_id": ID, "conference": CONFERENCE, "id": {"type": "string", "maxLength": 64}},
    ("member_id", "conference", "id"),
)

_rest = REST_COMMAND["properties"]
COMMAND = obj(
    {
        "type": _type("command"),
        "id": _rest["id"],
        "member_id": ID,
        "conference": _rest["conference"],
        "venue": {**_rest["venue"], "minLength": 1},
        "venues": {
            "type": "array",
            "items": VENUE_REF,
            "minItems": 1,
            "maxItems": MAX_SELECTION,
            "uniqueItems": True,
        },
        "selection": {"type": "string", "enum": ["all"]},
        "kind": _rest["kind"],
        "args": _rest["args"],
        "deadline_s": _rest["deadline_s"],
    },
    ("type", "id", "member_id", "conference", "kind"),
)

INBOUND: dict[str, dict[str, Any]] = {
    "subscribe": SUBSCRIBE,
    "unsubscribe": UNSUBSCRIBE,
    "command": COMMAND,
}
"""Every frame a client may send, by ``type``: enforced by dashboards/live_ws.py."""

# -- outbound (documented; the server builds them) -------------------------------------------

STATS = {
    "type": ["object", "null"],
    "properties": {
        k: {"type": "number"}
        for k in ("tx_kbps", "rx_kbps", "loss_pct", "jitter_ms", "rtt_ms", "width", "height", "fps")
    },
}
VENUE = obj(
    {
        "member_id": ID,
        "conference": CONFERENCE,
        "id": {"type": "string"},
        "name": {"type": "string"},
        "status": STATUS,
        "muted": {"type": "boolean"},
        "camera_on": {"type": "boolean"},
        "role": {"type": "string", "enum": [r.value for r in VenueRole]},
        "stats": STATS,
        "reason": {"type": "string"},
        "stale": {"type": "boolean"},
    },
    (
        "member_id",
        "conference",
        "id",
        "name",
        "status",
        "muted",
        "camera_on",
        "role",
        "stats",
        "reason",
        "stale",
    ),
)
TREE: dict[str, Any] = {
    "type": ["object", "null"],
    "properties": {
        "member_id": {"type": ["integer", "null"]},
        "domain": {"type": "string"},
        "conference": {"type": "string"},
        "link": {"type": ["string", "null"]},
        "venue": {"type": ["string", "null"]},
        "known": {"type": "boolean"},
        "stale": {"type": "boolean"},
        "children": {"type": "array", "items": {"$ref": "#/components/schemas/tree"}},
    },
}
SEQ = {"type": "integer", "minimum": 1}
OUTBOUND: dict[str, dict[str, Any]] = {
    "snapshot": obj(
        {
            "type": _type("snapshot"),
            "id": FRAME_ID,
            "seq": SEQ,
            "tree": TREE,
            "venues": {"type": "array", "items": VENUE},
        },
        ("type", "id", "seq", "tree", "venues"),
    ),
    "delta": obj(
        {
            "type": _type("delta"),
            "id": FRAME_ID,
            "seq": SEQ,
            "venues": {"type": "array", "items": VENUE},
            "removed": {"type": "array", "items": VENUE_REF},
            "tree": TREE,
        },
        ("type", "id", "seq", "venues", "removed"),
    ),
    "result": obj(
        {
            "type": _type("result"),
            "id": FRAME_ID,
            "status": {"type": "string", "enum": ["ok", "failed", "timeout"]},
            "reason": {"type": "string"},
            "venue": VENUE_REF,
            "of": {"type": "integer", "minimum": 1},
        },
        ("type", "id", "status", "reason"),
    ),
    "error": obj(
        {
            "type": _type("error"),
            "id": {"type": ["string", "null"]},
            "code": {"type": "string"},
            "message": {"type": "string"},
        },
        ("type", "id", "code", "message"),
    ),
    "call_progress": {
        "type": "object",
        "properties": {
            "type": _type("call_progress"),
            "id": FRAME_ID,
            "call_id": {"type": "string"},
            "state": {"type": "string", "enum": ["running", "done"]},
            "members": {"type": "array", "items": {"type": "object"}},
        },
        "required": ["type", "id", "call_id", "state", "members"],
    },
}


def build(version: str) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of ``/ws/live``."""
    messages = {
        name: {"name": name, "title": f"{name} frame", "payload": schema}
        for name, schema in {**INBOUND, **OUTBOUND}.items()
    }
    refs = {name: {"$ref": f"#/components/messages/{name}"} for name in messages}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "fedhub live hub",
            "version": version,
            "description": (
                "The dashboard stream: control lists of federation conferences, "
                "conference control, one-click call progress. See docs/live-api.md."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "hub": {
                "host": "{host}",
                "protocol": "wss",
                "variables": {"host": {"description": "the hub's host[:port]"}},
                "security": [{"$ref": "#/components/securitySchemes/session"}],
            }
        },
        "channels": {
            "live": {
                "address": "/ws/live",
                "messages": refs,
                "description": "JSON text frames; every frame is an object with `type`.",
            }
        },
        "operations": {
            **{
                f"send_{n}": {
                    "action": "send",
                    "channel": {"$ref": "#/channels/live"},
                    "messages": [{"$ref": f"#/channels/live/messages/{n}"}],
                }
                for n in INBOUND
            },
            **{
                f"receive_{n}": {
                    "action": "receive",
                    "channel": {"$ref": "#/channels/live"},
                    "messages": [{"$ref": f"#/channels/live/messages/{n}"}],
                }
                for n in OUTBOUND
            },
        },
        "components": {
            "messages": messages,
            "schemas": {"tree": TREE, "venue": VENUE},
            "securitySchemes": {
                "session": {
                    "type": "httpApiKey",
                    "name": "fedhub_session",
                    "in": "cookie",
                    "description": "the session cookie of POST /api/v1/auth/login",
                },
                "token": {"type": "http", "scheme": "bearer", "description": "an fh_ token"},
            },
        },
    }


@api.route(
    "GET",
    "/asyncapi.json",
    summary="AsyncAPI 3.0 document of the live websocket /ws/live",
    tag="live",
    public=True,
    response={"type": "object"},
)
async def asyncapi_document(ctx: Ctx) -> dict[str, Any]:
    try:
        v = version("fedhub")
    except PackageNotFoundError:  # running from a source tree
        v = "0.0.0+source"
    return build(v)
