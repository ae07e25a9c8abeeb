"""``fedhub sip``: the SIP redirect service as its own process.

It reads the same storage as the hub (``--data`` or ``--db-url``), so the settings
and member addresses an admin changes apply here too, without a restart.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
from pathlib import Path

from ops.redirect import RedirectSupervisor
from sip.settings import Overrides
from storage.db import Database, sqlite_url_for
from storage.federation_store import FederationStore
from storage.settings import SettingsStore

log = logging.getLogger("fedhub.sip")


def add_port_flags(p: argparse.ArgumentParser, prefix: str = "") -> None:
    """--[sip-]host, --[sip-]port (UDP and TCP), --[sip-]tls-port: override storage."""
    p.add_argument(
        f"--{prefix}host",
        default=None,
        metavar="IP",
        help="address the redirector binds (default from settings: 0.0.0.0)",
    )
    p.add_argument(
        f"--{prefix}port",
        type=int,
        default=None,
        metavar="PORT",
        help="UDP and TCP port (default from settings: 5060)",
    )
    p.add_argument(
        f"--{prefix}tls-port",
        type=int,
        default=None,
        metavar="PORT",
        help="TLS port (default from settings: 5061)",
    )
    p.add_argument(
        f"--{prefix}node-name",
        default=None,
        metavar="NAME",
        help="this node's name, matched against the redirect 'node' setting (default: host name)",
    )


def overrides_from(args: argparse.Namespace, data: Path, prefix: str = "") -> Overrides:
    attr = prefix.replace("-", "_")
    port = getattr(args, f"{attr}port")
    return Overrides(
        cert_dir=data / "certs",
        node_name=getattr(args, f"{attr}node_name") or socket.gethostname(),
        host=getattr(args, f"{attr}host"),
        udp_port=port,
        tcp_port=port,
        tls_port=getattr(args, f"{attr}tls_port"),
    )


def describe(status: dict[str, object]) -> str:
    ports = status.get("ports") or {}
    shown = ", ".join(f"{k.upper()} {v}" for k, v in sorted(ports.items()))  # type: ignore[attr-defined]
    return shown or f"not listening ({status.get('last_error') or 'disabled'})"


async def run(args: argparse.Namespace) -> int:
    data: Path = args.data
    db = Database.open(args.db_url or sqlite_url_for(data))
    try:
        await db.upgrade()
        supervisor = RedirectSupervisor(
            FederationStore(db), SettingsStore(db), overrides_from(args, data)
        )
        await supervisor.start()
        print(f"fedhub sip redirector: {describe(supervisor.status())}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await supervisor.stop()
        return 0
    finally:
        await db.close()


def configure_parser(p: argparse.ArgumentParser) -> None:
    add_port_flags(p)


def main(args: argparse.Namespace) -> int:
    import uvloop

    if not args.db_url:
        args.data.mkdir(parents=True, exist_ok=True)
    return uvloop.run(run(args))
