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
    def __init__(self, key: bytes):
        self._fernet = Fernet(key)

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> SecretBox:
        """The node's box; writes a new key file if there is none."""
        path = data_dir / KEY_FILE
        try:
            return cls(path.read_bytes().strip())
        except FileNotFoundError:
            pass
        data_dir.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return cls(path.read_bytes().strip())
        with os.fdopen(fd, "wb") as out:
            out.write(key)
        return cls(key)

    def seal(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, ValueError):
            raise SecretUnreadable(
                "a stored secret cannot be decrypted with this node's key file"
            ) from None
