"""``fedhub cert show | import CERT KEY [--chain FILE] | rollback``: the node's certificate
from the shell, with the same checks and reasons as the API."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Callable
from pathlib import Path

from hub.certificates import CertificateInfo, CertificateRefused
from hub.nodes import NodeError
from ops.certs import CertificateStore
from ops.nodes import identity


def _store(args: argparse.Namespace) -> CertificateStore:
    try:  # a self-signed pair made here names the node like the one serve would make
        node = identity(args.data)
        names = tuple(n for n in (node.name, node.intranet_address, node.public_address) if n)
    except NodeError:
        names = ()
    return CertificateStore(args.cert_dir or args.data / "certs", names=names)


def _print(label: str, info: CertificateInfo | None) -> None:
    if info is None:
        print(f"{label}: none")
        return
    print(f"{label}: {info.subject}")
    print(f"  issuer       {info.issuer}")
    print(f"  names        {', '.join(info.names) or '-'}")
    print(f"  valid        {info.not_before.isoformat()} .. {info.not_after.isoformat()}")
    print(f"  sha256       {info.fingerprint_sha256}")
    print(f"  key, chain   {info.key_type}, {info.chain_length} certificate(s)")


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise SystemExit(f"cannot read the {what} {path}: {e.strerror}") from None


def cmd_show(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        _print("current", store.current())
        _print("previous", store.previous())
    except CertificateRefused as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 1
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    store = _store(args)
    cert, key = _read(args.cert, "certificate"), _read(args.key, "key")
    chain = _read(args.chain, "chain") if args.chain else b""
    password = getpass.getpass("key password: ").encode() if args.ask_password else None
    try:
        bundle = store.check(cert, key, chain, password)
        info = asyncio.run(store.install(bundle))
    except CertificateRefused as e:
        print(f"refused ({e.code}): {e.message}", file=sys.stderr)
        return 1
    _print("installed", info)
    print("the previous certificate is kept: 'fedhub cert rollback' goes back to it")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    try:
        info = asyncio.run(_store(args).rollback())
    except CertificateRefused as e:
        print(f"refused ({e.code}): {e.message}", file=sys.stderr)
        return 1
    _print("current", info)
    return 0


def configure_parser(
    p: argparse.ArgumentParser, storage_flags: Callable[[argparse.ArgumentParser], None]
) -> None:
    sub = p.add_subparsers(dest="cert_command", required=True, metavar="ACTION")
    show = sub.add_parser("show", help="the current and the previous certificate")
    show.set_defaults(func=cmd_show)
    imp = sub.add_parser(
        "import",
        help="install a PEM certificate (and chain) with its key, after checking them",
        description="Checks that the key matches, the dates are valid and the chain links "
        "up; refuses with the reason otherwise. The current certificate is kept for rollback.",
    )
    imp.add_argument("cert", type=Path, help="PEM certificate (may carry the chain after it)")
    imp.add_argument("key", type=Path, help="PEM private key")
    imp.add_argument("--chain", type=Path, help="PEM intermediate certificates")
    imp.add_argument("--ask-password", action="store_true", help="the key is encrypted")
    imp.set_defaults(func=cmd_import)
    rb = sub.add_parser("rollback", help="go back to the previous certificate")
    rb.set_defaults(func=cmd_rollback)
    for sp in (show, imp, rb):
        storage_flags(sp)
        sp.add_argument("--cert-dir", type=Path, help="certificate folder (default: DATA/certs)")
