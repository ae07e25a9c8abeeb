"""A real SMTP server for tests (aiosmtpd in its own thread): plain, STARTTLS or TLS,
with an optional login; it keeps what it received."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from sip.tls import ensure_certificate
from tests.support.live_server import free_port

USER, PASSWORD = "mailer", "Sm7p-secret!"


@dataclass
class Inbox:
    messages: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.arrived:
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.messages.append(message_from_bytes(envelope.content))
            self.arrived.notify_all()
        return "250 OK"

    def wait(self, count: int, timeout: float = 20) -> None:
        """Block until ``count`` messages were received (woken by each arrival); exactly
        that many, not more."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.messages) >= count, timeout)
            got = len(self.messages)
        assert got == count, f"{count} mail(s) expected, {got} received in {timeout} s"


def _authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, data: Any
) -> AuthResult:
    ok = (
        isinstance(data, LoginPassword)
        and data.login == USER.encode()
        and data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


@dataclass
class SmtpServer:
    host: str
    port: int
    inbox: Inbox
    cert_path: Path


@contextmanager
def smtp_server(tmp: Path, mode: str = "none", login: bool = True) -> Iterator[SmtpServer]:
    """mode: 'none' (plain), 'starttls' (offers STARTTLS) or 'tls' (implicit TLS)."""
    cert, key = ensure_certificate(tmp / "smtp-cert", "localhost")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    inbox = Inbox()
    port = free_port()
    kw: dict[str, Any] = {}
    if login:
        kw.update(authenticator=_authenticator, auth_require_tls=False)
    if mode == "starttls":
        kw.update(tls_context=ctx)
    if mode == "tls":
        kw.update(ssl_context=ctx)
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **kw)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, inbox, cert)
    finally:
        controller.stop()


def trusting(cert_path: Path) -> ssl.SSLContext:
    """A client context that trusts the test server's self-signed certificate."""
    ctx = ssl.create_default_context(cafile=str(cert_path))
    ctx.check_hostname = False  # the test server listens on 127.0.0.1
    return ctx
