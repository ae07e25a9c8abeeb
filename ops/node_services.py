"""The node's own services handed to the web layer: certificate, mail, password resets,
the node registry and its heartbeat.

``build_node_services(config, db, settings, redirect)`` makes them (composed by
``ops/hub.py``); the web layer sees the ``ops/`` parts only through
``dashboards.ports``. The heartbeat starts after migration (``ops/hub.py`` runs this
part's hooks after the bootstrap).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from dashboards.ports import MailTransport
from dashboards.services import Hook, HubConfig, Services
from hub.nodes import NodeInfo
from ops.certs import CertificateStore
from ops.mail import SmtpTransport
from ops.nodes import NodeHeartbeat, identity
from ops.redirect import RedirectSupervisor
from storage.db import Database
from storage.mail_settings import MailSettingsStore
from storage.nodes import NodeStore
from storage.password_resets import PasswordResets
from storage.secrets import SecretBox
from storage.settings import SettingsStore


def cert_dir(config: HubConfig) -> Path:
    """Where the node's certificate lives (shared by the web server and SIP)."""
    return config.sip_overrides.cert_dir or config.data_dir / "certs"


@dataclass(frozen=True)
class NodeParts:
    certificates: CertificateStore
    mail_settings: MailSettingsStore
    mail_transport: MailTransport
    password_resets: PasswordResets
    nodes: NodeStore
    node_name: str
    on_start: tuple[Hook, ...]
    on_stop: tuple[Hook, ...]


def build_node_services(
    config: HubConfig,
    db: Database,
    settings: SettingsStore,
    redirect: RedirectSupervisor | None,
    *,
    heartbeat_interval: timedelta,
    mail_transport: MailTransport | None = None,
    node: NodeInfo | None = None,
) -> NodeParts:
    """The node's certificate (told to the SIP redirector on change), mail, password
    resets and registry with its heartbeat (not started)."""
    if node is None:
        node = identity(config.data_dir)
    names = tuple(n for n in (node.name, node.intranet_address, node.public_address) if n)
    store = CertificateStore(cert_dir(config), names=names)
    if redirect is not None:
        store.on_change(lambda cert, key: redirect.service.reload_certificate())
    nodes = NodeStore(db)
    heartbeat = NodeHeartbeat(nodes, node, interval=heartbeat_interval)
    return NodeParts(
        certificates=store,
        mail_settings=MailSettingsStore(settings, SecretBox.for_data_dir(config.data_dir)),
        mail_transport=mail_transport or SmtpTransport(),
        password_resets=PasswordResets(db),
        nodes=nodes,
        node_name=node.name,
        on_start=(heartbeat.start,),
        on_stop=(heartbeat.stop,),
    )


def certificate_store(services: Services) -> CertificateStore | None:
    """The node's certificate store in ``services`` (None if this process has none)."""
    store = services.certificates
    return store if isinstance(store, CertificateStore) else None
