"""The shell side of operations: ``fedhub backup create|list|restore``, ``fedhub logs
export`` and what ``fedhub --version`` prints.

``backup create`` works while the hub runs (the copy is online and consistent);
``backup restore`` refuses while a hub runs on the same data or database and says
what to do. Exit codes: 0 done, 1 refused (the reason on stderr), 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from hub.version import fedhub_version
from ops.archive import ArchiveError
from ops.logs import MODULES, LogFilter, export_zip
from storage.db import MIGRATIONS

if TYPE_CHECKING:
    from ops.backup import Target


def version_line() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    return f"fedhub {fedhub_version()} (database schema revision {head})"


def _passphrase(args: argparse.Namespace) -> str | None:
    if getattr(args, "passphrase_file", None) is not None:
        text = Path(args.passphrase_file).read_text(encoding="utf-8").strip()
        if not text:
            raise SystemExit("the passphrase file is empty")
        return text
    if getattr(args, "passphrase_stdin", False):
        text = sys.stdin.readline().rstrip("\n")
        if not text:
            raise SystemExit("no passphrase on stdin")
        return text
    return None


def _target(args: argparse.Namespace) -> Target:
    # imported here: `fedhub sip` builds this parser and must load no web code
    from ops.backup import Target

    return Target.of(args.data, args.db_url)


def cmd_backup_create(args: argparse.Namespace) -> int:
    passphrase = _passphrase(args)
    if passphrase is not None and len(passphrase) < 8:
        print("a passphrase needs at least 8 characters", file=sys.stderr)
        return 1

    from dashboards.operations import OperationError
    from ops.backup import Backups
    from storage.db import Database
    from storage.dump import DumpError

    async def run() -> int:
        target = _target(args)
        target.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database.open(target.db_url)
        try:
            await db.upgrade()
            entry = await Backups(target, db, fedhub_version()).create(args.name, passphrase)
        except (OperationError, DumpError) as e:
            print(f"backup refused: {e}", file=sys.stderr)
            return 1
        except ValueError as e:
            print(f"backup refused: {e}", file=sys.stderr)
            return 1
        finally:
            await db.close()
        path = target.backups_dir / f"{entry['id']}.fedhub-backup"
        print(f"backup {entry['id']} made: {path} ({entry['size']} bytes)")
        return 0

    return asyncio.run(run())


def cmd_backup_list(args: argparse.Namespace) -> int:
    from ops.backup import Backups
    from storage.db import Database

    async def run() -> int:
        target = _target(args)
        db = Database.open(target.db_url)
        try:
            entries = await Backups(target, db, fedhub_version()).entries()
        finally:
            await db.close()
        if not entries:
            print(f"no backups in {target.backups_dir}")
        for e in entries:
            lock = " encrypted" if e.get("encrypted") else ""
            bad = f"  UNREADABLE: {e['error']}" if "error" in e else ""
            print(
                f"{e['id']:<40} {e.get('created_at', '?'):<34} {e.get('kind', '?'):<10} "
                f"{e['size']:>12} bytes{lock}{bad}"
            )
        return 0

    return asyncio.run(run())


def cmd_backup_restore(args: argparse.Namespace) -> int:
    from ops.backup import restore
    from ops.presence import HubRunning
    from storage.dump import DumpError

    passphrase = _passphrase(args)
    target = _target(args)
    try:
        manifest = asyncio.run(restore(args.file, target, passphrase))
    except ArchiveError as e:
        print(f"restore refused ({e.code}): {e.message}; nothing was changed", file=sys.stderr)
        return 1
    except HubRunning as e:
        print(f"restore refused: {e}; nothing was changed", file=sys.stderr)
        return 1
    except DumpError as e:
        print(f"restore failed: {e}; the database was left as it was", file=sys.stderr)
        return 1
    print(
        f"restored backup {manifest.name} (made {manifest.created_at} on {manifest.node}, "
        f"fedhub {manifest.fedhub_version}) into {target.data_dir}; start the hub now"
    )
    return 0


def _when(raw: str) -> datetime:
    t = datetime.fromisoformat(raw)
    if t.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{raw}: give a time zone, e.g. 2026-01-01T00:00:00Z")
    return t


def cmd_logs_export(args: argparse.Namespace) -> int:
    flt = LogFilter(
        args.since,
        args.until,
        frozenset(args.module) if args.module else None,
        frozenset(args.node) if args.node else None,
    )
    out: Path = args.output
    with out.open("wb") as f:
        for piece in export_zip(args.data / "logs", flt):
            f.write(piece)
    print(f"logs written to {out} ({out.stat().st_size} bytes)")
    return 0


def add_operations_commands(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    storage_flags: Callable[[argparse.ArgumentParser], None],
) -> None:
    backup = sub.add_parser(
        "backup",
        help="make, list and restore backups",
        description="Backups hold the database (with every setting) and the certificates "
        "in one archive with a manifest and checksums, optionally encrypted. 'create' "
        "works while the hub runs; 'restore' needs every hub node stopped.",
    )
    bsub = backup.add_subparsers(dest="backup_command", required=True, metavar="ACTION")
    create = bsub.add_parser("create", help="make a backup now (the hub may be running)")
    create.add_argument("--name", help="a name (letters, digits, . _ -); default manual-<time>")
    lst = bsub.add_parser("list", help="list the backups in the data directory")
    rst = bsub.add_parser(
        "restore", help="verify a backup, then restore it (every hub node stopped)"
    )
    rst.add_argument("file", type=Path, help="the .fedhub-backup archive")
    for sp in (create, rst):
        g = sp.add_mutually_exclusive_group()
        g.add_argument(
            "--passphrase-file",
            type=Path,
            metavar="FILE",
            help="encrypt/decrypt with the passphrase in FILE",
        )
        g.add_argument(
            "--passphrase-stdin",
            action="store_true",
            help="read the passphrase from the first line of stdin",
        )
    for sp in (create, lst, rst):
        storage_flags(sp)
    create.set_defaults(func=cmd_backup_create)
    lst.set_defaults(func=cmd_backup_list)
    rst.set_defaults(func=cmd_backup_restore)

    logs = sub.add_parser("logs", help="the hub's log files")
    lsub = logs.add_subparsers(dest="logs_command", required=True, metavar="ACTION")
    export = lsub.add_parser(
        "export", help="write the lines of a time range, modules and nodes to a zip"
    )
    export.add_argument("--since", type=_when, help="from this time (ISO 8601 with zone)")
    export.add_argument("--until", type=_when, help="before this time (ISO 8601 with zone)")
    export.add_argument("--module", action="append", choices=MODULES, help="repeatable")
    export.add_argument("--node", action="append", help="node name (repeatable)")
    export.add_argument("-o", "--output", type=Path, default=Path("fedhub-logs.zip"))
    storage_flags(export)
    export.set_defaults(func=cmd_logs_export)
