"""The ``fedhub`` command line: serve the hub, manage admins, migrate the database.

Each sub-command builds what it needs from its flags and runs it; nothing is global.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from controllers.config import ConfigError, parse_networks
from emulator import cli as emulator_cli
from hub import password_policy
from hub.logtext import LOG_FORMAT
from hub.version import fedhub_version
from ops import certs_cli, nodes_cli, sip_sidecar
from ops import demo as demo_mod
from ops import logs as logs_mod
from ops import uninstall as uninstall_mod
from ops.ops_cli import add_operations_commands, version_line
from storage.admins import Admin, Role, UsernameTaken
from storage.passwords import hash_password_async

if TYPE_CHECKING:
    from dashboards.services import HubConfig, Services

log = logging.getLogger("fedhub")


def _add_storage_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("FEDHUB_DATA", "var")),
        help="data directory (SQLite database, certificates, backups); default ./var",
    )
    p.add_argument(
        "--db-url",
        default=os.environ.get("FEDHUB_DB_URL"),
        help="database URL, e.g. postgresql://user:pass@host/fedhub "
        "(default: SQLite in the data directory); also FEDHUB_DB_URL",
    )


def _config(args: argparse.Namespace) -> HubConfig:
    from dashboards.services import HubConfig  # the web stack loads only where it is used

    extra: dict[str, object] = {}
    if getattr(args, "session_idle", None) is not None:
        extra["session_idle"] = timedelta(minutes=args.session_idle)
    if getattr(args, "session_max", None) is not None:
        extra["session_absolute"] = timedelta(hours=args.session_max)
    if getattr(args, "trusted_proxy", None):
        extra["trusted_proxies"] = frozenset(args.trusted_proxy)
    if getattr(args, "link_ca", None) is not None:
        extra["link_ca_file"] = args.link_ca
    if getattr(args, "link_network", None):
        extra["link_networks"] = tuple(args.link_network)
    if getattr(args, "cookie_secure", False):
        extra["cookie_secure"] = True
    if getattr(args, "sip", False):
        extra["sip"] = True
        extra["sip_overrides"] = sip_sidecar.overrides_from(args, args.data, "sip-")
    return HubConfig(data_dir=args.data, db_url=args.db_url, **extra)  # type: ignore[arg-type]


def _services(args: argparse.Namespace) -> Services:
    from ops.hub import build_services

    return build_services(_config(args))


def _positive(kind: type[int] | type[float]) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        value = kind(raw)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{raw} must be greater than 0")
        return value

    return parse


def _network(raw: str) -> str:
    """A ``--link-network`` checked by the link layer's own rule (``parse_networks``),
    so a typo stops the command with a usage error, not a traceback at start-up."""
    try:
        (network,) = parse_networks([raw])
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return str(network)


READY = "fedhub {version} serving on {url} (pid {pid})"
"""Printed (stdout) once the app has started and the socket listens: wait for it."""


def cmd_serve(args: argparse.Namespace) -> int:
    from dashboards.app import create_app
    from ops.backup import node_name
    from ops.https import hub_server
    from ops.hub import build_services
    from ops.node_services import certificate_store
    from ops.restart import Restart, exec_again
    from ops.upgrade import confirm, install_root

    config = _config(args)
    logs_mod.install(config.data_dir / "logs", node_name())
    services = build_services(config)
    app = create_app(services)
    scheme = "http" if args.http else "https"
    url = f"{scheme}://{args.host}:{args.port}/"

    def ready() -> None:
        confirm(install_root(), fedhub_version())  # an upgrade to this version is done
        print(READY.format(version=fedhub_version(), url=url, pid=os.getpid()), flush=True)

    server = hub_server(
        app,
        host=args.host,
        port=args.port,
        certificates=certificate_store(services),
        https=not args.http,
        loop="uvloop",
        log_level=args.log_level,
        log_config=None,  # uvicorn's own lines go through ours: same format, same files
        proxy_headers=False,
        on_ready=ready,
    )
    restart = services.restart
    if isinstance(restart, Restart):
        restart.bind(lambda: setattr(server, "should_exit", True))
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the SIGINT it handled
        server.run()
    if isinstance(restart, Restart) and restart.requested and server.started:
        exec_again(restart)
    return 0 if server.started else 1


def _read_password(args: argparse.Namespace, username: str) -> str:
    if args.password_stdin:
        pw = sys.stdin.readline().rstrip("\n")
    else:
        pw = getpass.getpass(f"password for {username}: ")
        if pw != getpass.getpass("again: "):
            raise SystemExit("passwords differ")
    reasons = password_policy.check(pw, username)
    if reasons:
        raise SystemExit("password " + "; ".join(reasons))
    return pw


def cmd_admin_create(args: argparse.Namespace) -> int:
    pw = _read_password(args, args.username)

    async def run() -> int:
        s = _services(args)
        try:
            await s.db.upgrade()
            if args.member is not None:
                view = await s.federation.current()
                if args.member not in view.federation:
                    print(f"no member {args.member}", file=sys.stderr)
                    return 1
            try:
                admin = await s.admins.create(
                    args.username,
                    await hash_password_async(pw),
                    Role(args.role),
                    args.member,
                    password_change_required=not args.no_change,
                )
            except UsernameTaken:
                print(f"admin {args.username!r} exists already", file=sys.stderr)
                return 1
            await s.audit.record(
                action="admin.create",
                result="ok",
                admin_name="(cli)",
                target=f"admin:{admin.id}",
                details={"role": args.role, "via": "cli"},
            )
            print(f"created {args.role} {args.username!r} (id {admin.id})")
            return 0
        finally:
            await s.db.close()

    return asyncio.run(run())


Done = tuple[str, dict[str, object] | None]
"""What an admin action did: the line printed, and the audit details (None: none)."""
AdminAction = Callable[["Services", "Admin"], Awaitable[Done]]


def _with_admin(args: argparse.Namespace, audit_action: str, act: AdminAction) -> int:
    """Run ``act`` on the admin named ``args.username`` (1 if there is none), then audit
    it as done from the shell and print what it did: every ``fedhub admin`` action but
    ``create`` is this."""

    async def run() -> int:
        s = _services(args)
        try:
            await s.db.upgrade()
            found = await s.admins.credentials(args.username)
            if found is None:
                print(f"no admin {args.username!r}", file=sys.stderr)
                return 1
            admin = found[0]
            line, details = await act(s, admin)
            await s.audit.record(
                action=audit_action,
                result="ok",
                admin_name="(cli)",
                target=f"admin:{admin.id}",
                details=details,
            )
            print(line)
            return 0
        finally:
            await s.db.close()

    return asyncio.run(run())


def cmd_admin_passwd(args: argparse.Namespace) -> int:
    pw = _read_password(args, args.username)

    async def act(s: Services, admin: Admin) -> Done:
        hashed = await hash_password_async(pw)
        await s.admins.set_password(admin.id, hashed, must_change=not args.no_change)
        await s.end_credentials(admin.id)
        return f"password of {admin.username!r} set; its sessions and API tokens ended", None

    return _with_admin(args, "admin.passwd", act)


def cmd_admin_unlock(args: argparse.Namespace) -> int:
    async def act(s: Services, admin: Admin) -> Done:
        await s.admins.unlock(admin.id)
        return f"{admin.username!r} unlocked", None

    return _with_admin(args, "admin.unlock", act)


def cmd_admin_email(args: argparse.Namespace) -> int:
    import re

    from storage.mail_settings import EMAIL_PATTERN
    from storage.password_resets import PasswordResets

    address = None if args.address == "-" else args.address
    if address is not None and (len(address) > 254 or not re.match(EMAIL_PATTERN, address)):
        raise SystemExit(f"{args.address!r} is not a mail address")

    async def act(s: Services, admin: Admin) -> Done:
        await PasswordResets(s.db).set_email(admin.id, address)
        return f"mail address of {admin.username!r} {'set' if address else 'removed'}", None

    return _with_admin(args, "admin.email", act)


def cmd_admin_approve(args: argparse.Namespace) -> int:
    """The shell is a second person: it approves a password a security admin set."""

    async def act(s: Services, admin: Admin) -> Done:
        await s.admins.approve(admin.id)
        return f"{admin.username!r} approved: it can log in", None

    return _with_admin(args, "admin.approve", act)


def cmd_admin_disable(args: argparse.Namespace) -> int:
    disabled = args.admin_command == "disable"

    async def act(s: Services, admin: Admin) -> Done:
        await s.admins.set_disabled(admin.id, disabled)
        if disabled:
            await s.end_credentials(admin.id)
        line = f"{admin.username!r} {'disabled' if disabled else 'enabled'}"
        return line, {"disabled": disabled, "via": "cli"}

    return _with_admin(args, "admin.update", act)


def cmd_admin_delete(args: argparse.Namespace) -> int:
    async def act(s: Services, admin: Admin) -> Done:
        await s.end_credentials(admin.id)
        await s.admins.delete(admin.id)
        details: dict[str, object] = {"username": admin.username, "role": str(admin.role)}
        details["via"] = "cli"
        return f"{admin.role} {admin.username!r} deleted", details

    return _with_admin(args, "admin.delete", act)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    async def run() -> int:
        s = _services(args)
        try:
            await s.db.upgrade()
            st = await s.db.migration_status()
            print(f"database at revision {st.current} (head {st.head})")
            return 0
        finally:
            await s.db.close()

    return asyncio.run(run())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fedhub",
        description="fedhub: federation management for cascaded video-conferencing networks.",
    )
    p.add_argument("--version", action="version", version=version_line())
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="run the hub (JSON admin API, member links)",
        description="Run the hub: the JSON admin API and the member links "
        "(and, with --sip, the SIP redirector).",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument("--port", type=int, default=8080, help="HTTP(S) port (default 8080)")
    serve.add_argument(
        "--http",
        action="store_true",
        help="serve plain HTTP (behind a TLS proxy, or on loopback); default is HTTPS with "
        "the node's certificate (self-signed on first start; see 'fedhub cert import')",
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument(
        "--session-idle",
        type=_positive(float),
        metavar="MINUTES",
        help="end a session after this long without requests (default 30)",
    )
    serve.add_argument(
        "--session-max",
        type=_positive(float),
        metavar="HOURS",
        help="end every session after this long (default 12)",
    )
    serve.add_argument(
        "--trusted-proxy",
        action="append",
        metavar="IP",
        help="believe X-Forwarded-For/-Proto from this proxy address (repeatable)",
    )
    serve.add_argument(
        "--cookie-secure",
        action="store_true",
        help="always mark the session cookie Secure (behind a TLS proxy)",
    )
    serve.add_argument(
        "--link-ca",
        type=Path,
        metavar="PEM",
        help="CA certificates trusted for wss:// member links (default: the system's)",
    )
    serve.add_argument(
        "--link-network",
        action="append",
        type=_network,
        metavar="CIDR",
        help="a network member links may dial (repeatable); default: any address but "
        "loopback, link-local and other special ones, which must be listed to be dialled",
    )
    serve.add_argument(
        "--sip", action="store_true", help="also run the SIP redirect service in this process"
    )
    sip_sidecar.add_port_flags(serve, "sip-")
    _add_storage_flags(serve)
    serve.set_defaults(func=cmd_serve)

    admin = sub.add_parser(
        "admin",
        help="manage admin accounts from the shell",
        description="Create admins, set passwords, unlock, approve, disable, enable and "
        "delete accounts. Security and auditor accounts are managed only here (the API "
        "refuses it), and this approves an admin account whose password a security admin "
        "set through the API.",
    )
    asub = admin.add_subparsers(dest="admin_command", required=True, metavar="ACTION")
    create = asub.add_parser("create", help="create an admin account")
    create.add_argument("username")
    create.add_argument(
        "--role",
        choices=[r.value for r in Role],
        default="admin",
        help="admin: operates its member's subtree; security: manages admin "
        "accounts; auditor: reads the audit log",
    )
    create.add_argument(
        "--member",
        type=int,
        default=None,
        help="member id whose subtree the account works in (default: whole federation)",
    )
    passwd = asub.add_parser("passwd", help="set an admin's password (ends its sessions)")
    passwd.add_argument("username")
    for sp in (create, passwd):
        sp.add_argument(
            "--password-stdin", action="store_true", help="read the password from stdin"
        )
        sp.add_argument(
            "--no-change",
            action="store_true",
            help="do not require a password change at next login",
        )
    create.set_defaults(func=cmd_admin_create)
    passwd.set_defaults(func=cmd_admin_passwd)
    unlock = asub.add_parser("unlock", help="unlock an account locked by failed logins")
    unlock.add_argument("username")
    unlock.set_defaults(func=cmd_admin_unlock)
    email = asub.add_parser("email", help="set the mail address password reset links go to")
    email.add_argument("username")
    email.add_argument("address", help="the mail address; '-' removes it")
    email.set_defaults(func=cmd_admin_email)
    approve = asub.add_parser(
        "approve", help="approve an account whose password a security admin set (2nd person)"
    )
    approve.set_defaults(func=cmd_admin_approve)
    disable = asub.add_parser("disable", help="disable an account (ends its sessions, tokens)")
    enable = asub.add_parser("enable", help="enable a disabled account")
    for sp in (disable, enable):
        sp.set_defaults(func=cmd_admin_disable)
    delete = asub.add_parser("delete", help="delete an account (ends its sessions, tokens)")
    delete.set_defaults(func=cmd_admin_delete)
    for sp in (approve, disable, enable, delete):
        sp.add_argument("username")
    for sp in (create, passwd, unlock, email, approve, disable, enable, delete):
        _add_storage_flags(sp)

    cert = sub.add_parser(
        "cert",
        help="the node's TLS certificate (web server and SIP)",
        description="Show, import or roll back the certificate of this node's web server "
        "and SIP TLS listener. A running 'fedhub serve' picks a change up within 5 s.",
    )
    certs_cli.configure_parser(cert, _add_storage_flags)

    node = sub.add_parser(
        "node",
        help="this node's name, role and addresses (registered at start)",
        description="Kept in DATA/node.json; the hub registers it at start and heartbeats.",
    )
    nodes_cli.configure_node(node, _add_storage_flags)
    cluster = sub.add_parser("cluster", help="check a cluster file")
    nodes_cli.configure_cluster(cluster)
    uninstall = sub.add_parser(
        "uninstall",
        help="remove this node (asks first; keeps backups unless --purge-backups)",
        description="Stops and removes the systemd unit, the virtual environment, the "
        "configuration and the data directory installed by ops/install.sh.",
    )
    uninstall_mod.configure_parser(uninstall)

    demo = sub.add_parser(
        "demo",
        help="run the hub with an emulated 5-level federation and live meetings",
        description="One command for a newcomer: the hub, about 40 emulated member servers "
        "(province, cities, counties, townships, villages) registered, bound and linked, "
        "a province-wide federation meeting running. Prints the URL and the login.",
    )
    demo_mod.configure_parser(demo)
    demo.set_defaults(func=demo_mod.run)

    emulate = sub.add_parser(
        "emulate",
        help="run emulated member servers (reference link protocol) on loopback",
        description="Run one or many emulated member servers in one process, for demos, "
        "tests and load (e.g. --members 2000).",
    )
    emulator_cli.configure_parser(emulate)
    emulate.set_defaults(func=emulator_cli.run)

    sip = sub.add_parser(
        "sip",
        help="run the SIP redirect service as its own process",
        description="The SIP redirector (UDP, TCP, TLS) that sends each device to its "
        "member server; settings and routes come from the hub's storage and apply "
        "without restart.",
    )
    sip_sidecar.configure_parser(sip)
    _add_storage_flags(sip)
    sip.set_defaults(func=sip_sidecar.main)

    db = sub.add_parser("db", help="database maintenance")
    dsub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = dsub.add_parser("upgrade", help="apply pending migrations (serve does this on start)")
    _add_storage_flags(up)
    up.set_defaults(func=cmd_db_upgrade)
    add_operations_commands(sub, _add_storage_flags)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    # a line per connection is noise with hundreds of links; warnings still show
    logging.getLogger("websockets").setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
