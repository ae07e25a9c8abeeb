"""``fedhub node show|set`` (this node's account in DATA/node.json) and
``fedhub cluster check FILE`` (the installer's cluster file)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from hub.nodes import NodeError, parse_cluster
from ops.nodes import identity, write_identity


def cmd_show(args: argparse.Namespace) -> int:
    try:
        n = identity(args.data)
    except NodeError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 1
    print(f"name              {n.name}")
    print(f"role              {n.role}")
    print(f"intranet address  {n.intranet_address}")
    print(f"public address    {n.public_address or '-'}")
    print(f"DNS servers       {', '.join(n.dns_servers) or '-'}")
    return 0


def cmd_set(args: argparse.Namespace) -> int:
    try:
        n = identity(args.data)
        changes: dict[str, object] = {}
        for field in ("name", "role", "intranet_address", "public_address"):
            value = getattr(args, field)
            if value is not None:
                changes[field] = None if value == "-" else value
        if args.dns is not None:
            changes["dns_servers"] = tuple(d for d in args.dns.split(",") if d)
        n = replace(n, **changes)  # type: ignore[arg-type]
    except NodeError as e:
        print(f"refused: {e.message}", file=sys.stderr)
        return 1
    path = write_identity(args.data, n)
    print(f"{path} written; a running node registers it at its next start")
    return 0


def cmd_cluster_check(args: argparse.Namespace) -> int:
    try:
        plan = parse_cluster(args.file.read_text(encoding="utf-8"))
    except OSError as e:
        print(f"cannot read {args.file}: {e.strerror}", file=sys.stderr)
        return 1
    except NodeError as e:
        print(f"{args.file}: {e.message}", file=sys.stderr)
        return 1
    names = ", ".join(n.name for n in plan.secondaries) or "-"
    print(f"ok: {plan.size} nodes; primary {plan.primary.name}; secondaries {names}")
    return 0


def configure_node(
    p: argparse.ArgumentParser, storage_flags: Callable[[argparse.ArgumentParser], None]
) -> None:
    sub = p.add_subparsers(dest="node_command", required=True, metavar="ACTION")
    show = sub.add_parser("show", help="this node's name, role and addresses")
    show.set_defaults(func=cmd_show)
    st = sub.add_parser("set", help="change this node's name, role or addresses")
    st.add_argument("--name")
    st.add_argument("--role", choices=["primary", "secondary"])
    st.add_argument("--intranet-address", dest="intranet_address")
    st.add_argument("--public-address", dest="public_address", help="NAT address; '-' clears")
    st.add_argument("--dns", help="DNS servers, comma-separated (at most 3)")
    st.set_defaults(func=cmd_set)
    for sp in (show, st):
        storage_flags(sp)


def configure_cluster(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="cluster_command", required=True, metavar="ACTION")
    check = sub.add_parser(
        "check",
        help="validate a cluster file (one primary, an even number of secondaries)",
        description="One node per line: 'primary|secondary NAME ADDRESS'; '#' comments.",
    )
    check.add_argument("file", type=Path)
    check.set_defaults(func=cmd_cluster_check)
