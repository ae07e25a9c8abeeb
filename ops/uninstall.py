"""``fedhub uninstall``: remove what ``ops/install.sh`` installed, after a confirmation.

Backups (``/var/lib/fedhub/backups``) are kept unless ``--purge-backups``; everything
else of the node goes: the systemd unit (stopped and disabled first), the virtual
environment, the configuration, the data directory. ``--prefix`` works on a staged root
like the installer's. The plan is printed before anything is touched.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

UNIT = Path("etc/systemd/system/fedhub.service")
OPT = Path("opt/fedhub")
ETC = Path("etc/fedhub")
LINK = Path("usr/local/bin/fedhub")
DATA = Path("var/lib/fedhub")
BACKUPS = DATA / "backups"


@dataclass(frozen=True)
class Plan:
    remove: tuple[Path, ...]
    keep: tuple[Path, ...]


def plan(prefix: Path, purge_backups: bool) -> Plan:
    """What uninstalling under `prefix` removes and keeps (only what exists)."""
    remove: list[Path] = [prefix / p for p in (UNIT, LINK, OPT, ETC)]
    keep: list[Path] = []
    data = prefix / DATA
    backups = prefix / BACKUPS
    if purge_backups or not backups.exists():
        remove.append(data)
    else:
        keep.append(backups)
        if data.is_dir():
            remove.extend(sorted(p for p in data.iterdir() if p != backups))
    return Plan(
        tuple(p for p in remove if p.exists() or p.is_symlink()),
        tuple(keep),
    )


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _systemd(*args: str) -> None:
    if Path("/run/systemd/system").is_dir() and shutil.which("systemctl"):
        subprocess.run(["systemctl", *args], check=False)  # noqa: S603,S607


def run(args: argparse.Namespace) -> int:
    prefix: Path = args.prefix.resolve()
    staged = prefix != Path("/")
    p = plan(prefix, args.purge_backups)
    if not p.remove:
        print(f"nothing of fedhub is installed under {prefix}")
        return 0
    print("fedhub uninstall will remove:")
    for path in p.remove:
        print(f"  {path}")
    for path in p.keep:
        print(f"and keep {path} (--purge-backups removes it too)")
    if not args.yes:
        if not sys.stdin.isatty():
            print("refused: no terminal to confirm on; add --yes", file=sys.stderr)
            return 1
        if input("type 'yes' to uninstall: ").strip() != "yes":
            print("nothing removed")
            return 1
    if not staged:
        _systemd("disable", "--now", "fedhub.service")
    for path in p.remove:
        _remove(path)
    if not staged:
        _systemd("daemon-reload")
        if args.purge_backups and shutil.which("userdel"):
            subprocess.run(["userdel", "fedhub"], check=False)  # noqa: S607
    print("fedhub removed" + (f"; backups kept in {p.keep[0]}" if p.keep else ""))
    return 0


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prefix", type=Path, default=Path("/"), help="the root installed into")
    p.add_argument("--purge-backups", action="store_true", help="remove the backups too")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=run)
