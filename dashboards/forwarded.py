"""What a trusted reverse proxy tells us about the original request.

X-Forwarded-For and X-Forwarded-Proto are believed only when the TCP peer is one of
the configured trusted proxies (``serve --trusted-proxy``); from anyone else they are
ignored, since any client can send them.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.datastructures import Headers
from starlette.types import Scope


def _from_trusted(scope: Scope, trusted_proxies: Collection[str]) -> bool:
    client = scope.get("client")
    return client is not None and client[0] in trusted_proxies


def client_ip(scope: Scope, trusted_proxies: Collection[str]) -> str:
    """The caller's address: the proxy's last X-Forwarded-For hop, or the TCP peer."""
    client = scope.get("client")
    peer = client[0] if client else ""
    if _from_trusted(scope, trusted_proxies):
        fwd = Headers(scope=scope).get("x-forwarded-for", "")
        if fwd:
            return fwd.split(",")[-1].strip()[:64]
    return str(peer)[:64]


def is_https(scope: Scope, trusted_proxies: Collection[str]) -> bool:
    """Did the request reach us over HTTPS, directly or through a trusted TLS proxy?"""
    if scope.get("scheme") == "https":
        return True
    if _from_trusted(scope, trusted_proxies):
        proto = Headers(scope=scope).get("x-forwarded-proto", "")
        return proto.split(",")[-1].strip().lower() == "https"
    return False
