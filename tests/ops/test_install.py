"""ops/install.sh staged into a temporary root, its systemd unit verified, and
``fedhub uninstall``; the installer's refusals happen before anything is written."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ops.uninstall import plan

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "ops" / "install.sh"


def install(prefix: Path, *args: str, stdin: str | None = "") -> subprocess.CompletedProcess[str]:
    """Run the installer; ``stdin=None``: a terminal that never answers (kept open)."""
    env = {**os.environ, "FEDHUB_INSTALL_TIMEOUT": "1"}
    cmd = ["bash", str(INSTALL), "--prefix", str(prefix), *args]
    if stdin is not None:
        return subprocess.run(
            cmd, input=stdin, capture_output=True, text=True, env=env, timeout=900
        )
    read_end, write_end = os.pipe()
    try:
        return subprocess.run(
            cmd, stdin=read_end, capture_output=True, text=True, env=env, timeout=900
        )
    finally:
        os.close(read_end)
        os.close(write_end)


def fedhub(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ops.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("cluster", "args", "words"),
    [
        ("primary a 10.0.0.1\nsecondary b 10.0.0.2\n", ["--node-name", "a"], "odd total"),
        ("secondary b 10.0.0.2\n", ["--node-name", "b"], "no primary"),
        ("primary a 10.0.0.1\n", ["--node-name", "z"], "not in the cluster file"),
        ("primary a 10.0.0.1\n", [], "needs --node-name"),
    ],
)
def test_cluster_file_refused_before_anything_is_written(
    tmp_path: Path, cluster: str, args: list[str], words: str
) -> None:
    f = tmp_path / "cluster.conf"
    f.write_text(cluster)
    prefix = tmp_path / "root"
    r = install(prefix, "--mode", "cluster", "--cluster-file", str(f), *args)
    assert r.returncode == 1, r.stdout + r.stderr
    assert words in r.stderr
    assert not prefix.exists()


def test_cluster_answer_needs_a_cluster_file_and_bad_answers_are_refused(tmp_path: Path) -> None:
    r = install(tmp_path / "root", stdin="c\n")
    assert r.returncode == 1 and "needs --cluster-file" in r.stderr
    r = install(tmp_path / "root", stdin="maybe\n")
    assert r.returncode == 1 and "answer s (standalone) or c (cluster)" in r.stderr
    assert not (tmp_path / "root").exists()


@pytest.mark.slow
def test_staged_install_verify_and_uninstall(tmp_path: Path) -> None:
    prefix = tmp_path / "root"
    # nobody answers the question: standalone after the (shortened) wait
    r = install(prefix, stdin=None)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "(standalone in 1 s)" in r.stdout and "mode: standalone" in r.stdout
    venv_fedhub = prefix / "opt/fedhub/current/bin/fedhub"  # current -> releases/<version>
    v = subprocess.run([str(venv_fedhub), "--version"], capture_output=True, text=True)
    assert v.returncode == 0 and v.stdout.startswith("fedhub ")
    data = prefix / "var/lib/fedhub"
    assert (data / "certs/sip.crt").is_file()
    assert (data / "certs/sip.key").stat().st_mode & 0o777 == 0o600
    assert data.stat().st_mode & 0o777 == 0o750
    assert "FEDHUB_MODE=standalone" in (prefix / "etc/fedhub/fedhub.env").read_text()
    assert os.readlink(prefix / "usr/local/bin/fedhub") == "/opt/fedhub/current/bin/fedhub"
    release = os.readlink(prefix / "opt/fedhub/current")
    assert release.startswith("releases/") and v.stdout.startswith(f"fedhub {release[9:]} ")
    unit = (prefix / "etc/systemd/system/fedhub.service").read_text()
    for option in (
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/fedhub /opt/fedhub",
        "ExecStart=/opt/fedhub/current/bin/fedhub serve",
        "Restart=always",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "SystemCallFilter=@system-service",
        "User=fedhub",
    ):
        assert option in unit
    if shutil.which("systemd-analyze"):
        # the unit names the final paths: verify a copy pointing into the staged root
        staged = tmp_path / "fedhub.service"
        staged.write_text(
            unit.replace("=/opt/fedhub", f"={prefix}/opt/fedhub").replace(
                "EnvironmentFile=/etc/fedhub", f"EnvironmentFile={prefix}/etc/fedhub"
            )
        )
        v = subprocess.run(
            ["systemd-analyze", "verify", str(staged)], capture_output=True, text=True
        )
        assert v.returncode == 0 and v.stderr.strip() == "", v.stderr
    # uninstall: asks first (no terminal here: refused without --yes), keeps backups
    (data / "backups" / "nightly.tar").write_text("backup")
    r = fedhub("uninstall", "--prefix", str(prefix), stdin="yes\n")
    assert r.returncode == 1 and "add --yes" in r.stderr
    assert venv_fedhub.exists()
    r = fedhub("uninstall", "--prefix", str(prefix), "--yes")
    assert r.returncode == 0, r.stderr
    assert (data / "backups" / "nightly.tar").read_text() == "backup"
    assert not (prefix / "opt/fedhub").exists() and not (prefix / "etc/fedhub").exists()
    assert not (data / "certs").exists()
    assert not (prefix / "etc/systemd/system/fedhub.service").exists()
    assert not (prefix / "usr/local/bin/fedhub").is_symlink()
    r = fedhub("uninstall", "--prefix", str(prefix), "--yes", "--purge-backups")
    assert r.returncode == 0 and not data.exists()


def test_uninstall_plan_keeps_backups_unless_asked(tmp_path: Path) -> None:
    data = tmp_path / "var/lib/fedhub"
    (data / "backups").mkdir(parents=True)
    (data / "certs").mkdir()
    (data / "fedhub.db").write_text("")
    (tmp_path / "opt/fedhub").mkdir(parents=True)
    p = plan(tmp_path, purge_backups=False)
    assert p.keep == (data / "backups",)
    assert set(p.remove) == {tmp_path / "opt/fedhub", data / "certs", data / "fedhub.db"}
    assert data in plan(tmp_path, purge_backups=True).remove
    assert plan(tmp_path / "nothing", purge_backups=False).remove == ()
