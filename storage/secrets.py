"""Secrets kept encrypted at rest (the SMTP password, …) with a key file of the node.

The key is a Fernet key (AES-128-CBC + HMAC-SHA256, from `cryptography`) in
``<data>/secret.key``, mode 0600, made on first use. What the database holds is
useless without that file; a backup must carry both, a cluster shares the file.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

KEY_FILE = "secret.key"


class SecretUnreadable(Exception):
    """The stored secret was encrypted with another key (or tampered with)."""


class SecretBox:
    """Seals and opens secrets with the node's key, read (or made) on first use."""

    def __init__(self, key: bytes | None = None, *, key_file: Path | None = None):
        if key is None and key_file is None:
            raise ValueError("a key or a key file is needed")
        self._fernet = Fernet(key) if key is not None else None
        self._key_file = key_file

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> SecretBox:
        return cls(key_file=data_dir / KEY_FILE)

    def _box(self) -> Fernet:
        if self._fernet is None:
            assert self._key_file is not None
            self._fernet = Fernet(_read_or_make(self._key_file))
        return self._fernet

    def seal(self, plain: str) -> str:
        return self._box().encrypt(plain.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._box().decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, ValueError):
            raise SecretUnreadable(
                "a stored secret cannot be decrypted with this node's key file"
            ) from None


def _read_or_make(path: Path) -> bytes:
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    return key
