"""The SMTP settings of the platform, with the password encrypted at rest.

Kept as the settings section ``mail``; the password is sealed with the node's
`SecretBox` before it is stored and opened only to log in to the SMTP server. It is
never part of `to_json` (the API shows ``password_set`` instead).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Final

from storage.secrets import SecretBox
from storage.settings import SettingsStore

SECTION: Final = "mail"
SECURITY: Final = ("none", "starttls", "tls")
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
EMAIL_PATTERN: Final = rf"^[A-Za-z0-9_%+'-]+(?:\.[A-Za-z0-9_%+'-]+)*@{_LABEL}(?:\.{_LABEL})*$"
"""A plain ASCII mail address (what every SMTP server takes without SMTPUTF8)."""


@dataclass(frozen=True)
class MailSettings:
    host: str
    port: int
    security: str = "starttls"  # none | starttls | tls (implicit TLS, port 465)
    username: str = ""
    password: str = field(default="", repr=False)
    sender: str = ""
    verify_certificate: bool = True
    timeout: float = 15.0

    def __post_init__(self) -> None:
        # JSON Schema counts 25.0 as an integer; the socket layer does not
        port: Any = self.port
        if isinstance(port, float) and port.is_integer():
            object.__setattr__(self, "port", int(port))
        if not isinstance(self.port, int) or isinstance(self.port, bool):
            raise ValueError("port must be an integer")
        if not isinstance(self.timeout, int | float) or isinstance(self.timeout, bool):
            raise ValueError("timeout must be a number")
        if not self.host:
            raise ValueError("host is required")
        if not (1 <= self.port <= 65535):
            raise ValueError(f"port {self.port} is not between 1 and 65535")
        if self.security not in SECURITY:
            raise ValueError(f"security must be one of {', '.join(SECURITY)}")
        if self.password and not self.username:
            raise ValueError("a password needs a username")
        if not (0 < self.timeout <= 120):
            raise ValueError("timeout must be between 0 and 120 seconds")

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "security": self.security,
            "username": self.username,
            "password_set": bool(self.password),
            "sender": self.sender,
            "verify_certificate": self.verify_certificate,
            "timeout": self.timeout,
        }


class MailSettingsStore:
    def __init__(self, settings: SettingsStore, box: SecretBox):
        self._settings = settings
        self._box = box

    async def get(self) -> MailSettings | None:
        """The settings with the password opened; ``None`` if mail was never set up.
        Raises `SecretUnreadable` if the key file is not the one that sealed it."""
        stored, _ = await self._settings.get(SECTION)
        if not stored:
            return None
        values = dict(stored)
        sealed = values.pop("password_sealed", "")
        return MailSettings(**values, password=self._box.open(sealed) if sealed else "")

    async def update(self, changes: dict[str, Any]) -> MailSettings:
        """Merge `changes` over what is stored (a missing ``password`` keeps the stored
        one, an empty one removes it); raises ValueError/TypeError on bad values."""
        stored, _ = await self._settings.get(SECTION)
        values = {k: v for k, v in stored.items() if k != "password_sealed"}
        sealed = stored.get("password_sealed", "")
        values.update({k: v for k, v in changes.items() if k != "password"})
        settings = MailSettings(**values)
        if "password" in changes:
            password = changes["password"] or ""
            sealed = self._box.seal(password) if password else ""
        else:
            password = self._box.open(sealed) if sealed else ""
        settings = replace(settings, password=password)
        out = settings.to_json()
        del out["password_set"]
        out["password_sealed"] = sealed
        await self._settings.put(SECTION, out)
        return settings
