"""Link authentication: a SCRAM-like challenge-response keyed by the argon2id hash.

The hub keeps each member's password only as an argon2id PHC string
(``$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>``). The raw hash bytes in that string are
the shared key: the member recomputes them from its plaintext password with the salt
and parameters the hub sends, and both sides HMAC the handshake transcript with them.

    hub -> member   hello     {versions, username, nonce_h}
    member -> hub   challenge {version, domain, nonce_m}
    hub -> member   auth      {salt, params, proof = HMAC(K, "hub"    | T)}
    member -> hub   welcome   {…,           proof = HMAC(K, "member" | T)}

where ``K = argon2id(password, salt, params)`` and ``T`` binds the protocol version,
domain, username, both nonces, salt and parameters (``transcript``). Tampering with
any of them changes ``T`` or ``K`` and the proof fails; a fresh ``nonce_m`` per
connection defeats replay. The member's proof lets the hub check the member too.

Like SCRAM's StoredKey, the stored hash is a *password equivalent for the link*:
whoever steals it can authenticate as the hub to that member (not learn the
password). That is the price of a hub that never holds plaintext passwords; protect
the database accordingly, and rotate a member's password if it leaks.

Role: pure functions and two small helpers, ``HubKey`` (hub side, from the PHC
string) and ``MemberAuthenticator`` (member side, from the password). No I/O.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from argon2.low_level import Type, hash_secret_raw

_PREFIX = b"fedhub-link-auth/1"


class AuthError(Exception):
    """Authentication failed; ``str(exc)`` is safe to log (it never contains secrets)."""


def b64e(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def b64d(text: str) -> bytes:
    """Decode standard base64, with or without padding (PHC strings drop it)."""
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except ValueError:
        raise AuthError("not valid base64") from None


def new_nonce() -> str:
    """A fresh 144-bit nonce, base64."""
    return b64e(secrets.token_bytes(18))


@dataclass(frozen=True, slots=True)
class Argon2Params:
    """The argon2id cost parameters carried on the wire as ``m=…,t=…,p=…,v=…,l=…``."""

    memory_kib: int
    time_cost: int
    parallelism: int
    version: int = 19
    hash_len: int = 32

    def text(self) -> str:
        return (
            f"m={self.memory_kib},t={self.time_cost},p={self.parallelism},"
            f"v={self.version},l={self.hash_len}"
        )

    @classmethod
    def parse(cls, text: str) -> Argon2Params:
        try:
            parts = dict(item.split("=", 1) for item in text.split(","))
            if set(parts) != {"m", "t", "p", "v", "l"}:
                raise ValueError
            values = {k: int(v) for k, v in parts.items() if v.isdigit()}
            return cls(values["m"], values["t"], values["p"], values["v"], values["l"])
        except (ValueError, KeyError):
            raise AuthError(f"malformed argon2 parameters {text[:64]!r}") from None


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    """What argon2 costs a member server accepts from a hub.

    The ceilings matter most: the member computes argon2 with parameters the (not yet
    authenticated) hub chose, so unbounded ones would be a denial of service.
    """

    min_memory_kib: int = 8
    max_memory_kib: int = 256 * 1024
    min_time_cost: int = 1
    max_time_cost: int = 16
    max_parallelism: int = 16
    min_salt_len: int = 8

    def check(self, salt: bytes, params: Argon2Params) -> None:
        if params.version != 19:
            raise AuthError(f"unsupported argon2 version {params.version}")
        if not self.min_memory_kib <= params.memory_kib <= self.max_memory_kib:
            raise AuthError(f"argon2 memory {params.memory_kib} KiB outside policy")
        if not self.min_time_cost <= params.time_cost <= self.max_time_cost:
            raise AuthError(f"argon2 time cost {params.time_cost} outside policy")
        if not 1 <= params.parallelism <= self.max_parallelism:
            raise AuthError(f"argon2 parallelism {params.parallelism} outside policy")
        if params.memory_kib < 8 * params.parallelism:
            raise AuthError("argon2 memory below 8 KiB per lane")
        if not 16 <= params.hash_len <= 64:
            raise AuthError(f"argon2 hash length {params.hash_len} outside 16..64")
        if not self.min_salt_len <= len(salt) <= 64:
            raise AuthError(f"salt of {len(salt)} bytes outside policy")


def transcript(
    *,
    version: int,
    domain: str,
    username: str,
    hub_nonce: str,
    member_nonce: str,
    salt: str,
    params: str,
) -> bytes:
    """The bytes both proofs sign: every handshake value, each length-prefixed."""
    fields = [str(version), domain, username, hub_nonce, member_nonce, salt, params]
    out = bytearray(_PREFIX)
    for f in fields:
        raw = f.encode("utf-8")
        out += len(raw).to_bytes(4, "big") + raw
    return bytes(out)


def proof(key: bytes, role: str, signed: bytes) -> str:
    """HMAC-SHA256 over ``role | transcript``; role is "hub" or "member"."""
    return b64e(hmac.new(key, role.encode() + b"\0" + signed, hashlib.sha256).digest())


def derive_key(password: str, salt: bytes, params: Argon2Params) -> bytes:
    """The raw argon2id hash: what the PHC string stores, recomputed from the password."""
    return hash_secret_raw(
        secret=password.encode("utf-8"),
        salt=salt,
        time_cost=params.time_cost,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        hash_len=params.hash_len,
        type=Type.ID,
        version=params.version,
    )


@dataclass(frozen=True, slots=True)
class HubKey:
    """The hub's side: the key, salt and parameters decoded from a stored PHC string."""

    salt: bytes
    params: Argon2Params
    key: bytes

    @classmethod
    def from_phc(cls, phc: str) -> HubKey:
        """Decode ``$argon2id$v=19$m=…,t=…,p=…$salt$hash``; AuthError if it is not one."""
        parts = phc.split("$")
        if len(parts) != 6 or parts[0] or parts[1] != "argon2id" or not parts[2].startswith("v="):
            raise AuthError("password hash is not an argon2id PHC string")
        try:
            version = int(parts[2][2:])
            costs = dict(item.split("=", 1) for item in parts[3].split(","))
            memory, time_cost, lanes = int(costs["m"]), int(costs["t"]), int(costs["p"])
        except (ValueError, KeyError):
            raise AuthError("password hash has malformed parameters") from None
        salt, key = b64d(parts[4]), b64d(parts[5])
        return cls(salt, Argon2Params(memory, time_cost, lanes, version, len(key)), key)

    def answer(
        self, *, version: int, domain: str, username: str, hub_nonce: str, member_nonce: str
    ) -> tuple[str, str, str, str]:
        """``(salt, params, hub proof, expected member proof)`` for one challenge."""
        salt, params = b64e(self.salt), self.params.text()
        signed = transcript(
            version=version,
            domain=domain,
            username=username,
            hub_nonce=hub_nonce,
            member_nonce=member_nonce,
            salt=salt,
            params=params,
        )
        return salt, params, proof(self.key, "hub", signed), proof(self.key, "member", signed)


