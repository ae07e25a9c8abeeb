"""What the web layer asks of the node's operations, as small Protocols.

The implementations live in `ops/` (the node's certificate folder, the SMTP client)
and are handed in through `Services` by whoever composes the process; the API only
knows these shapes. A service left out answers 503 on its endpoints.
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Protocol

from hub.certificates import CertificateBundle, CertificateInfo
from storage.mail_settings import MailSettings


class Certificates(Protocol):
    """The node's TLS certificate (web server and SIP listener)."""

    def current(self) -> CertificateInfo: ...

    def previous(self) -> CertificateInfo | None: ...

    def check(
        self, cert_pem: bytes, key_pem: bytes, chain_pem: bytes = b"", password: bytes | None = None
    ) -> CertificateBundle:
        """Raises `hub.certificates.CertificateRefused` with the reason."""
        ...

    async def install(self, bundle: CertificateBundle) -> CertificateInfo:
        """Current from the next handshake on; the old pair kept for rollback."""
        ...

    async def rollback(self) -> CertificateInfo:
        """Back to the previous pair; raises `CertificateRefused` if there is none
        or it is no longer valid."""
        ...


class MailFailure(Exception):
    """Sending failed; `code` is stable (connect_failed, login_refused, tls_failed, …),
    `message` says exactly what the server or the network answered."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class MailTransport(Protocol):
    async def send(self, settings: MailSettings, message: EmailMessage) -> None:
        """Deliver `message` through the server `settings` name; raises `MailFailure`."""
        ...
