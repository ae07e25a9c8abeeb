"""The node's operations handed to the web layer: certificate, mail, password resets.

`attach(services)` completes what `ops.hub.build_services` made with the parts the
web layer sees only through `dashboards.ports`; `build_services` calls it.
"""

from __future__ import annotations

from pathlib import Path

from dashboards.ports import MailTransport
from dashboards.services import Services
from ops.certs import CertificateStore
from ops.mail import SmtpTransport
from ops.redirect import RedirectSupervisor
from storage.mail_settings import MailSettingsStore
from storage.password_resets import PasswordResets
from storage.secrets import SecretBox
from storage.settings import SettingsStore


def cert_dir(services: Services) -> Path:
    """Where the node's certificate lives (shared by the web server and SIP)."""
    c = services.config
    return c.sip_overrides.cert_dir or c.data_dir / "certs"


def attach(services: Services, *, mail_transport: MailTransport | None = None) -> Services:
    config = services.config
    store = CertificateStore(cert_dir(services))
    services.certificates = store
    redirect = services.redirect
    if isinstance(redirect, RedirectSupervisor):
        store.on_change(lambda cert, key: redirect.service.reload_certificate())
    if services.settings is None:
        services.settings = SettingsStore(services.db)
    services.mail_settings = MailSettingsStore(
        services.settings, SecretBox.for_data_dir(config.data_dir)
    )
    services.mail_transport = mail_transport or SmtpTransport()
    services.password_resets = PasswordResets(services.db)
    return services


def certificate_store(services: Services) -> CertificateStore | None:
    """The store `attach` handed in (None before `attach`)."""
    store = services.certificates
    return store if isinstance(store, CertificateStore) else None
