"""JSON Schemas (2020-12) of the API's bodies: enforced on input, published in OpenAPI."""

from __future__ import annotations

from typing import Any

from hub.federation import MAX_DISPLAY_NAME, MAX_REMARK
from hub.numbering import MAX_DIGITS, NUMBER_PATTERN, RangeType

ID: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
NULLABLE_ID: dict[str, Any] = {"type": ["integer", "null"], "minimum": 1, "maximum": 2**31 - 1}
USERNAME: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 64}
PASSWORD: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 128}
DOMAIN: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 253}
NUMBER: dict[str, Any] = {"type": "string", "pattern": NUMBER_PATTERN}
REMARK: dict[str, Any] = {"type": "string", "maxLength": MAX_REMARK}
TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
ROLE: dict[str, Any] = {"type": "string", "enum": ["admin", "security", "auditor"]}
SERVER_URL: dict[str, Any] = {
    "type": ["string", "null"],
    "maxLength": 512,
    "description": "wss://HOST:PORT/fed/link[/DOMAIN] (ws:// on loopback only; no dot "
    "segments, query or credentials), stored normalised. Checked by the link layer's "
    "rule (controllers.config.normalise_link_url): 422 invalid_server_url says why.",
}
SIP_HOST: dict[str, Any] = {
    "type": ["string", "null"],
    "minLength": 1,
    "maxLength": 253,
    "pattern": "^[A-Za-z0-9.:\\[\\]-]+$",
}
SIP_PORT: dict[str, Any] = {"type": ["integer", "null"], "minimum": 1, "maximum": 65535}


def obj(props: dict[str, Any], required: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": props,
        "required": list(required),
        "additionalProperties": False,
        **extra,
    }


NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
"""A file-like name in a path (``{..._name}``): a backup's, for one."""

ERROR = obj(
    {
        "error": obj(
            {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
            ("code", "message", "details"),
        )
    },
    ("error",),
)

ADMIN = {
    "type": "object",
    "properties": {
        "id": ID,
        "username": {"type": "string"},
        "role": ROLE,
        "member_id": NULLABLE_ID,
        "password_change_required": {"type": "boolean"},
        "locked_until": {"type": ["string", "null"]},
        "disabled": {"type": "boolean"},
        "created_at": {"type": "string"},
        "pending_approval": {"type": "boolean"},
    },
    "required": ["id", "username", "role", "member_id", "password_change_required"],
}

LOGIN = obj({"username": USERNAME, "password": PASSWORD}, ("username", "password"))
LOGIN_OK = {
    "type": "object",
    "properties": {
        "admin": ADMIN,
        "password_change_required": {"type": "boolean"},
        "csrf_token": {"type": "string"},
    },
    "required": ["admin", "password_change_required", "csrf_token"],
}
PASSWORD_CHANGE = obj(
    {"old_password": PASSWORD, "new_password": PASSWORD}, ("old_password", "new_password")
)

_MEMBER_FIELDS: dict[str, Any] = {
    "domain": DOMAIN,
    "display_name": {"type": "string", "minLength": 1, "maxLength": MAX_DISPLAY_NAME},
    "username": USERNAME,
    "password": PASSWORD,
    "remark": REMARK,
    "server_url": SERVER_URL,
    "sip_host": SIP_HOST,
    "sip_port": SIP_PORT,
}
MEMBER_CREATE = obj(
    {"parent_id": NULLABLE_ID, **_MEMBER_FIELDS},
    ("parent_id", "domain", "display_name", "username", "password"),
)
MEMBER_UPDATE = obj(dict(_MEMBER_FIELDS), minProperties=1)
MEMBER: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": ID,
        "parent_id": NULLABLE_ID,
        "level": {"type": "integer", "minimum": 1, "maximum": 5},
        "level_name": {"type": "string"},
        "domain": {"type": "string"},
        "display_name": {"type": "string"},
        "username": {"type": "string"},
        "remark": {"type": "string"},
        "server_url": {"type": ["string", "null"]},
        "sip_host": {"type": ["string", "null"]},
        "sip_port": {"type": ["integer", "null"]},
        "children": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["id", "parent_id", "level", "domain", "display_name", "username"],
}
MEMBER_LIST = obj(
    {"members": {"type": "array", "items": MEMBER}, "revision": {"type": "integer"}}, ("members",)
)

