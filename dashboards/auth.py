"""Who is calling: session cookie (+ CSRF token) or bearer API token.

``authenticate`` turns a request into a :class:`Principal` or refuses with 401/403.
Unsafe cookie-authenticated requests must carry the session's CSRF token in
``X-CSRF-Token``; bearer requests need none (a browser never adds them on its own).

A request marked ``X-Fedhub-Background: 1`` is a page refreshing itself (topology
polling, a job's progress), not the admin at work: it is authenticated like any other
but does not restart the session's idle timer, so an unattended page still logs out.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from dashboards.errors import ApiError
from dashboards.services import Services
from storage.admins import Admin, Role

SESSION_COOKIE = "fedhub_session"
CSRF_HEADER = "x-csrf-token"
BACKGROUND_HEADER = "x-fedhub-background"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Principal:
    """The authenticated admin and how they came in."""

    admin: Admin
    via: str  # "session" or "token"
    session_token: str | None = None
    csrf_token: str | None = None
    token_id: int | None = None

    @property
    def scope(self) -> int | None:
        """The member whose subtree this admin works in (``None``: the whole federation)."""
        return self.admin.member_id

    @property
    def label(self) -> str:
        return (
            self.admin.username
            if self.via == "session"
            else f"{self.admin.username} (token {self.token_id})"
        )


async def authenticate(request: HTTPConnection, services: Services) -> Principal:
    """The caller, or 401 (no/expired credentials) / 403 (CSRF, disabled account).

    Also takes a websocket handshake (a GET: no CSRF token; /ws/live checks Origin).
    """
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret:
            raise ApiError(401, "unauthenticated", "use 'Authorization: Bearer <token>'")
        token = await services.tokens.authenticate(secret.strip())
        if token is None:
            raise ApiError(401, "unauthenticated", "the API token is unknown, revoked or expired")
        admin = await services.admins.get(token.admin_id)
        if admin is None:
            raise ApiError(401, "unauthenticated", "the token's admin no longer exists")
        principal = Principal(admin, "token", token_id=token.id)
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie or len(cookie) > 128:
            raise ApiError(401, "unauthenticated", "log in first")
        session = await services.sessions.touch(cookie, activity=not is_background(request))
        if session is None:
            raise ApiError(401, "session_expired", "your session has ended; log in again")
        admin = await services.admins.get(session.admin_id)
        if admin is None:
            raise ApiError(401, "unauthenticated", "log in first")
        if request.scope.get("method", "GET") not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not sent or not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
                raise ApiError(403, "csrf_failed", f"missing or wrong {CSRF_HEADER.upper()} header")
        principal = Principal(admin, "session", session_token=cookie, csrf_token=session.csrf_token)
    if admin.disabled:
        raise ApiError(403, "account_disabled", "this admin account is disabled")
    return principal


def is_background(request: HTTPConnection) -> bool:
    """Whether the page sent this on its own (``X-Fedhub-Background: 1``)."""
    return request.headers.get(BACKGROUND_HEADER, "") == "1"


def require_role(principal: Principal, roles: frozenset[Role]) -> None:
    if principal.admin.role not in roles:
        wanted = " or ".join(sorted(str(r) for r in roles))
        raise ApiError(
            403,
            "forbidden_role",
            f"this needs the {wanted} role; you are {principal.admin.role}",
            {"role": str(principal.admin.role), "needed": sorted(str(r) for r in roles)},
        )


def require_password_changed(principal: Principal) -> None:
    if principal.admin.password_change_required:
        raise ApiError(
            403,
            "password_change_required",
            "change your password first (POST /api/v1/auth/password)",
        )
