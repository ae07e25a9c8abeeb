"""Upgrading a node from an uploaded release wheel: the adapter around ``upgrade_plan``.

Layout (``ops/install.sh``): every version in its own virtual environment under
``<root>/releases/<version>``, ``<root>/current`` a symlink to the one that runs, the
service started through ``<root>/current/bin/fedhub``. The root is
``FEDHUB_INSTALL_ROOT``, else found from the running interpreter
(``<root>/releases/<v>``); without one, upgrades are refused (install with pip).

``Upgrades.receive`` (``POST /api/v1/upgrade``) checks what it can before reading —
the SHA-256 given with the upload, the file name, that no backup, restore or upgrade
runs — then streams the body to ``<root>/incoming`` (at most ``MAX_WHEEL`` bytes),
hashing it, and runs the rest as a job in the node's backup slot: the plan checks
the release (checksum, a wheel of fedhub, newer than the running version); the
:class:`Installer` puts it in a new virtual environment and proves it imports as the
version it claims; a ``pre-upgrade`` backup is made; ``current`` is switched
atomically; ``<root>/upgrade.json`` records the plan; the guard
(``ops/upgrade_guard.py``, a separate process running the *previous* version's code)
is started; and the node restarts through ``current`` (``ops/restart.py``). The new
version confirms the plan once it serves (:func:`confirm`); otherwise the guard rolls
back. A failure before the switch removes the new environment; the node never
stopped serving.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from email.parser import HeaderParser
from pathlib import Path
from typing import Any, Protocol

from dashboards.operations import OperationError
from hub.version import fedhub_version
from ops.backup import BACKUP_SLOT, Backups
from ops.restart import Restart, command
from ops.upgrade_plan import (
    MAX_WHEEL,
    READY_WITHIN,
    Plan,
    Release,
    UpgradeRefused,
    check_release,
    check_sha256,
    parse_filename,
)

log = logging.getLogger("fedhub.ops")

STATE = "upgrade.json"
CHUNK = 1 << 16


def install_root() -> Path | None:
    """Where releases live (see the module doc), or None."""
    env = os.environ.get("FEDHUB_INSTALL_ROOT")
    if env:
        return Path(env)
    prefix = Path(sys.prefix)
    if prefix.parent.name == "releases":
        return prefix.parent.parent
    return None


class InstallFailed(Exception):
    """The new environment could not be made; the message says what the tool said."""


class Installer(Protocol):
    async def install(self, wheel: Path, venv: Path, version: str) -> None:
        """Make ``venv`` a virtual environment running fedhub ``version`` from
        ``wheel``, or raise :class:`InstallFailed` (the caller removes ``venv``)."""


class VenvInstaller:
    """``python -m venv`` and ``pip install`` (with ``pip_args``: e.g. ``--no-index
    --find-links <wheelhouse>`` offline); ``share_site`` makes the new environment see
    another one's packages instead of installing the dependencies again (what a
    machine without a package index or wheelhouse can do)."""

    def __init__(
        self,
        *,
        python: str = sys.executable,
        pip_args: Sequence[str] = (),
        share_site: Path | None = None,
        timeout: float = 900.0,
    ):
        self.python = python
        self.pip_args = tuple(pip_args)
        self.share_site = share_site
        self.timeout = timeout

    @classmethod
    def from_environment(cls) -> VenvInstaller:
        """Options from ``FEDHUB_PIP_ARGS`` (like ``ops/install.sh``) and
        ``FEDHUB_PIP_SHARE_SITE`` (a site-packages directory to share)."""
        share = os.environ.get("FEDHUB_PIP_SHARE_SITE")
        return cls(
            pip_args=os.environ.get("FEDHUB_PIP_ARGS", "").split(),
            share_site=Path(share) if share else None,
        )

    async def _run(self, *argv: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        try:
            async with asyncio.timeout(self.timeout):
                out, _ = await proc.communicate()
        except TimeoutError:
            proc.kill()
            raise InstallFailed(
                f"{Path(argv[0]).name} took longer than {self.timeout:g} s"
            ) from None
        text = out.decode(errors="replace")
        if proc.returncode != 0:
            tail = " | ".join(text.strip().splitlines()[-3:])
            raise InstallFailed(f"{' '.join(argv[:4])} failed ({proc.returncode}): {tail}")
        return text

    async def install(self, wheel: Path, venv: Path, version: str) -> None:
        await self._run(self.python, "-m", "venv", str(venv))
        python = venv / "bin" / "python"
        if self.share_site is not None:
            site = Path(
                (
                    await self._run(
                        str(python), "-c", "import sysconfig;print(sysconfig.get_path('purelib'))"
                    )
                ).strip()
            )
            (site / "_fedhub_shared_site.pth").write_text(
                f"import site; site.addsitedir({str(self.share_site)!r})\n", encoding="utf-8"
            )
        await self._run(str(python), "-m", "pip", "install", "-q", *self.pip_args, str(wheel))
        found = (
            await self._run(
                str(python),
                "-I",
                "-c",
                "import importlib.metadata as m; print(m.version('fedhub'))",
            )
        ).strip()
        if found != version:
            raise InstallFailed(f"the new environment runs fedhub {found}, not {version}")


def read_metadata(wheel: Path) -> tuple[str | None, str | None]:
    """``Name`` and ``Version`` from the wheel's ``*.dist-info/METADATA`` (None: none)."""
    try:
        with zipfile.ZipFile(wheel) as z:
            names = [
                n for n in z.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
            ]
            if len(names) != 1 or z.getinfo(names[0]).file_size > 1 << 20:
                return None, None
            meta = HeaderParser().parsestr(z.read(names[0]).decode("utf-8", errors="replace"))
    except (zipfile.BadZipFile, OSError, KeyError):
        return None, None
    return meta.get("Name"), meta.get("Version")


