"""``INSERT … ON CONFLICT`` for whichever backend a session runs on.

SQLite and PostgreSQL spell it the same way, but SQLAlchemy keeps it in each dialect;
this picks the right one so stores can write an atomic insert-or-update once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert(session: AsyncSession, table: Any) -> Any:
    """An INSERT for ``table`` offering ``on_conflict_do_nothing/do_update``."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
