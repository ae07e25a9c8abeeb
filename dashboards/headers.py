"""Security headers on every HTTP response the hub sends.

The default policy is the strictest one — nothing may be loaded, framed or sniffed,
and no response is cached, since most of them hold federation data scoped to the
admin who asked. Pages (``dashboards/pages``) send their own Content-Security-Policy,
which this middleware leaves alone: scripts, styles and connections from this origin
only, never inline code. HSTS is sent
only on requests that arrived over HTTPS (directly or via a trusted proxy).
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dashboards.forwarded import is_https

SECURITY_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}
HSTS = "max-age=31536000"


class SecurityHeaders:
    """ASGI middleware: add SECURITY_HEADERS (without overriding a route's own)."""

    def __init__(self, app: ASGIApp, trusted_proxies: Collection[str] = ()):
        self.app = app
        self.trusted_proxies = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = is_https(scope, self.trusted_proxies)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
                if https and "Strict-Transport-Security" not in headers:
                    headers["Strict-Transport-Security"] = HSTS
            await send(message)

        await self.app(scope, receive, send_with_headers)
