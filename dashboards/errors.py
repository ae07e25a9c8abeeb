"""One error shape for the whole JSON API: ``{"error": {"code", "message", "details"}}``.

Handlers raise :class:`ApiError` (or let a domain error through); ``error_response``
maps both to the right status. Domain codes map by table, so a new refusal in the
pure core gets the right status without touching the web layer.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from dashboards.jsonresp import json_response
from hub.federation import FederationError
from hub.numbering import NumberPlanError

DOMAIN_STATUS = {
    "unknown_member": 404,
    "unknown_range": 404,
    "outside_scope": 403,
    "domain_taken": 409,
    "username_taken": 409,
    "root_exists": 409,
    "has_children": 409,
    "has_bound_data": 409,
    "has_protected_accounts": 409,
    "duplicate_id": 409,
    "range_conflict": 409,
    "range_in_use": 409,
    "not_delegated": 403,
    "domain_outside_scope": 403,
}
"""Status per domain error code; anything not listed is invalid input (422)."""


class ApiError(Exception):
    """A refusal with its HTTP status, machine code and human message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers or {}

    @classmethod
    def from_domain(cls, e: FederationError | NumberPlanError) -> ApiError:
        return cls(DOMAIN_STATUS.get(e.code, 422), e.code, e.message, dict(e.details))


def error_response(e: ApiError) -> Response:
    body = {"error": {"code": e.code, "message": e.message, "details": e.details}}
    return json_response(body, status=e.status, headers=e.headers)
