"""Single sign-on to a member server's admin interface (controllers/sso.py).

``POST /members/{id}/sso`` gives an admin whose scope includes that member a signed,
short-lived, single-use link to the member server's admin page; the member server
checks it. Audited; the token itself is never logged.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from controllers.auth import AuthError, HubKey
from controllers.sso import DEFAULT_TTL_S, issue, sso_url
from dashboards.api import api
from dashboards.api.members import WRITERS
from dashboards.endpoint import Ctx
from dashboards.errors import ApiError

SSO = {
    "type": "object",
    "properties": {"url": {"type": "string"}, "expires_at": {"type": "string"}},
    "required": ["url", "expires_at"],
}


@api.route(
    "POST",
    "/members/{member_id}/sso",
    summary="A one-time sign-in link to a member server's admin interface (60 s)",
    tag="sync",
    response=SSO,
    roles=WRITERS,
    action="member.sso",
    errors=(403, 404, 409),
)
async def sign_in_link(ctx: Ctx) -> dict[str, Any]:
    mid = ctx.int_param("member_id")
    ctx.target = f"member:{mid}"
    view = await ctx.services.federation.current()
    member = view.federation.require_within(ctx.me.scope, mid)
    row = await ctx.services.federation.member_row(mid)
    if row is None or not row.server_url:
        raise ApiError(409, "not_bound", f"member {mid} has no bound server to sign in to")
    try:
        key = HubKey.from_phc(row.password_hash)
    except AuthError:
        raise ApiError(409, "no_link_key", f"member {mid}'s password is not usable") from None
    now = time.time()
    token = issue(key, domain=member.domain, admin=ctx.me.label, now=now, ttl=DEFAULT_TTL_S)
    expires = datetime.fromtimestamp(int(now) + DEFAULT_TTL_S, UTC)
    ctx.details = {"admin": ctx.me.label, "expires_at": expires.isoformat()}
    return {"url": sso_url(row.server_url, member.domain, token), "expires_at": expires.isoformat()}
