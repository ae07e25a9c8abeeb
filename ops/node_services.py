"""The node's operations handed to the web layer: certificate, mail, password resets.

`attach_node_services(services)` completes what `ops.hub.build_services` made with the node's
certificate, mail, password resets and node registry (the web layer sees the `ops/`
parts only through `dashboards.ports`); `build_services` calls it.
"""

from __future__ import annotations

from pathlib import Path

from dashboards.ports import MailTransport
from dashboards.services import Services
from hub.nodes import NodeInfo
from ops.certs import CertificateStore
from ops.mail import SmtpTransport
from ops.nodes import NodeHeartbeat, identity
from ops.redirect import RedirectSupervisor
from storage.mail_settings import MailSettingsStore
from storage.nodes import NodeStore
from storage.password_resets import PasswordResets
from storage.secrets import SecretBox
from storage.settings import SettingsStore


def cert_dir(services: Services) -> Path:
    """Where the node's certificate lives (shared by the web server and SIP)."""
    c = services.config
    return c.sip_overrides.cert_dir or c.data_dir / "certs"


def attach_node_services(
    services: Services,
    *,
    mail_transport: MailTransport | None = None,
    node: NodeInfo | None = None,
) -> Services:
    """Hand the node's operations to `services`; the node heartbeat starts with the app
    (after migration: `build_services` calls this last)."""
    config = services.config
    if node is None:
        node = identity(config.data_dir)
    names = tuple(n for n in (node.name, node.intranet_address, node.public_address) if n)
    store = CertificateStore(cert_dir(services), names=names)
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
    services.nodes = NodeStore(services.db)
    services.node_name = node.name
    heartbeat = NodeHeartbeat(services.nodes, node, interval=services.heartbeat_interval)
    services.on_start.append(heartbeat.start)
    services.on_stop.append(heartbeat.stop)
    return services


def certificate_store(services: Services) -> CertificateStore | None:
    """The store `attach` handed in (None before `attach`)."""
    store = services.certificates
    return store if isinstance(store, CertificateStore) else None
