"""The database handle: engine, sessions and migrations, for SQLite or PostgreSQL.

``Database.open(url)`` builds the async engine; ``await db.upgrade()`` applies the Alembic
migrations (the hub calls it on start); ``await db.migration_status()`` answers /readyz.
SQLite runs in WAL mode with foreign keys on, so one file serves a standalone node.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

MIGRATIONS = Path(__file__).with_name("migrations")


def normalize_url(url: str) -> str:
    """Pick the async driver for a plain ``sqlite://`` or ``postgresql://`` URL."""
    u = make_url(url)
    if u.drivername in ("sqlite", "sqlite+pysqlite"):
        u = u.set(drivername="sqlite+aiosqlite")
    elif u.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        u = u.set(drivername="postgresql+asyncpg")
    if not u.drivername.startswith(("sqlite+aiosqlite", "postgresql+asyncpg")):
        raise ValueError(
            f"unsupported database URL scheme {u.drivername!r}: use sqlite or postgresql"
        )
    return u.render_as_string(hide_password=False)


def sqlite_url_for(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{(data_dir / 'fedhub.db').resolve()}"


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


@dataclass(frozen=True)
class MigrationStatus:
    current: str | None
    head: str | None

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


READ_ONLY = "fedhub_read_only"
"""Execution option of ``Database.reading``'s sessions."""


class Database:
    """Owns the engine; hand out sessions with ``db.session()``."""

    def __init__(self, engine: AsyncEngine):
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.readers = async_sessionmaker(
            engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @classmethod
    def open(cls, url: str, **engine_args: Any) -> Database:
        url = normalize_url(url)
        if url.startswith("sqlite"):
            engine_args.setdefault("connect_args", {"timeout": 30})
        else:
            engine_args.setdefault("pool_pre_ping", True)
        engine = create_async_engine(url, **engine_args)
        if engine.dialect.name == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return cls(engine)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed on normal exit, rolled back on error."""
        async with self.sessions() as s, s.begin():
            yield s

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A session that only reads, in one transaction (one consistent view).

        On SQLite it takes no write lock: it neither waits behind a writer nor holds one
        up, which is what a request's authentication and the federation's revision
        check need (they run on every request and every dashboard handshake). Writing
        in it fails there (``query_only``). Elsewhere it is a plain session."""
        async with self.readers() as s, s.begin():
            yield s

    async def upgrade(self) -> None:
        """Apply every pending migration (idempotent)."""
        async with self.engine.begin() as conn:
            await conn.run_sync(_run_upgrade)

    async def migration_status(self) -> MigrationStatus:
        head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
        async with self.engine.connect() as conn:
            current = await conn.run_sync(
                lambda c: MigrationContext.configure(c).get_current_revision()
            )
        return MigrationStatus(current, head)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await asyncio.wait_for(conn.execute(text("SELECT 1")), timeout=5)

    async def close(self) -> None:
        await self.engine.dispose()


def _run_upgrade(conn: Connection) -> None:
    cfg = _alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # pysqlite's own transaction handling is switched off so that "begin" below
    # decides: BEGIN IMMEDIATE takes the write lock up front, so a transaction that
    # reads then writes can never fail on a lock upgrade (SQLITE_BUSY_SNAPSHOT);
    # transactions here are short, and WAL keeps plain reads outside them unblocked.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    """BEGIN IMMEDIATE for a session (see ``_sqlite_pragmas``); a deferred BEGIN on a
    query-only connection for ``Database.reading``."""
    read = bool(conn.get_execution_options().get(READ_ONLY, False))
    # per pooled connection, set when it changes: a connection back in the pool may still
    # be query_only, so whatever bypasses ``begin`` (a raw DBAPI connection) must not write
    if conn.info.get(READ_ONLY, False) != read:
        conn.exec_driver_sql(f"PRAGMA query_only={'ON' if read else 'OFF'}")
        conn.info[READ_ONLY] = read
    conn.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")