class MemberAuthenticator:
    """The member's side: checks hub proofs against the plaintext password.

    One instance per member server. ``issue_nonce()`` per connection, then
    ``verify(...)`` once with what the hub sent; it returns the member's proof for the
    welcome, or raises ``AuthError``. Every nonce is single-use; the hub's nonces are
    remembered (bounded) so a replayed hello is refused. Derived keys are cached per
    (salt, parameters) so a reconnecting hub costs one HMAC, not one argon2 run.
    """

    def __init__(
        self, username: str, password: str, policy: AuthPolicy | None = None, memory: int = 4096
    ) -> None:
        self.username = username
        self._password = password
        self.policy = policy or AuthPolicy()
        self._issued: OrderedDict[str, None] = OrderedDict()
        self._seen_hub_nonces: OrderedDict[str, None] = OrderedDict()
        self._keys: OrderedDict[tuple[bytes, Argon2Params], bytes] = OrderedDict()
        self._memory = memory

    def issue_nonce(self) -> str:
        nonce = new_nonce()
        self._issued[nonce] = None
        _trim(self._issued, self._memory)
        return nonce

    def verify(
        self,
        *,
        version: int,
        domain: str,
        username: str,
        hub_nonce: str,
        member_nonce: str,
        salt: str,
        params: str,
        hub_proof: str,
    ) -> str:
        """Check one auth message; returns the member proof to send in the welcome."""
        if member_nonce not in self._issued:
            raise AuthError("challenge nonce unknown or already used")
        del self._issued[member_nonce]
        if hub_nonce in self._seen_hub_nonces:
            raise AuthError("hub nonce replayed")
        self._seen_hub_nonces[hub_nonce] = None
        _trim(self._seen_hub_nonces, self._memory)
        raw_salt, parsed = b64d(salt), Argon2Params.parse(params)
        self.policy.check(raw_salt, parsed)
        key = self._key(raw_salt, parsed)
        signed = transcript(
            version=version,
            domain=domain,
            username=username,
            hub_nonce=hub_nonce,
            member_nonce=member_nonce,
            salt=salt,
            params=params,
        )
        # Compare both the username and the proof before deciding, and say the same
        # thing for either failure: no username probing.
        good_user = hmac.compare_digest(username.encode(), self.username.encode())
        good_proof = hmac.compare_digest(proof(key, "hub", signed), hub_proof)
        if not (good_user and good_proof):
            raise AuthError("wrong username or password")
        return proof(key, "member", signed)

    def _key(self, salt: bytes, params: Argon2Params) -> bytes:
        cached = self._keys.get((salt, params))
        if cached is None:
            cached = derive_key(self._password, salt, params)
            self._keys[(salt, params)] = cached
            _trim(self._keys, 8)
        return cached


def _trim(d: OrderedDict[Any, Any], size: int) -> None:
    while len(d) > size:
        d.popitem(last=False)
