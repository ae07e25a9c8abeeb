"""What the web layer needs, built by the process that serves it and passed explicitly.

The web face does not build its services: ``ops/hub.py`` (the composition root of a hub
process) does, and hands them to ``dashboards.app.create_app``. The parts that run in
the background (member links, the SIP redirector) are seen here only through the small
Protocols below, so nothing in ``dashboards/`` depends on how a process is put together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from controllers.manager import LinkManager
from dashboards.operations import (
    BackupsPort,
    LogsPort,
    RestartPort,
    RestoresPort,
    SectionPort,
    UpgradesPort,
)
from dashboards.ports import Certificates, MailTransport
from dashboards.throttle import LoginThrottle
from hub.live import LiveReader
from sip.settings import Overrides
from storage.admins import AdminStore
from storage.api_tokens import TokenStore
from storage.audit import AuditLog
from storage.datasets import DataStore
from storage.db import Database
from storage.federation_store import FederationStore
from storage.mail_settings import MailSettingsStore
from storage.nodes import NodeStore
from storage.password_resets import PasswordResets
from storage.preferences import PreferenceStore
from storage.sessions import SessionStore
from storage.settings import SettingsStore

if TYPE_CHECKING:
    from dashboards.livehub import LiveHub


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
    link_networks: tuple[str, ...] = ()  # where links may dial (CIDR); () = any but special
    # (loopback, link-local, …: allowed only when listed; the demo lists loopback)
    sip: bool = False  # run the SIP redirect service in this process
    sip_overrides: Overrides = field(default_factory=Overrides)
    trusted_proxies: frozenset[str] = field(default_factory=frozenset)


class LinkControl(Protocol):
    """The member links as the web sees them (``ops.links.LinkSupervisor``)."""

    @property
    def owner(self) -> bool:
        """Whether this node runs the member links now (the lease holder)."""
        ...

    @property
    def manager(self) -> LinkManager: ...

    def status(self) -> list[dict[str, object]]:
        """Per-link status, including members whose link settings are unusable."""
        ...


class RedirectControl(Protocol):
    """The SIP redirector of this node as the web sees it (``ops.redirect``)."""

    async def refresh(self, force: bool = False) -> None:
        """Re-apply stored settings and routes now (after the API changed them)."""
        ...

    def status(self) -> dict[str, Any]: ...


class SyncControl(Protocol):
    """The data-set sync as the web sees it (``ops.sync.SyncService``)."""

    interval: float

    async def push(
        self, member_id: int, datasets: Any = None, *, force: bool = False, full: bool = False
    ) -> dict[str, str]:
        """Push now; per data set what happened (sent, in step, waiting, link down)."""
        ...

    async def dry_run(self, member_id: int, datasets: Any = None) -> dict[str, dict[str, Any]]:
        """What a push would change, per data set; changes nothing."""
        ...

    async def current_status(self, member_id: int) -> dict[str, dict[str, Any]]:
        """Per data set: version (as stored now), acknowledged version, last success,
        last error, pending."""
        ...

    def unsynced(self) -> dict[int, list[str]]:
        """Bound members whose data is not in step, with the data sets concerned."""
        ...

    async def rebind(self, member_id: int) -> None:
        """The member's server was bound anew (and wiped): send it everything."""
        ...


Hook = Callable[[], Awaitable[None]]


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
    data: DataStore | None = None
    preferences: PreferenceStore | None = None
    links: LinkControl | None = None
    live: LiveReader | None = None
    """The live state service (``hub.live``), the same one the links write; None when
    this process runs no links."""
    redirect: RedirectControl | None = None
    sync: SyncControl | None = None
    livehub: LiveHub | None = None
    """The live hub of this node: /ws/live fan-out, one-click calls, journal, metrics."""
    # the operations side (``ops/operations.py`` attaches them; None: not offered)
    backups: BackupsPort | None = None
    logs: LogsPort | None = None
    sections: dict[str, SectionPort] = field(default_factory=dict)
    restores: RestoresPort | None = None
    upgrades: UpgradesPort | None = None
    restart: RestartPort | None = None
    """This node's graceful restart (None: the process cannot restart itself)."""
    on_start: list[Hook] = field(default_factory=list)
    """Run in order when the app starts (migrate, first admin, links, redirector)."""
    on_stop: list[Hook] = field(default_factory=list)
    """Run in order when the app stops; the database closes after the last."""
    # node services (ops/node_services.py hands them in; None: the endpoints answer 503)
    certificates: Certificates | None = None
    mail_settings: MailSettingsStore | None = None
    mail_transport: MailTransport | None = None
    password_resets: PasswordResets | None = None
    reset_throttle: LoginThrottle = field(default_factory=lambda: LoginThrottle(5, 900.0))
    background: set[asyncio.Task[None]] = field(default_factory=set)
    nodes: NodeStore | None = None
    node_name: str = ""  # this node's name in ``nodes``
    heartbeat_interval: timedelta = timedelta(seconds=15)

    def in_background(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``coro`` after the answer (kept referenced until it ends)."""
        task = asyncio.create_task(coro, name=name)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def settle(self) -> None:
        """Wait until the background work started so far has ended (its errors are its
        own: each logs them)."""
        await asyncio.gather(*self.background, return_exceptions=True)

    async def end_credentials(self, admin_id: int, *, keep_session: str | None = None) -> None:
        """The admin's secrets are no longer trusted (password changed or reset, account
        disabled): end its sessions (but ``keep_session``, the caller's own) and revoke its
        API tokens, so nothing obtained before comes back."""
        await self.sessions.revoke_all(admin_id, except_id=keep_session)
        await self.tokens.revoke_all(admin_id)
