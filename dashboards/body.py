"""Reading request bodies: size-limited, JSON only, validated by the route's JSON Schema.

The schema is the same object the OpenAPI document publishes, so what is documented is
what is enforced. Every failure is an :class:`ApiError` with 413, 415, 400 or 422.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import orjson
from jsonschema import Draft202012Validator, ValidationError, validators
from starlette.requests import Request

from dashboards.errors import ApiError

MAX_BODY = 64 * 1024
"""Default cap on a JSON body; no API request needs more."""


@lru_cache(maxsize=512)
def ecma_pattern(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled as JSON Schema means it (ECMA-262): ``$`` ends the string.

    Python's ``$`` also matches before a final newline, so ``^[0-9]+$`` would pass
    ``"12\\n"`` (a newline into a number, a mail header, a log line); every ``$``
    anchor outside a character class becomes ``\\Z``."""
    out: list[str] = []
    escaped = in_class = False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "$":
            out.append("\\Z")
            continue
        out.append(ch)
    return re.compile("".join(out))


def _pattern(
    validator: Any, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not ecma_pattern(pattern).search(instance):
        yield ValidationError(f"does not match {pattern!r}")


SchemaValidator = validators.extend(Draft202012Validator, {"pattern": _pattern})
"""Draft 2020-12 with ECMA-262 ``pattern`` anchors: every schema the API enforces."""

_validators: dict[int, Any] = {}


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The raw body, refusing (413) as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _too_large(limit)
        except ValueError:
            raise ApiError(400, "bad_request", "Content-Length is not a number") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413, "body_too_large", f"request body is larger than {limit} bytes", {"limit": limit}
    )


async def read_json(request: Request, schema: dict[str, Any], limit: int = MAX_BODY) -> Any:
    """The body parsed as JSON and checked against ``schema``."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    raw = await read_body(request, limit)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise ApiError(400, "invalid_json", f"body is not valid JSON: {e}") from None
    check_json(data, schema)
    return data


def check_json(data: Any, schema: dict[str, Any]) -> None:
    """Refuse (422) control characters anywhere and anything ``schema`` does not allow."""
    _refuse_control_characters(data, "")
    validate(data, schema)


_CONTROL = frozenset(chr(c) for c in range(32)) - {"\t", "\n", "\r"} | {"\x7f"}


def has_control_characters(text: str) -> bool:
    """True for NUL and other C0 controls (tab, newline, CR allowed): no store takes them."""
    return not _CONTROL.isdisjoint(text)


def _refuse_control_characters(data: Any, path: str) -> None:
    if isinstance(data, str):
        if has_control_characters(data):
            raise ApiError(
                422, "invalid_input", f"{path or '(body)'}: control characters are not allowed"
            )
    elif isinstance(data, dict):
        for k, v in data.items():
            _refuse_control_characters(k, path)
            _refuse_control_characters(v, f"{path}/{k}" if path else str(k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            _refuse_control_characters(v, f"{path}/{i}" if path else str(i))


def validate(data: Any, schema: dict[str, Any]) -> None:
    v = _validators.get(id(schema))
    if v is None:
        v = _validators[id(schema)] = SchemaValidator(schema)
    errors = sorted(v.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        described = [(_path(e), _describe(e)) for e in errors[:20]]
        raise ApiError(
            422,
            "invalid_input",
            f"{described[0][0] or '(body)'}: {described[0][1]}",
            {"errors": [{"path": p, "message": m} for p, m in described]},
        )


def _path(e: ValidationError) -> str:
    return "/".join(str(p) for p in e.absolute_path)


_WORDING = {
    "type": "must be of type {}",
    "minLength": "must be at least {} characters",
    "maxLength": "must be at most {} characters",
    "pattern": "must match the pattern {}",
    "enum": "must be one of {}",
    "minimum": "must be at least {}",
    "maximum": "must be at most {}",
    "minProperties": "must have at least {} field(s)",
    "format": "must be a valid {}",
}


def _describe(e: ValidationError) -> str:
    """The rule broken, without echoing the value (which may be a password)."""
    if e.validator in ("required", "additionalProperties"):
        return str(e.message)
    wording = _WORDING.get(str(e.validator), f"must satisfy {e.validator}: {{}}")
    return wording.format(e.validator_value)
