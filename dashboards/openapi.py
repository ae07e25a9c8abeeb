"""The OpenAPI 3.1 document, built from the endpoint declarations (never by hand)."""

from __future__ import annotations

import re
from typing import Any

from dashboards.endpoint import Api, Endpoint
from dashboards.schemas import ERROR, NAME_PATTERN, NUMBER

STATUS_TEXT = {
    400: "Malformed request",
    401: "Not logged in, or the credentials are wrong",
    403: "Not allowed (role, scope, CSRF, or password change required)",
    404: "No such resource in your scope",
    409: "Conflicts with what is stored",
    413: "Request body too large",
    415: "Body must be application/json",
    422: "Invalid input",
    423: "Account locked",
    429: "Too many attempts",
}


def _operation(ep: Endpoint, version: str) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": ep.summary,
        "tags": [ep.tag],
        "operationId": ep.handler.__name__,
    }
    params: list[dict[str, Any]] = []
    for name in re.findall(r"{(\w+)}", ep.path):
        schema: dict[str, Any] = (
            NUMBER
            if name == "number"
            else {"type": "string", "pattern": NAME_PATTERN}
            if name.endswith("_name")
            else {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
        )
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    for name, schema, desc in ep.query:
        params.append(
            {"name": name, "in": "query", "required": False, "schema": schema, "description": desc}
        )
    if params:
        op["parameters"] = params
    if ep.body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ep.body}}}
    ok: dict[str, Any] = {"description": "Success"}
    if ep.ok != 204:
        ok["content"] = {
            ep.media_type: {
                "schema": ep.response
                or {"type": "string" if ep.media_type != "application/json" else "object"}
            }
        }
    responses: dict[str, Any] = {str(ep.ok): ok}
    errs = set(ep.errors)
    if not ep.public:
        errs |= {401, 403}
    if ep.body is not None:
        errs |= {400, 413, 415, 422}
    for code in sorted(errs):
        responses[str(code)] = {
            "description": STATUS_TEXT.get(code, "Error"),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    op["responses"] = responses
    if ep.public:
        op["security"] = []
    return op


def build(api: Api, version: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for ep in api.endpoints:
        paths.setdefault(api.prefix + ep.path, {})[ep.method.lower()] = _operation(ep, version)
    paths["/"] = _public_get("Where things are: API, OpenAPI, health", "meta", "index")
    paths[api.prefix + "/"] = _public_get("The same front door, under the API", "meta", "api_index")
    paths["/healthz"] = _public_get("Liveness: the process answers", "health", "healthz")
    paths["/readyz"] = _public_get(
        "Readiness: database reachable and migrations current",
        "health",
        "readyz",
        {"503": "not ready"},
    )
    paths[api.prefix + "/openapi.json"] = _public_get("This document", "meta", "openapi")
    paths["/metrics"] = {
        "get": {
            "summary": "Prometheus metrics (loopback peers only, or a bearer token: a setting)",
            "tags": ["live"],
            "operationId": "metrics",
            "security": [],
            "responses": {
                "200": {
                    "description": "ok",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                "401": {
                    "description": "token required",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                },
                "403": {
                    "description": "not allowed",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                },
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "fedhub admin API",
            "version": version,
            "description": "Federation management: members, number ranges, admins, audit. "
            "Errors are {error: {code, message, details}}. Cookie sessions need the "
            "X-CSRF-Token header on unsafe requests; bearer tokens do not.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR},
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "fedhub_session"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
        "security": [{"session": []}, {"bearer": []}],
    }


def _public_get(
    summary: str, tag: str, operation_id: str, other: dict[str, str] | None = None
) -> dict[str, Any]:
    """A GET that needs no login and answers a JSON object."""
    obj = {"application/json": {"schema": {"type": "object"}}}
    responses = {"200": {"description": "ok", "content": obj}}
    for status, description in (other or {}).items():
        responses[status] = {"description": description, "content": obj}
    return {
        "get": {
            "summary": summary,
            "tags": [tag],
            "operationId": operation_id,
            "security": [],
            "responses": responses,
        }
    }
