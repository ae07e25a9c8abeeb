"""Single sign-on from the hub to a member server's admin interface: signed, short, once.

Role: the hub issues a token for one admin and one member server; the member server
verifies it. The key is the link's shared key ``K`` (controllers/auth.py): the hub
holds it in the member's argon2id PHC string, the member recomputes it from its
password with the salt and parameters the token carries. A token is

    base64url(claims JSON) "." base64url(HMAC-SHA256(K, "fedhub-sso/1\\0" | claims))

with claims ``{d: member domain, a: admin, iat, exp, n: nonce, s: salt, p: params}``.
The member refuses a token for another domain, past ``exp``, living longer than
``MAX_TTL_S``, with a bad signature, or seen before (single use: nonces are kept
until they expire). Pure: the caller passes the time; no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections import OrderedDict
from dataclasses import dataclass

import orjson

from controllers.auth import (
    Argon2Params,
    AuthError,
    AuthPolicy,
    HubKey,
    b64d,
    b64e,
    derive_key,
    new_nonce,
)

PREFIX = b"fedhub-sso/1\0"
DEFAULT_TTL_S = 60
MAX_TTL_S = 300
MAX_TOKEN = 2048
SSO_PATH = "/fed/sso"


class SsoError(Exception):
    """A token the member refuses; the text says why (for its log, not the browser)."""


def _b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(key: HubKey, *, domain: str, admin: str, now: float, ttl: int = DEFAULT_TTL_S) -> str:
    """A token for ``admin`` to sign in to ``domain``'s admin interface until now + ttl."""
    if not 0 < ttl <= MAX_TTL_S:
        raise ValueError(f"ttl must be 1..{MAX_TTL_S} s")
    claims = {
        "d": domain,
        "a": admin,
        "iat": int(now),
        "exp": int(now) + ttl,
        "n": new_nonce(),
        "s": b64e(key.salt),
        "p": key.params.text(),
    }
    body = _b64u(orjson.dumps(claims))
    sig = hmac.new(key.key, PREFIX + body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64u(sig)}"


@dataclass(frozen=True, slots=True)
class SignIn:
    """A verified token: who signs in, and until when the session may last."""

    admin: str
    expires: int


class SsoVerifier:
    """The member's side; one per member server (see the module docstring)."""

    def __init__(self, domain: str, password: str, policy: AuthPolicy | None = None) -> None:
        self.domain = domain
        self._password = password
        self.policy = policy or AuthPolicy()
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._keys: dict[tuple[bytes, Argon2Params], bytes] = {}

    def verify(self, token: str, now: float) -> SignIn:
        if not isinstance(token, str) or len(token) > MAX_TOKEN or token.count(".") != 1:
            raise SsoError("malformed token")
        body, sig = token.split(".")
        try:
            claims = orjson.loads(_unb64u(body))
            admin, domain, nonce = str(claims["a"]), str(claims["d"]), str(claims["n"])
            iat, exp = int(claims["iat"]), int(claims["exp"])
            salt, params = b64d(str(claims["s"])), Argon2Params.parse(str(claims["p"]))
            self.policy.check(salt, params)
            given = _unb64u(sig)
        except (ValueError, KeyError, TypeError, AuthError, orjson.JSONDecodeError):
            raise SsoError("malformed token") from None
        key = self._key(salt, params)
        want = hmac.new(key, PREFIX + body.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(want, given):
            raise SsoError("bad signature")
        if domain != self.domain:
            raise SsoError("token for another member server")
        if exp - iat > MAX_TTL_S or iat > now + 30:
            raise SsoError("token lifetime out of bounds")
        if now >= exp:
            raise SsoError("token expired")
        self._forget_expired(now)
        if nonce in self._seen:
            raise SsoError("token already used")
        self._seen[nonce] = exp
        return SignIn(admin, exp)

    def _forget_expired(self, now: float) -> None:
        for nonce, exp in list(self._seen.items()):
            if exp <= now:
                del self._seen[nonce]
        while len(self._seen) > 100_000:
            self._seen.popitem(last=False)

    def _key(self, salt: bytes, params: Argon2Params) -> bytes:
        cached = self._keys.get((salt, params))
        if cached is None:
            cached = derive_key(self._password, salt, params)
            if len(self._keys) > 8:
                self._keys.clear()
            self._keys[(salt, params)] = cached
        return cached


def sso_url(server_url: str, domain: str, token: str) -> str:
    """The member's sign-in address next to its link URL (ws→http, wss→https)."""
    scheme, rest = server_url.split("://", 1)
    host = rest.split("/", 1)[0]
    web = "https" if scheme == "wss" else "http"
    return f"{web}://{host}{SSO_PATH}/{domain}?token={token}"
