"""Your own bearer API tokens, for scripts. A token can do what you can, no more."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dashboards.api import api
from dashboards.endpoint import Ctx
from dashboards.errors import ApiError
from dashboards.schemas import TOKEN_CREATE, TOKEN_CREATED, TOKEN_LIST
from storage.models import utcnow


@api.route(
    "GET",
    "/tokens",
    summary="Your API tokens (never their secrets)",
    tag="tokens",
    response=TOKEN_LIST,
)
async def list_tokens(ctx: Ctx) -> dict[str, Any]:
    return {"tokens": [t.to_json() for t in await ctx.services.tokens.list(ctx.me.admin.id)]}


@api.route(
    "POST",
    "/tokens",
    summary="Make an API token; its secret is shown only in this response",
    tag="tokens",
    ok=201,
    body=TOKEN_CREATE,
    response=TOKEN_CREATED,
    action="token.create",
)
async def create_token(ctx: Ctx) -> dict[str, Any]:
    _not_by_token(ctx)
    days = ctx.body.get("expires_in_days")
    expires = utcnow() + timedelta(days=days) if days else None
    secret, token = await ctx.services.tokens.create(ctx.me.admin.id, ctx.body["name"], expires)
    ctx.target = f"token:{token.id}"
    ctx.details = {"name": token.name, "prefix": token.prefix}
    return {"token": secret, "api_token": token.to_json()}


@api.route(
    "DELETE",
    "/tokens/{token_id}",
    summary="Revoke one of your API tokens",
    tag="tokens",
    ok=204,
    action="token.revoke",
    errors=(404,),
)
async def revoke_token(ctx: Ctx) -> None:
    tid = ctx.int_param("token_id")
    ctx.target = f"token:{tid}"
    _not_by_token(ctx)
    if not await ctx.services.tokens.revoke(ctx.me.admin.id, tid):
        raise ApiError(404, "unknown_token", f"you have no token {tid}")


def _not_by_token(ctx: Ctx) -> None:
    """Tokens are made and revoked by a logged-in person: a token cannot mint a token that
    outlives it, nor revoke its owner's other tokens."""
    if ctx.me.via == "token":
        raise ApiError(
            403, "session_required", "API tokens are made and revoked from a login session"
        )
