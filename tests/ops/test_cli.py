"""The `fedhub` command line, run as a user would (a subprocess per call)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from starlette.testclient import TestClient

from dashboards.app import create_app
from dashboards.services import HubConfig
from tests.dashboards.conftest import Api


def fedhub(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ops.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_help_explains_each_command():
    out = fedhub("--help").stdout
    for cmd in ("serve", "admin", "db"):
        assert cmd in out
    assert "--db-url" in fedhub("serve", "--help").stdout
    assert "--role" in fedhub("admin", "create", "--help").stdout


def test_admin_lifecycle_from_the_shell(tmp_path: Path):
    data = str(tmp_path)
    r = fedhub("db", "upgrade", "--data", data)
    assert r.returncode == 0 and "revision 0002" in r.stdout
    r = fedhub(
        "admin",
        "create",
        "sec1",
        "--role",
        "security",
        "--password-stdin",
        "--data",
        data,
        stdin="weak\n",
    )
    assert r.returncode != 0 and "at least 8" in r.stderr
    r = fedhub(
        "admin",
        "create",
        "sec1",
        "--role",
        "security",
        "--password-stdin",
        "--no-change",
        "--data",
        data,
        stdin="Secur1ty-Pass\n",
    )
    assert r.returncode == 0, r.stderr
    assert "Secur1ty-Pass" not in r.stdout + r.stderr
    r = fedhub(
        "admin", "create", "sec1", "--password-stdin", "--data", data, stdin="Secur1ty-Pass\n"
    )
    assert r.returncode == 1 and "exists" in r.stderr
    with TestClient(create_app(HubConfig(data_dir=tmp_path))) as c:
        a = Api(c)
        assert a.login("sec1", "Secur1ty-Pass").status_code == 200
        assert a.get("/admins").status_code == 200
        for i in range(5):
            a.login("sec1", f"wrong{i}")
        assert a.login("sec1", "Secur1ty-Pass").status_code == 423
    r = fedhub("admin", "unlock", "sec1", "--data", data)
    assert r.returncode == 0
    r = fedhub(
        "admin", "passwd", "sec1", "--password-stdin", "--data", data, stdin="N3w-Secur1ty\n"
    )
    assert r.returncode == 0
    with TestClient(create_app(HubConfig(data_dir=tmp_path))) as c:
        a = Api(c)
        r = a.login("sec1", "N3w-Secur1ty")
        assert r.status_code == 200 and r.json()["password_change_required"] is True
    assert fedhub("admin", "unlock", "ghost", "--data", data).returncode == 1
