"""argon2id hashing for admin and member passwords.

Hashing costs tens of milliseconds of CPU on purpose; the async helpers run it in a
worker thread so the event loop keeps serving. Only the PHC string is ever stored.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()  # argon2id, the library's RFC 9106 low-memory profile

# A valid hash of a random password, verified against when the username is unknown so
# that a login for a missing account takes as long as one for an existing account.
_DUMMY_HASH = _hasher.hash("fedhub-dummy-password-\u2603")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(phc: str | None, password: str) -> bool:
    """True when ``password`` matches the stored ``phc`` string (never raises)."""
    try:
        return _hasher.verify(phc or _DUMMY_HASH, password) and phc is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(phc: str | None, password: str) -> bool:
    return await asyncio.to_thread(verify_password, phc, password)
