"""The SMTP transport against a real SMTP server (aiosmtpd): success and each failure."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from pathlib import Path

import pytest

from dashboards.ports import MailFailure
from ops.mail import SmtpTransport
from storage.mail_settings import MailSettings
from tests.support.live_server import free_port
from tests.support.smtp import PASSWORD, USER, smtp_server, trusting


def message(to: str = "ops@prov.example") -> EmailMessage:
    m = EmailMessage()
    m["To"] = to
    m["Subject"] = "fedhub test mail"
    m.set_content("It works.")
    return m


def settings(port: int, **kw: object) -> MailSettings:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "username": USER,
        "password": PASSWORD,
        "sender": "hub@prov.example",
        "timeout": 5.0,
    }
    values.update(kw)
    return MailSettings(**values)  # type: ignore[arg-type]


async def failure(transport: SmtpTransport, s: MailSettings) -> MailFailure:
    with pytest.raises(MailFailure) as e:
        await transport.send(s, message())
    return e.value


async def test_plain_login_delivers(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with smtp_server(tmp_path) as srv:
        await SmtpTransport().send(settings(srv.port), message())
        assert srv.inbox.envelopes == [("hub@prov.example", ["ops@prov.example"])]
        assert srv.inbox.messages[0]["Subject"] == "fedhub test mail"
    assert PASSWORD not in caplog.text


async def test_starttls_and_implicit_tls_deliver_with_a_trusted_certificate(tmp_path: Path) -> None:
    for mode in ("starttls", "tls"):
        with smtp_server(tmp_path, mode) as srv:
            await SmtpTransport(trusting(srv.cert_path)).send(
                settings(srv.port, security=mode), message()
            )
            assert len(srv.inbox.messages) == 1, mode


async def test_refused_login(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with smtp_server(tmp_path) as srv:
        f = await failure(SmtpTransport(), settings(srv.port, password="wrong-" + PASSWORD))
        assert f.code == "login_refused"
        assert "535" in f.message
        assert srv.inbox.messages == []
    assert PASSWORD not in caplog.text and PASSWORD not in f.message


async def test_wrong_port() -> None:
    f = await failure(SmtpTransport(), settings(free_port()))
    assert f.code == "connect_failed"
    assert "127.0.0.1:" in f.message and "refused" in f.message.lower()


async def test_tls_mismatch_each_way(tmp_path: Path) -> None:
    # implicit TLS asked of a plain server: the handshake fails
    with smtp_server(tmp_path) as srv:
        f = await failure(SmtpTransport(), settings(srv.port, security="tls"))
        assert f.code == "tls_failed", f.message
        # STARTTLS asked of a server that does not offer it
        f = await failure(SmtpTransport(), settings(srv.port, security="starttls"))
        assert f.code == "starttls_unsupported", f.message
    # plain SMTP spoken to an implicit-TLS port: no greeting ever comes
    with smtp_server(tmp_path, "tls") as srv:
        f = await failure(SmtpTransport(), settings(srv.port, security="none", timeout=1.0))
        assert f.code == "timeout", f.message
        assert "security" in f.message


async def test_untrusted_server_certificate(tmp_path: Path) -> None:
    with smtp_server(tmp_path, "starttls") as srv:
        f = await failure(SmtpTransport(), settings(srv.port, security="starttls"))
        assert f.code == "tls_certificate", f.message
        # the admin may turn checking off for an internal server
        await SmtpTransport().send(
            settings(srv.port, security="starttls", verify_certificate=False), message()
        )
        assert len(srv.inbox.messages) == 1
