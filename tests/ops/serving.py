"""``fedhub serve`` as a subprocess, read line by line: tests wait on what it prints.

The ready line (``ops.cli.READY``) is printed once the app has started and the socket
listens, so a test that has seen it can connect at once — no polling, no sleeps.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.dashboards.conftest import NEW_ADMIN_PASSWORD
from tests.support.live_server import free_port


class Serving:
    """A running ``fedhub serve --http`` on a free loopback port."""

    def __init__(
        self, data: Path, *extra: str, timeout: float = 60.0, env: dict[str, str] | None = None
    ):
        self.data = data
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.timeout = timeout
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ops.cli", "serve", "--http", "--data", str(data),
             "--port", str(self.port), *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            cwd=data.parent,  # not the source tree: its fedhub.egg-info would name the version
        )  # fmt: skip
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)  # the process closed its output: it ended

    def wait_for(self, text: str) -> str:
        """The next line containing ``text``; fails if the process ends or is silent."""
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no line with {text!r}; saw:\n" + "\n".join(self.seen[-40:])
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            assert line is not None, f"serve ended before {text!r}:\n" + "\n".join(self.seen[-40:])
            self.seen.append(line)
            if text in line:
                return line

    def wait_ready(self) -> str:
        return self.wait_for(" serving on http://127.0.0.1:")

    def admin(self) -> httpx.Client:
        """A client logged in as the default admin (its password changed on first use)."""
        c = httpx.Client(base_url=self.base + "/api/v1", timeout=30)
        for password in ("123456", NEW_ADMIN_PASSWORD):
            r = c.post("/auth/login", json={"username": "admin", "password": password})
            if r.status_code == 200:
                break
        assert r.status_code == 200, r.text
        c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        if r.json().get("password_change_required"):
            r = c.post(
                "/auth/password",
                json={"old_password": "123456", "new_password": NEW_ADMIN_PASSWORD},
            )
            assert r.status_code == 204, r.text
        return c

    def ended(self) -> None:
        """Wait until every process writing to the output has closed it."""
        deadline = time.monotonic() + self.timeout
        while (line := self.lines.get(timeout=max(0.01, deadline - time.monotonic()))) is not None:
            self.seen.append(line)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            while not self.lines.empty():
                self.seen.append(str(self.lines.get()))
            self.proc.kill()
            raise AssertionError("serve did not stop:\n" + "\n".join(self.seen[-30:])) from None


def backup_then_add_a_city(c: httpx.Client, password: str) -> None:
    """A province, backup ``b1`` of it, then a city under it: a restore of ``b1`` shows
    whether the node came back as the backup (the province alone)."""
    prov = c.post(
        "/members",
        json={"parent_id": None, "domain": "prov.example.gov", "display_name": "Prov",
              "username": "prov", "password": password},
    ).json()  # fmt: skip
    job = c.post("/backups", json={"name": "b1"}).json()
    assert c.get(f"/jobs/{job['id']}?wait=60").json()["state"] == "done"
    r = c.post(
        "/members",
        json={"parent_id": prov["id"], "domain": "city.prov.example.gov",
              "display_name": "City", "username": "city", "password": password},
    )  # fmt: skip
    assert r.status_code == 201, r.text


def audit_of(data: Path, action: str) -> list[tuple[str, str, str]]:
    """``(result, target, reason)`` of each audit row of ``action`` in the hub at ``data``."""
    import asyncio

    from storage.audit import AuditLog, AuditQuery
    from storage.db import Database, sqlite_url_for

    async def read() -> list[tuple[str, str, str]]:
        db = Database.open(sqlite_url_for(data))
        try:
            rows = await AuditLog(db).query(AuditQuery(action=action))
            return [(e.result, e.target, e.reason) for e in reversed(rows)]
        finally:
            await db.close()

    return asyncio.run(read())
