"""Sending mail through the platform's SMTP server (aiosmtplib), with exact failures.

`SmtpTransport.send(settings, message)` connects with the configured security
(none, STARTTLS, or implicit TLS), logs in if a username is set, and delivers; any
failure becomes a `MailFailure` whose message says what happened (the server's own
answer when there is one). The password is used for the login only: it is never
logged nor part of an error message.
"""

from __future__ import annotations

import logging
import os
import ssl
from email.message import EmailMessage

import aiosmtplib

from dashboards.ports import MailFailure
from storage.mail_settings import MailSettings

log = logging.getLogger("fedhub.mail")


def _answer(e: aiosmtplib.SMTPResponseException) -> str:
    return f"{e.code} {e.message}".strip()


def _failure(e: BaseException, settings: MailSettings) -> MailFailure:
    where = f"{settings.host}:{settings.port}"
    if isinstance(e, aiosmtplib.SMTPAuthenticationError):
        return MailFailure("login_refused", f"the server refused the login: {_answer(e)}")
    if isinstance(e, aiosmtplib.SMTPRecipientsRefused):
        first = e.recipients[0] if e.recipients else None
        said = _answer(first) if first is not None else "no reason given"
        return MailFailure("recipient_refused", f"the server refused the recipient: {said}")
    if isinstance(e, aiosmtplib.SMTPSenderRefused):
        return MailFailure("sender_refused", f"the server refused the sender: {_answer(e)}")
    if isinstance(e, ssl.SSLCertVerificationError):
        return MailFailure(
            "tls_certificate",
            f"the certificate of {where} is not trusted: {e.verify_message or e.reason}",
        )
    if isinstance(e, ssl.SSLError) or (
        isinstance(e, aiosmtplib.SMTPConnectError) and isinstance(e.__cause__, ssl.SSLError)
    ):
        cause = e if isinstance(e, ssl.SSLError) else e.__cause__
        reason = getattr(cause, "reason", None) or str(cause)
        return MailFailure(
            "tls_failed",
            f"TLS handshake with {where} failed ({reason}): is security "
            f"{settings.security!r} what this port speaks?",
        )
    if isinstance(e, aiosmtplib.SMTPTimeoutError | TimeoutError):
        hint = (
            " (a TLS port answered as plain SMTP? check the security setting)"
            if settings.security != "tls"
            else ""
        )
        return MailFailure("timeout", f"no answer from {where} within {settings.timeout:g} s{hint}")
    if isinstance(e, aiosmtplib.SMTPConnectError | ConnectionError | OSError):
        cause = e.__cause__ if isinstance(e.__cause__, OSError) else e
        errno = getattr(cause, "errno", None)
        reason = os.strerror(errno) if isinstance(errno, int) else str(e)
        return MailFailure("connect_failed", f"cannot connect to {where}: {reason}")
    if isinstance(e, aiosmtplib.SMTPResponseException):
        return MailFailure("smtp_error", f"the server answered {_answer(e)}")
    if isinstance(e, aiosmtplib.SMTPException):
        text = str(e)
        if "STARTTLS" in text:
            return MailFailure(
                "starttls_unsupported",
                f"{where} does not offer STARTTLS: choose security 'tls' or 'none'",
            )
        return MailFailure("smtp_error", f"SMTP error with {where}: {text}")
    return MailFailure("smtp_error", f"{type(e).__name__}: {e}")


class SmtpTransport:
    """The real transport. `tls_context` (default: the system's trust store) checks
    the server's certificate unless the settings turn checking off."""

    def __init__(self, tls_context: ssl.SSLContext | None = None):
        self._tls_context = tls_context

    async def send(self, settings: MailSettings, message: EmailMessage) -> None:
        if not message["From"]:
            sender = settings.sender or settings.username or f"fedhub@{settings.host}"
            try:
                message["From"] = sender
            except ValueError as e:  # stored before the settings refused line breaks
                raise MailFailure("invalid_sender", f"the sender cannot be a header: {e}") from e
        try:
            await aiosmtplib.send(
                message,
                hostname=settings.host,
                port=settings.port,
                username=settings.username or None,
                password=settings.password or None,
                use_tls=settings.security == "tls",
                start_tls=settings.security == "starttls",
                validate_certs=settings.verify_certificate,
                tls_context=self._tls_context if settings.verify_certificate else None,
                timeout=settings.timeout,
            )
        except Exception as e:
            failure = _failure(e, settings)
            log.warning("mail to %s not sent: %s", message["To"], failure.message)
            raise failure from None
        log.info("mail sent to %s via %s:%s", message["To"], settings.host, settings.port)
