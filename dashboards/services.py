"""What the web layer needs, built once by the app factory and passed explicitly."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from dashboards.links import LinkSupervisor
from dashboards.operations import BackupsPort, Job, LogsPort, SectionPort
from dashboards.redirect import Overrides, RedirectSupervisor
from dashboards.throttle import LoginThrottle
from storage.admins import AdminStore
from storage.api_tokens import TokenStore
from storage.audit import AuditLog
from storage.db import Database
from storage.federation_store import FederationStore
from storage.sessions import SessionStore
from storage.settings import SettingsStore


@dataclass(frozen=True)
class HubConfig:
    """Settings of one hub node (from the command line or the caller)."""

    data_dir: Path = Path("var")
    db_url: str | None = None  # default: SQLite file in data_dir
    session_idle: timedelta = timedelta(minutes=30)
    session_absolute: timedelta = timedelta(hours=12)
    lockout_failures: int = 5
    lockout_duration: timedelta = timedelta(minutes=15)
    ip_failures_per_window: int = 20
    ip_window: timedelta = timedelta(minutes=5)
    cookie_secure: bool | None = None  # None: Secure when the request came over https
    max_body: int = 64 * 1024
    links: bool = True  # dial out to bound member servers
    link_ca_file: Path | None = None  # trusted CAs for wss:// member links (None: system)
    sip: bool = False  # run the SIP redirect service in this process
    sip_overrides: Overrides = field(default_factory=Overrides)
    trusted_proxies: frozenset[str] = field(default_factory=frozenset)


@dataclass
class Services:
    config: HubConfig
    db: Database
    federation: FederationStore
    admins: AdminStore
    sessions: SessionStore
    tokens: TokenStore
    audit: AuditLog
    throttle: LoginThrottle
    settings: SettingsStore | None = None
    links: LinkSupervisor | None = None
    redirect: RedirectSupervisor | None = None
    # the operations side (ops/operations.py attaches them; None: not offered)
    backups: BackupsPort | None = None
    logs: LogsPort | None = None
    sections: dict[str, SectionPort] = field(default_factory=dict)
    jobs: list[Job] = field(default_factory=list)

    async def end_credentials(self, admin_id: int, *, keep_session: str | None = None) -> None:
        """The admin's secrets are no longer trusted (password changed or reset, account
        disabled): end its sessions (but ``keep_session``, the caller's own) and revoke its
        API tokens, so nothing obtained before comes back."""
        await self.sessions.revoke_all(admin_id, except_id=keep_session)
        await self.tokens.revoke_all(admin_id)
