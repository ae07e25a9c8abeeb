"""What the API needs from the operations side (backups, logs, settings sections).

``ops/`` implements these and hands them to the app through ``Services``; the web layer
only knows the Protocols, so it never imports ``ops``. An implementation refuses with
:class:`OperationError`, which the endpoint wrapper turns into its status.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol


class OperationError(Exception):
    """A refusal with its HTTP status, machine code and human message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class BackupsPort(Protocol):
    def start(
        self, name: str | None, passphrase: str | None, *, by: str, by_id: int | None = None
    ) -> dict[str, Any]:
        """Begin a manual backup in the background; the job (``id``, ``state``, …).
        ValueError: a bad name; OperationError 409: the name is taken or a backup or
        restore runs on this node."""

    async def job(self, job_id: str, wait: float = 0.0) -> dict[str, Any]:
        """A job as it is, after up to ``wait`` seconds for it to end; 404 if unknown."""

    async def entries(self) -> list[dict[str, Any]]:
        """Every backup of this node, newest first."""

    def path(self, backup_id: str) -> Path:
        """The archive file, for streaming; OperationError 404 if there is none."""

    async def delete(self, backup_id: str) -> None: ...


class LogsPort(Protocol):
    modules: tuple[str, ...]

    def export(
        self,
        since: datetime | None,
        until: datetime | None,
        modules: frozenset[str] | None,
        nodes: frozenset[str] | None,
    ) -> AsyncIterator[bytes]:
        """The matching log lines as a zip, streamed."""


class RestoresPort(Protocol):
    """Restoring a backup through the API (``ops/staged_restore.py``)."""

    async def start(
        self, backup_id: str, passphrase: str | None, *, by: str, by_id: int | None = None
    ) -> dict[str, Any]:
        """Begin verifying and staging ``backup_id`` (applied at the next start; the node
        restarts when it can); the job. OperationError 404 (no such backup), 409 (other
        nodes run on the database, or a backup or restore runs on this node)."""


class UpgradesPort(Protocol):
    """Upgrading this node from a release wheel (``ops/upgrade.py``)."""

    def status(self) -> dict[str, Any]:
        """The running version, whether this install can be upgraded, the last upgrade."""

    async def receive(
        self,
        body: AsyncIterator[bytes],
        filename: str,
        sha256: str,
        *,
        by: str,
        by_id: int | None = None,
    ) -> dict[str, Any]:
        """Stream the wheel to disk, then upgrade in a job; the job. OperationError 409
        (not upgradable, busy), 413 (too large), 422 (bad checksum or file name)."""


class RestartPort(Protocol):
    """This node's graceful restart (``ops/restart.py``)."""

    def request(self, reason: str) -> None:
        """Stop serving and start again; OperationError 503 (cannot), 409 (under way)."""


class SectionPort(Protocol):
    """A settings section with rules of its own (quotas, backup schedule, logs)."""

    async def get(self) -> dict[str, Any]:
        """``{"settings": ..., "revision": n, ...}`` plus what the section shows."""

    async def patch(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge, check (OperationError 422), store and apply; the new ``get()``."""
