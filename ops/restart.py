"""Restarting this node gracefully, asked for through the API.

``fedhub serve`` binds a :class:`Restart` to its server: ``request()`` records why and
tells the server to stop. uvicorn then stops accepting, closes every dashboard
websocket with 1012 (*service restart*: the pages reconnect), lets running requests
finish and runs the app's stop hooks (member links close; the members' links are
dialled again by the new process, which loads the same bound members). When the
server has returned, ``serve`` calls :func:`exec_again`: the process replaces itself
(``execv``) with the same command line, so its PID — what systemd supervises — stays
the same, and a hub started from a shell comes back in the same terminal. systemd's
``Restart=on-failure`` stays the net for a crash, not the restart path.

After an upgrade switched ``<root>/current`` (``ops/upgrade.py``), ``executable`` names
the interpreter through that link, so the same ``execv`` starts the new version.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence

from dashboards.operations import OperationError

log = logging.getLogger("fedhub.ops")


class Restart:
    """This process's restart switch (the API's ``RestartPort``)."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.executable: str | None = None  # None: the interpreter running now
        self._stop: Callable[[], None] | None = None

    def bind(self, stop: Callable[[], None]) -> None:
        """``stop`` makes the server shut down gracefully (``fedhub serve`` binds it)."""
        self._stop = stop

    @property
    def available(self) -> bool:
        """Whether a server is bound (the process runs under ``fedhub serve``)."""
        return self._stop is not None

    @property
    def requested(self) -> bool:
        return self.reason is not None

    def request(self, reason: str) -> None:
        """Stop serving and start again; refused (503) when no server is bound, (409)
        when a restart is under way already."""
        if self._stop is None:
            raise OperationError(
                503,
                "restart_unavailable",
                "this process does not run under 'fedhub serve' and cannot restart itself; "
                "restart it where it runs (e.g. 'systemctl restart fedhub')",
            )
        if self.reason is not None:
            raise OperationError(409, "restart_pending", "this node is restarting already")
        self.reason = reason
        log.warning("restarting this node: %s", reason)
        self._stop()


def command(executable: str | None = None, argv: Sequence[str] | None = None) -> list[str]:
    """The command line that started this process, with ``executable`` if given."""
    args = list(sys.orig_argv[1:] if argv is None else argv)
    return [executable or sys.executable, *args]


def exec_again(restart: Restart) -> None:
    """Replace this process by a fresh copy of itself (does not return)."""
    argv = command(restart.executable)
    log.warning("starting again: %s", " ".join(argv))
    logging.shutdown()  # flush the log files first: execv keeps no Python buffers
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(argv[0], argv)  # noqa: S606  (our own command line, no shell)
    except OSError as e:  # e.g. a switched-to environment without its interpreter
        print(f"fedhub: cannot start {argv[0]}: {e}", file=sys.stderr, flush=True)
        os._exit(1)  # an upgrade's guard sees the process end and rolls back
