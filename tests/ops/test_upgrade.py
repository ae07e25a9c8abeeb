"""Upgrading for real: a wheel of this project (version bumped) built with pip, a new
virtual environment made with venv and filled with pip (offline: ``--no-index
--no-deps``, the dependencies shared from this environment — what a machine without
a package index or a wheelhouse can do), the switch of ``current``, the restart into
the new version, and the guard's rollback when the new version cannot start.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

import httpx
import pytest

from ops.upgrade import InstallFailed, VenvInstaller
from tests.ops.serving import Serving

ROOT = Path(__file__).resolve().parents[2]
NEW = "0.1.1"
SITE = sysconfig.get_path("purelib")  # this environment's packages: the dependencies


@pytest.fixture(scope="session")
def new_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of this project at version ``NEW`` (pip wheel --no-deps)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "hub", "controllers", "sip", "dashboards",
                 "storage", "ops", "emulator"):  # fmt: skip
        p = ROOT / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif p.exists():
            shutil.copy(p, src / name)
    project = (src / "pyproject.toml").read_text()
    (src / "pyproject.toml").write_text(project.replace('version = "0.1.0"', f'version = "{NEW}"'))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(src), "-w", str(out)],
        check=True,
        timeout=600,
    )
    (wheel,) = out.glob(f"fedhub-{NEW}-*.whl")
    return wheel


async def test_a_real_wheel_goes_into_a_real_new_environment(new_wheel: Path, tmp_path: Path):
    installer = VenvInstaller(pip_args=("--no-index", "--no-deps"), share_site=Path(SITE))
    venv = tmp_path / "releases" / NEW
    await installer.install(new_wheel, venv, NEW)
    ask = "from hub.version import fedhub_version; print(fedhub_version())"
    out = await asyncio.to_thread(
        subprocess.run,
        [str(venv / "bin" / "python"), "-I", "-c", ask],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.stdout.strip() == NEW, out.stderr
    with pytest.raises(InstallFailed, match=r"not 9\.9\.9"):  # it proves what it installed
        await installer.install(new_wheel, tmp_path / "again", "9.9.9")
    # without an index, a wheelhouse or shared packages, pip says it cannot find the deps
    with pytest.raises(InstallFailed, match="pip install"):
        await VenvInstaller(pip_args=("--no-index",)).install(new_wheel, tmp_path / "bare", NEW)


def upload(c: httpx.Client, wheel: Path) -> dict:
    data = wheel.read_bytes()
    r = c.post(
        f"/upgrade?filename={wheel.name}&sha256={hashlib.sha256(data).hexdigest()}",
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 202, r.text
    return r.json()


def test_the_node_switches_restarts_and_serves_the_new_version(new_wheel: Path, tmp_path: Path):
    opt = tmp_path / "opt"
    env = {"FEDHUB_INSTALL_ROOT": str(opt), "FEDHUB_PIP_ARGS": "--no-index --no-deps",
           "FEDHUB_PIP_SHARE_SITE": SITE}  # fmt: skip
    hub = Serving(tmp_path / "data", env=env, timeout=180)
    try:
        assert "fedhub 0.1.0 serving on" in hub.wait_ready()
        c = hub.admin()
        job = upload(c, new_wheel)
        done = c.get(f"/jobs/{job['id']}?wait=60").json()
        assert done["state"] == "done", done
        assert done["result"]["version"] == NEW and done["result"]["from"] == "0.1.0"
        hub.wait_for("starting again")
        assert f"fedhub {NEW} serving on" in hub.wait_ready()  # the same process, new version
        assert hub.proc.poll() is None
        c = hub.admin()
        assert c.get("/system/version").json()["version"] == NEW
        assert c.get("/upgrade").json()["last"]["state"] == "ready"
        assert os.readlink(opt / "current") == f"releases/{NEW}"
        kinds = [b["kind"] for b in c.get("/backups").json()["backups"]]
        assert kinds == ["pre-upgrade"]
    finally:
        assert hub.stop() == 0


def test_a_version_that_cannot_start_is_rolled_back(new_wheel: Path, tmp_path: Path):
    """The new environment lacks the dependencies (shared from an empty directory): the
    new version dies at import; the guard puts the previous version back, with the data
    from before the switch."""
    opt = tmp_path / "opt"
    empty = tmp_path / "empty-site"
    empty.mkdir()
    env = {"FEDHUB_INSTALL_ROOT": str(opt), "FEDHUB_PIP_ARGS": "--no-index --no-deps",
           "FEDHUB_PIP_SHARE_SITE": str(empty), "FEDHUB_UPGRADE_READY_S": "60"}  # fmt: skip
    hub = Serving(tmp_path / "data", env=env, timeout=180)
    respawned = None
    try:
        hub.wait_ready()
        c = hub.admin()
        job = upload(c, new_wheel)
        assert c.get(f"/jobs/{job['id']}?wait=60").json()["state"] == "done"
        hub.wait_for("starting again")
        hub.wait_for("rolled back to 0.1.0")
        ready = hub.wait_ready()  # the previous version, started by the guard
        assert "fedhub 0.1.0 serving on" in ready
        respawned = int(ready.rsplit("(pid ", 1)[1].rstrip(")"))
        assert hub.proc.wait(30) != 0  # the first process ended (the new version died)
        c = hub.admin()
        last = c.get("/upgrade").json()["last"]
        assert last["state"] == "rolled_back" and last["version"] == NEW
        assert "ended before it was ready" in last["reason"]
        assert not (opt / "current").exists()  # there was none before
        assert c.get("/system/version").json()["version"] == "0.1.0"
    finally:
        if respawned is not None:
            os.kill(respawned, signal.SIGINT)
            hub.ended()
        else:
            hub.stop()