RANGE_CREATE = obj(
    {
        "type": {"type": "string", "enum": [t.value for t in RangeType]},
        "start": NUMBER,
        "end": NUMBER,
        "remark": REMARK,
    },
    ("type", "start", "end"),
)
RANGE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": ID,
        "member_id": ID,
        "type": {"type": "string"},
        "start": {"type": "string"},
        "end": {"type": "string"},
        "size": {"type": "integer"},
        "remark": {"type": "string"},
    },
    "required": ["id", "member_id", "type", "start", "end"],
}
RANGE_LIST = obj({"ranges": {"type": "array", "items": RANGE}}, ("ranges",))
NUMBER_OWNER = {
    "type": "object",
    "properties": {
        "number": {"type": "string"},
        "member_id": ID,
        "type": {"type": "string"},
        "range_id": ID,
    },
    "required": ["member_id", "type"],
}
_MAX_SCOPED_RANGE: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": 10**MAX_DIGITS}
NUMBERING_SETTINGS = obj({"max_scoped_range": _MAX_SCOPED_RANGE}, ("max_scoped_range",))
NUMBERING_SETTINGS_PATCH = obj({"max_scoped_range": _MAX_SCOPED_RANGE}, minProperties=1)

NEXT_FREE = {
    "type": "object",
    "properties": {
        "member_id": ID,
        "type": {"type": "string"},
        "number": NUMBER,
        "range": RANGE,
    },
    "required": ["member_id", "type", "number", "range"],
}

ADMIN_CREATE = obj(
    {"username": USERNAME, "password": PASSWORD, "role": ROLE, "member_id": NULLABLE_ID},
    ("username", "password", "role", "member_id"),
)
ADMIN_UPDATE = obj(
    {
        "disabled": {"type": "boolean"},
        "unlock": {"const": True},
        "approve": {"const": True},
        "password": PASSWORD,
    },
    minProperties=1,
)
ADMIN_LIST = obj({"admins": {"type": "array", "items": ADMIN}}, ("admins",))

TOKEN_CREATE = obj(
    {
        "name": {"type": "string", "minLength": 1, "maxLength": 64},
        "expires_in_days": {"type": "integer", "minimum": 1, "maximum": 3650},
    },
    ("name",),
)
TOKEN = {
    "type": "object",
    "properties": {"id": ID, "name": {"type": "string"}, "prefix": {"type": "string"}},
    "required": ["id", "name"],
}
TOKEN_CREATED = {
    "type": "object",
    "properties": {"token": {"type": "string"}, "api_token": TOKEN},
    "required": ["token", "api_token"],
}
TOKEN_LIST = obj({"tokens": {"type": "array", "items": TOKEN}}, ("tokens",))

AUDIT_ENTRY = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "at": {"type": "string"},
        "admin": {"type": "string"},
        "source_ip": {"type": "string"},
        "action": {"type": "string"},
        "target": {"type": "string"},
        "result": {"type": "string", "enum": ["ok", "refused", "failed"]},
        "reason": {"type": "string"},
        "details": {"type": "object"},
        "count": {"type": "integer", "minimum": 1},
    },
    "required": ["id", "at", "admin", "action", "result"],
}
AUDIT_LIST = obj(
    {
        "entries": {"type": "array", "items": AUDIT_ENTRY},
        "next_before_id": {"type": ["integer", "null"]},
    },
    ("entries",),
)
SESSION_INFO = LOGIN_OK
