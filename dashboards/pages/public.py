"""The pages anyone may open without a session: "forgot password" and the reset link.

Role: ``/forgot`` asks for a reset link (``POST /api/v1/auth/forgot``, which answers the
same whoever is named) and ``/reset-password`` sets the new password with the token the
mail's link carries in its fragment (``POST /api/v1/auth/reset``). Both exist only
while password reset by mail can work: ``mail_ready`` reads the SMTP settings the way
the reset mailer does (set and readable, a transport and the reset store present, and
a center access URL to build the link from); the login page shows its "forgot
password" link on the same condition.
"""

from __future__ import annotations

from starlette.requests import Request

from dashboards.api.access_urls import access_urls
from dashboards.forwarded import client_ip
from dashboards.services import Services
from storage.secrets import SecretUnreadable


async def mail_ready(services: Services, request: Request) -> bool:
    """Whether a reset mail could be sent for a requester at this address now."""
    if (
        services.mail_settings is None
        or services.mail_transport is None
        or services.password_resets is None
    ):
        return False
    try:
        if await services.mail_settings.get() is None:
            return False
    except SecretUnreadable:
        return False  # the reset mailer cannot log in either; the settings page says why
    ip = client_ip(request.scope, services.config.trusted_proxies)
    return (await access_urls(services.settings)).for_client(ip) is not None
