"""Declaring API endpoints once: route, authorization, body schema, audit and docs.

Each handler is declared with ``@api.route(...)``; the declaration is what builds the
Starlette route, what the wrapper enforces (authentication, role, password-change
gate, body schema) and what the OpenAPI document says. A declared ``action`` is written
to the audit log for every attempt: ``ok``, ``refused`` (with the reason) or ``failed``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dashboards.auth import (
    Principal,
    authenticate,
    require_password_changed,
    require_role,
)
from dashboards.body import has_control_characters, read_json
from dashboards.errors import ApiError, error_response
from dashboards.forwarded import client_ip
from dashboards.jsonresp import json_response
from dashboards.services import Services
from hub.federation import FederationError
from hub.numbering import NumberPlanError
from storage.admins import Role

log = logging.getLogger("fedhub.api")

MAX_ID = 2**31 - 1
TIME_RANGE = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))


@dataclass
class Ctx:
    """One request as a handler sees it."""

    request: Request
    services: Services
    principal: Principal | None
    body: Any
    ip: str
    target: str = ""
    details: dict[str, object] = field(default_factory=dict)
    # set by a handler whose refusal a stranger can repeat at will: the audit log counts
    # it in one row per source, window and reason instead of writing a row each time
    aggregate: bool = False
    # work the handler starts only once its success is audited (and so before any of the
    # records that work makes): a long task whose own writes would delay the answer
    then: list[Callable[[], None]] = field(default_factory=list)

    @property
    def me(self) -> Principal:
        assert self.principal is not None
        return self.principal

    def int_param(self, name: str) -> int:
        """A positive integer path parameter, or 404 (it names nothing that exists)."""
        raw = self.request.path_params[name]
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 10 or not (1 <= int(raw) <= MAX_ID):
            raise ApiError(404, "not_found", f"{name} {raw[:20]!r} names nothing")
        return int(raw)

    def query(self, name: str, default: str | None = None, max_len: int = 200) -> str | None:
        v = self.request.query_params.get(name, default)
        if v is not None and len(v) > max_len:
            raise ApiError(422, "invalid_input", f"query parameter {name} is too long")
        if v is not None and has_control_characters(v):
            raise ApiError(
                422, "invalid_input", f"query parameter {name}: control characters are not allowed"
            )
        return v

    def time(self, name: str) -> datetime | None:
        """An ISO 8601 time with zone query parameter, in UTC, within ``TIME_RANGE``; 422
        for anything else (no offset can push it past what datetime or a database holds)."""
        raw = self.query(name)
        if not raw:
            return None
        try:
            t = datetime.fromisoformat(raw)
        except ValueError:
            raise ApiError(422, "invalid_input", f"{name} must be an ISO 8601 time") from None
        if t.tzinfo is None:
            raise ApiError(
                422, "invalid_input", f"{name} needs a time zone, e.g. 2026-01-01T00:00:00Z"
            )
        lo, hi = TIME_RANGE
        try:
            t = t.astimezone(UTC)
            if lo <= t < hi:
                return t
        except OverflowError:  # 0001-01-01T00:00+23:59 lies before datetime.min in UTC
            pass
        raise ApiError(
            422, "invalid_input", f"{name} must lie from {lo.isoformat()} up to {hi.isoformat()}"
        )

    def flag(self, name: str) -> bool:
        v = (self.query(name, "false") or "false").lower()
        if v not in ("true", "false", "1", "0", "yes", "no"):
            raise ApiError(422, "invalid_input", f"query parameter {name} must be true or false")
        return v in ("true", "1", "yes")


Handler = Callable[[Ctx], Awaitable[Any]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # OpenAPI form, under /api/v1
    summary: str
    tag: str
    handler: Handler
    ok: int
    response: dict[str, Any] | None
    body: dict[str, Any] | None
    roles: frozenset[Role] | None  # None: any authenticated admin
    public: bool
    action: str | None
    before_password_change: bool
    query: tuple[tuple[str, dict[str, Any], str], ...]
    errors: tuple[int, ...]
    media_type: str = "application/json"


class Api:
    """The registry of endpoints; ``routes()`` makes the Starlette routes."""

    prefix = "/api/v1"

    def __init__(self) -> None:
        self.endpoints: list[Endpoint] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        tag: str,
        ok: int = 200,
        response: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        roles: frozenset[Role] | set[Role] | None = None,
        public: bool = False,
        action: str | None = None,
        before_password_change: bool = False,
        query: tuple[tuple[str, dict[str, Any], str], ...] = (),
        errors: tuple[int, ...] = (),
        media_type: str = "application/json",
    ) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self.endpoints.append(
                Endpoint(
                    method,
                    path,
                    summary,
                    tag,
                    fn,
                    ok,
                    response,
                    body,
                    frozenset(roles) if roles is not None else None,
                    public,
                    action,
                    before_password_change,
                    query,
                    errors,
                    media_type,
                )
            )
            return fn

        return deco

    def routes(self, services: Services) -> list[Route]:
        by_path: dict[str, dict[str, Endpoint]] = {}
        for ep in self.endpoints:
            by_path.setdefault(ep.path, {})[ep.method] = ep
        return [
            Route(self.prefix + path, _dispatcher(methods, services), methods=list(methods))
            for path, methods in by_path.items()
        ]


def _dispatcher(
    methods: dict[str, Endpoint], services: Services
) -> Callable[[Request], Awaitable[Response]]:
    async def dispatch(request: Request) -> Response:
        ep = methods.get(request.method) or methods.get("GET")
        assert ep is not None
        return await _run(ep, request, services)

    return dispatch


async def _run(ep: Endpoint, request: Request, services: Services) -> Response:
    ctx = Ctx(
        request, services, None, None, client_ip(request.scope, services.config.trusted_proxies)
    )
    try:
        if not ep.public:
            ctx.principal = await authenticate(request, services)
            if not ep.before_password_change:
                require_password_changed(ctx.principal)
            if ep.roles is not None:
                require_role(ctx.principal, ep.roles)
        if ep.body is not None:
            ctx.body = await read_json(request, ep.body, services.config.max_body)
        result = await ep.handler(ctx)
        # Encoded inside the try: a result that cannot be encoded (e.g. nested deeper
        # than orjson allows) is a 500 with the JSON error body, audited as failed.
        if isinstance(result, Response):
            response = result
        elif result is None:
            response = Response(status_code=204 if ep.ok == 204 else ep.ok)
        else:
            response = json_response(result, status=ep.ok)
    except (FederationError, NumberPlanError) as e:
        return await _refused(ep, ctx, ApiError.from_domain(e))
    except ApiError as e:
        return await _refused(ep, ctx, e)
    except Exception as e:
        log.exception("%s %s failed", ep.method, ep.path)
        await _audit(ep, ctx, "failed", f"internal error: {type(e).__name__}")
        return error_response(ApiError(500, "internal_error", "internal error; see the server log"))
    await _audit(ep, ctx, "ok", "")
    for start in ctx.then:
        try:
            start()
        except Exception:  # the answer stands (audited ok); what failed to start is logged
            log.exception("%s %s: starting its work failed", ep.method, ep.path)
    return response


async def _refused(ep: Endpoint, ctx: Ctx, e: ApiError) -> Response:
    log.info(
        "refused %s %s from %s (%s): %s %s",
        ep.method,
        ep.path,
        ctx.ip,
        ctx.principal.label if ctx.principal else "anonymous",
        e.status,
        e.code,
    )
    await _audit(ep, ctx, "refused", f"{e.code}: {e.message}")
    return error_response(e)


async def _audit(ep: Endpoint, ctx: Ctx, result: str, reason: str) -> None:
    if ep.action is None:
        return
    p = ctx.principal
    try:
        if ctx.aggregate and p is None and result == "refused":
            admin_id = ctx.details.get("admin_id")
            member_id = ctx.details.get("member_id")
            await ctx.services.audit.record_aggregate(
                action=ep.action,
                result=result,
                source_ip=ctx.ip,
                reason=reason,
                admin_id=admin_id if isinstance(admin_id, int) else None,
                member_id=member_id if isinstance(member_id, int) else None,
                target=ctx.target,
            )
            return
        await ctx.services.audit.record(
            action=ep.action,
            result=result,
            admin_id=p.admin.id if p else ctx.details.pop("admin_id", None),  # type: ignore[arg-type]
            admin_name=p.label if p else str(ctx.details.pop("admin_name", "")),
            member_id=p.admin.member_id if p else ctx.details.pop("member_id", None),  # type: ignore[arg-type]
            source_ip=ctx.ip,
            target=ctx.target,
            reason=reason,
            details=ctx.details,
        )
    except Exception:
        # The change itself is stored; losing its log line must be loud, not fatal.
        log.exception("could not write the audit log for %s", ep.action)