def load_plan(root: Path) -> Plan | None:
    path = root / STATE
    if not path.is_file():
        return None
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["release"] = Release(**doc["release"])
    doc["command"] = tuple(doc["command"])
    if doc.get("deadline"):
        doc["deadline"] = datetime.fromisoformat(doc["deadline"])
    return Plan(**doc)


def save_plan(root: Path, plan: Plan) -> None:
    doc: dict[str, Any] = asdict(plan)
    doc["deadline"] = plan.deadline.isoformat() if plan.deadline else None
    tmp = root / f".{STATE}.tmp"
    tmp.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    os.replace(tmp, root / STATE)


def switch(root: Path, link: str | None) -> None:
    """Point ``<root>/current`` at ``link`` (relative to root) atomically; None removes it."""
    current = root / "current"
    if link is None:
        current.unlink(missing_ok=True)
        return
    tmp = root / ".current.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(link)
    os.replace(tmp, current)


def confirm(root: Path | None, version: str) -> bool:
    """Called by ``fedhub serve`` once it serves: a switched upgrade to ``version`` is done."""
    if root is None:
        return False
    plan = load_plan(root)
    if plan is None or plan.state != "switched" or plan.release.version != version:
        return False
    save_plan(root, plan.to("ready"))
    log.warning("upgrade to fedhub %s confirmed: this version serves", version)
    return True


