"""Consistent copies of the live database, and putting one back.

- SQLite: the online backup API (``sqlite3.Connection.backup``) copies the database in
  one step under a read transaction, so it is one committed state while the hub keeps
  writing (WAL: readers do not block writers). Restoring swaps the file in atomically.
- PostgreSQL: ``pg_dump --format=custom`` (one repeatable-read snapshot); restoring
  renders it to SQL with ``pg_restore`` and runs it with ``psql`` in one transaction
  that first drops every table, so a failed restore leaves the old data as it was.

The client tools must match the server's major version (Debian's ``postgresql``
package for a server 15). Passwords go to the tools through ``PGPASSWORD``, never on
their command line. ``fingerprint`` gives each table's row count and a content hash,
to prove two databases hold the same data.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from storage.db import Database, normalize_url

DUMP_TIMEOUT = 6 * 3600


class DumpError(Exception):
    """A copy or restore that could not be done; the message says why."""


def dialect_of(url: str) -> str:
    return make_url(normalize_url(url)).get_backend_name()


def sqlite_path(url: str) -> Path:
    db = make_url(normalize_url(url)).database
    if not db or db == ":memory:":
        raise DumpError("an in-memory SQLite database cannot be backed up")
    return Path(db)


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection string without the password, and the env that carries it."""
    u = make_url(normalize_url(url))
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    plain = u.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def snapshot_sqlite(url: str, out: Path) -> None:
    """Copy the SQLite database at ``url`` to ``out`` as one committed state."""
    src_path = sqlite_path(url)
    if not src_path.exists():
        raise DumpError(f"no database at {src_path}")
    src = sqlite3.connect(f"file:{src_path}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(out)
    try:
        src.backup(dst)  # all pages in one step: one read transaction, one snapshot
        check = dst.execute("PRAGMA integrity_check").fetchone()
        if check is None or check[0] != "ok":
            raise DumpError(f"the copy fails its integrity check: {check}")
    finally:
        dst.close()
        src.close()


def dump_postgres(url: str, out: Path) -> None:
    """``pg_dump`` the database at ``url`` into ``out`` (custom format)."""
    conn, env = _libpq(url)
    _run(
        [
            "pg_dump",
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            "--schema=public",
            f"--file={out}",
            f"--dbname={conn}",
        ],
        env,
        "pg_dump",
    )


def restore_sqlite(snapshot: Path, url: str) -> None:
    """Put ``snapshot`` in place of the SQLite database at ``url`` (hub stopped)."""
    target = sqlite_path(url)
    target.parent.mkdir(parents=True, exist_ok=True)
    check = sqlite3.connect(f"file:{snapshot}?mode=ro", uri=True)
    try:
        row = check.execute("PRAGMA integrity_check").fetchone()
    except sqlite3.DatabaseError as e:
        raise DumpError(f"the database in the backup cannot be read: {e}") from None
    finally:
        check.close()
    if row is None or row[0] != "ok":
        raise DumpError("the database in the backup fails its integrity check")
    tmp = target.with_name(target.name + ".restoring")
    shutil.copyfile(snapshot, tmp)
    with tmp.open("rb+") as f:
        os.fsync(f.fileno())
    # the old write-ahead log belongs to the old file: SQLite must not replay it
    for suffix in ("-wal", "-shm", "-journal"):
        target.with_name(target.name + suffix).unlink(missing_ok=True)
    os.replace(tmp, target)


_DROP_ALL = """
DO $fedhub_restore$
DECLARE r record;
BEGIN
  FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP
    EXECUTE 'DROP TABLE IF EXISTS public.' || quote_ident(r.tablename) || ' CASCADE';
  END LOOP;
  FOR r IN SELECT sequence_name FROM information_schema.sequences
           WHERE sequence_schema = 'public' LOOP
    EXECUTE 'DROP SEQUENCE IF EXISTS public.' || quote_ident(r.sequence_name) || ' CASCADE';
  END LOOP;
END
$fedhub_restore$;
"""


def restore_postgres(dump: Path, url: str) -> None:
    """Replace every table of the database at ``url`` with the dump, in one transaction."""
    conn, env = _libpq(url)
    script = dump.with_suffix(".sql")
    _run(
        ["pg_restore", "--no-owner", "--no-privileges", f"--file={script}", str(dump)],
        env,
        "pg_restore",
    )
    body = script.read_text(encoding="utf-8")
    # a dump of one schema creates it; here it exists already (its tables are dropped)
    body = body.replace("\nCREATE SCHEMA public;\n", "\nCREATE SCHEMA IF NOT EXISTS public;\n")
    # pg_dump empties search_path for safety; the drop runs first, with names qualified
    script.write_text(_DROP_ALL + body, encoding="utf-8")
    try:
        _run(
            [
                "psql",
                "--no-psqlrc",
                "--quiet",
                "--single-transaction",
                "--set=ON_ERROR_STOP=1",
                f"--file={script}",
                f"--dbname={conn}",
            ],
            env,
            "psql",
        )
    finally:
        script.unlink(missing_ok=True)


def _run(argv: list[str], env: dict[str, str], tool: str) -> None:
    if shutil.which(argv[0]) is None:
        raise DumpError(
            f"{tool} is not installed: install the PostgreSQL client tools of the server's "
            "major version (Debian: apt-get install postgresql-client)"
        )
    try:
        r = subprocess.run(  # noqa: S603  (fixed argv, no shell)
            argv, env=env, capture_output=True, text=True, timeout=DUMP_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        raise DumpError(f"{tool} did not finish in {DUMP_TIMEOUT} s") from None
    if r.returncode != 0:
        err = (r.stderr or r.stdout).strip().splitlines()
        raise DumpError(f"{tool} failed: {err[-1] if err else r.returncode}")


async def fingerprint(
    db: Database, where: dict[str, str] | None = None
) -> dict[str, tuple[int, str]]:
    """Each table's row count and a SHA-256 of its rows in key order.

    ``where`` narrows a table to the rows of a fixed SQL condition (the tests compare
    a copy taken under write load with the rows that existed when it was taken)."""
    async with db.engine.connect() as conn:
        names = await conn.run_sync(
            lambda c: sorted(n for n in c.dialect.get_table_names(c) if not n.startswith("sqlite_"))
        )
        out: dict[str, tuple[int, str]] = {}
        for name in names:
            h = hashlib.sha256()
            count = 0
            cond = f" WHERE {where[name]}" if where and name in where else ""
            result = await conn.stream(
                text(f'SELECT * FROM "{name}"{cond} ORDER BY 1')  # noqa: S608
            )
            async for row in result:
                h.update(_row_bytes(row))
                count += 1
            out[name] = (count, h.hexdigest())
        return out


async def prefix_fingerprints(db: Database, table: str) -> dict[int, tuple[int, str]]:
    """For each row id of ``table``, what ``fingerprint`` says of the rows up to it.

    A copy taken while rows were being appended equals the original cut at the copy's
    last id: this tells what the original looked like there."""
    out: dict[int, tuple[int, str]] = {}
    h = hashlib.sha256()
    count = 0
    async with db.engine.connect() as conn:
        result = await conn.stream(text(f'SELECT * FROM "{table}" ORDER BY 1'))  # noqa: S608
        async for row in result:
            h.update(_row_bytes(row))
            count += 1
            out[int(row[0])] = (count, h.hexdigest())
    return out


def _row_bytes(row: object) -> bytes:
    return repr(tuple(_norm(v) for v in row)).encode()  # type: ignore[attr-defined]


def _norm(v: object) -> object:
    # SQLite hands back naive datetimes and ints for booleans; PostgreSQL aware ones
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v