class Upgrades:
    """The API's ``UpgradesPort`` (see the module doc)."""

    def __init__(
        self,
        root: Path | None,
        backups: Backups,
        restart: Restart,
        installer: Installer,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        ready_within: timedelta | None = None,  # default: FEDHUB_UPGRADE_READY_S or 120 s
        guard: Callable[[Path], None] | None = None,
    ):
        self.root = root
        self._backups = backups
        self._restart = restart
        self._installer = installer
        self._clock = clock
        if ready_within is None:
            raw = os.environ.get("FEDHUB_UPGRADE_READY_S")
            ready_within = timedelta(seconds=float(raw)) if raw else READY_WITHIN
        self._ready_within = ready_within
        self._guard = guard or start_guard

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": fedhub_version(), "upgradable": self.root is not None}
        plan = load_plan(self.root) if self.root is not None else None
        if plan is not None:
            out["last"] = {
                "state": plan.state,
                "version": plan.release.version,
                "from": plan.previous_version,
                "backup": plan.backup,
                "reason": plan.reason,
            }
        return out

    async def receive(
        self,
        body: AsyncIterator[bytes],
        filename: str,
        sha256: str,
        *,
        by: str,
        by_id: int | None = None,
    ) -> dict[str, Any]:
        if self.root is None:
            raise OperationError(
                409,
                "not_upgradable",
                "this fedhub is not installed in the releases layout of ops/install.sh "
                "(or FEDHUB_INSTALL_ROOT): upgrade it with pip and restart it",
            )
        try:
            expected = check_sha256(sha256)
            parse_filename(filename)
        except UpgradeRefused as e:
            raise OperationError(422, e.code, e.message) from None
        busy = self._backups.jobs.running(BACKUP_SLOT)
        if busy is not None:
            raise OperationError(409, f"{busy.kind}_running", f"a {busy.kind} is running")
        incoming = self.root / "incoming"
        try:
            incoming.mkdir(parents=True, exist_ok=True)
            (self.root / "releases").mkdir(exist_ok=True)
        except OSError as e:
            raise OperationError(
                409,
                "not_upgradable",
                f"this node cannot write its releases ({e.strerror}: {self.root}); install "
                "the release with ops/install.sh --source WHEEL instead",
            ) from None
        wheel = incoming / filename
        actual = await _save(body, wheel)
        root = self.root

        async def work() -> dict[str, Any]:
            try:
                return await self._upgrade(root, wheel, expected, actual)
            finally:
                wheel.unlink(missing_ok=True)

        try:
            job = self._backups.jobs.start(
                BACKUP_SLOT,
                "upgrade",
                work,
                by=by,
                by_id=by_id,
                action="system.upgrade",
                target=f"release:{filename[:100]}",
                then=self._restart_when_switched,
            )
        except OperationError:  # a backup began while the wheel arrived
            wheel.unlink(missing_ok=True)
            raise
        return job.to_json()

    async def _upgrade(self, root: Path, wheel: Path, expected: str, actual: str) -> dict[str, Any]:
        name, version = await asyncio.to_thread(read_metadata, wheel)
        running = fedhub_version()
        try:
            release = check_release(
                filename=wheel.name,
                expected_sha256=expected,
                actual_sha256=actual,
                metadata_name=name,
                metadata_version=version,
                running=running,
            )
        except UpgradeRefused as e:
            raise OperationError(422 if e.code != "not_newer" else 409, e.code, e.message) from None
        current = root / "current"
        previous_link = os.readlink(current) if current.is_symlink() else None
        plan = Plan(
            "received",
            release,
            previous_version=running,
            previous_link=previous_link,
            command=tuple(command(self._previous_python(root, previous_link))),
            data_dir=str(self._backups.target.data_dir),
            db_url=self._backups.target.db_url,
        ).to("verified")
        venv = root / "releases" / release.version
        if venv.exists():
            shutil.rmtree(venv)  # a leftover of a failed attempt: never the running one
        venv.parent.mkdir(parents=True, exist_ok=True)
        try:
            await self._installer.install(wheel, venv, release.version)
        except InstallFailed as e:
            shutil.rmtree(venv, ignore_errors=True)
            raise OperationError(422, "install_failed", str(e)) from None
        plan = plan.to("installed")
        try:
            entry = await self._backups.create(None, None, kind="pre-upgrade")
        except Exception:
            shutil.rmtree(venv, ignore_errors=True)
            raise
        plan = plan.to("backed_up", backup=str(entry["id"]))
        switch(root, f"releases/{release.version}")
        plan = plan.to("switched", deadline=self._clock() + self._ready_within, pid=os.getpid())
        save_plan(root, plan)
        await asyncio.to_thread(self._guard, root)
        log.warning(
            "switched to fedhub %s (from %s; backup %s): restarting",
            release.version,
            running,
            entry["id"],
        )
        return {"version": release.version, "from": running, "backup": entry["id"]}

    def _python_after_switch(self, root: Path) -> str:
        return str(root / "current" / "bin" / "python")

    def _previous_python(self, root: Path, previous_link: str | None) -> str:
        if previous_link is not None:
            return str(root / previous_link / "bin" / "python")
        return sys.executable  # not started through ``current``: go back to what runs now

    def _restart_when_switched(self, job: Any) -> None:
        if job.result is None or self.root is None:
            return
        self._restart.executable = self._python_after_switch(self.root)
        if self._restart.available:
            self._restart.request(f"to run fedhub {job.result['version']}")


async def _save(body: AsyncIterator[bytes], path: Path) -> str:
    """Stream ``body`` to ``path`` (at most ``MAX_WHEEL`` bytes; 413 beyond); its SHA-256."""
    digest = hashlib.sha256()
    size = 0
    part = path.with_name(path.name + ".part")
    try:
        with part.open("wb") as f:
            async for chunk in body:
                size += len(chunk)
                if size > MAX_WHEEL:
                    raise OperationError(
                        413, "body_too_large", f"a release wheel is at most {MAX_WHEEL} bytes"
                    )
                digest.update(chunk)
                await asyncio.to_thread(f.write, chunk)
        if size == 0:
            raise OperationError(422, "not_a_wheel", "the upload is empty")
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    return digest.hexdigest()


def start_guard(root: Path) -> None:
    """Start ``ops/upgrade_guard.py`` with this (the previous) version's interpreter, in
    its own session so the restart does not take it along; it detaches (forks, and its
    first process ends at once), so it is no child of the node."""
    subprocess.run(  # noqa: S603  (our own interpreter and module)
        [sys.executable, "-m", "ops.upgrade_guard", str(root), "--detach"],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        check=True,
        timeout=60,
    )
