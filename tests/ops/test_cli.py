"""The `fedhub` command line, run as a user would (a subprocess per call)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from starlette.testclient import TestClient

from dashboards.services import HubConfig
from ops.hub import create_hub_app
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
    from alembic.script import ScriptDirectory

    from storage.db import _alembic_config

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    r = fedhub("db", "upgrade", "--data", data)
    assert r.returncode == 0 and f"revision {head}" in r.stdout, r.stdout
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
    with TestClient(create_hub_app(HubConfig(data_dir=tmp_path))) as c:
        a = Api(c)
        assert a.login("sec1", "Secur1ty-Pass").status_code == 200
        assert a.get("/admins").status_code == 200
        token = a.post("/tokens", {"name": "cron"}).json()["token"]
        assert c.get(
            "/api/v1/auth/session", headers={"Authorization": f"Bearer {token}"}
        ).is_success
        for i in range(5):
            a.login("sec1", f"wrong{i}")
        assert a.login("sec1", "Secur1ty-Pass").status_code == 423
    r = fedhub("admin", "unlock", "sec1", "--data", data)
    assert r.returncode == 0
    r = fedhub(
        "admin", "passwd", "sec1", "--password-stdin", "--data", data, stdin="N3w-Secur1ty\n"
    )
    assert r.returncode == 0
    with TestClient(create_hub_app(HubConfig(data_dir=tmp_path))) as c:
        a = Api(c)
        r = a.login("sec1", "N3w-Secur1ty")
        assert r.status_code == 200 and r.json()["password_change_required"] is True
        bearer = c.get("/api/v1/auth/session", headers={"Authorization": f"Bearer {token}"})
        assert bearer.status_code == 401, "a password set from the shell must retire old tokens"
    assert fedhub("admin", "unlock", "ghost", "--data", data).returncode == 1
    r = fedhub(
        "admin",
        "create",
        "x1",
        "--member",
        "42",
        "--password-stdin",
        "--data",
        data,
        stdin="Secur1ty-Pass\n",
    )
    assert r.returncode == 1 and "no member 42" in r.stderr


def test_the_shell_manages_what_the_api_refuses(tmp_path: Path):
    """Security and auditor accounts are changed from the shell; the shell is the second
    person that approves a password a security admin set; names are one whatever the
    case."""
    data = str(tmp_path)
    pw = "Secur1ty-Pass\n"
    for name, role in (("sec1", "security"), ("aud1", "auditor")):
        r = fedhub(
            "admin", "create", name, "--role", role, "--password-stdin", "--no-change",
            "--data", data, stdin=pw,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
    r = fedhub("admin", "create", "SEC1", "--password-stdin", "--data", data, stdin=pw)
    assert r.returncode == 1 and "exists" in r.stderr
    with TestClient(create_hub_app(HubConfig(data_dir=tmp_path))) as c:
        sec = Api(c)
        assert sec.login("sec1", "Secur1ty-Pass").status_code == 200
        body = {"username": "op1", "password": "Operat0r-Pass", "role": "admin", "member_id": None}
        assert sec.post("/admins", body).status_code == 201
        assert Api(c).login("op1", "Operat0r-Pass").json()["error"]["code"] == "approval_pending"
    assert fedhub("admin", "approve", "OP1", "--data", data).returncode == 0
    assert fedhub("admin", "disable", "aud1", "--data", data).returncode == 0
    with TestClient(create_hub_app(HubConfig(data_dir=tmp_path))) as c:
        assert Api(c).login("op1", "Operat0r-Pass").status_code == 200
        r = Api(c).login("aud1", "Secur1ty-Pass")
        assert r.status_code == 403 and r.json()["error"]["code"] == "account_disabled"
    assert fedhub("admin", "enable", "aud1", "--data", data).returncode == 0
    r = fedhub("admin", "delete", "sec1", "--data", data)
    assert r.returncode == 0 and "security 'sec1' deleted" in r.stdout
    with TestClient(create_hub_app(HubConfig(data_dir=tmp_path))) as c:
        assert Api(c).login("sec1", "Secur1ty-Pass").status_code == 401
        aud = Api(c)
        assert aud.login("aud1", "Secur1ty-Pass").status_code == 200
        entries = aud.get("/audit?admin=(cli)").json()["entries"]
        assert {e["action"] for e in entries} >= {"admin.approve", "admin.update", "admin.delete"}
    assert fedhub("admin", "delete", "ghost", "--data", data).returncode == 1


def test_serve_with_sip_runs_the_redirector(tmp_path: Path):
    from tests.dashboards.test_redirect_settings import _register
    from tests.ops.serving import Serving
    from tests.support.live_server import free_port

    sip = free_port()
    hub = Serving(
        tmp_path,
        "--sip", "--sip-host", "127.0.0.1", "--sip-port", str(sip),
        "--sip-tls-port", str(free_port()), "--session-idle", "5",
        "--link-ca", str(tmp_path / "none.pem"),
    )  # fmt: skip
    try:
        hub.wait_ready()  # printed once the socket listens: the redirector runs by then
        assert httpx.get(hub.base + "/readyz").status_code == 200
        # no member owns the domain yet: the redirector answers, with 404
        assert _register(sip, "prov.example.gov").startswith("SIP/2.0 404")
    finally:
        assert hub.stop() == 0


def test_serve_link_network_reaches_the_hub_config(tmp_path: Path):
    from ops.cli import _config, build_parser

    nets = ["10.0.0.0/8", "::1", "192.168.7.9/24"]
    flags = [arg for net in nets for arg in ("--link-network", net)]
    args = build_parser().parse_args(["serve", "--data", str(tmp_path), *flags])
    config = _config(args)
    assert config.link_networks == ("10.0.0.0/8", "::1/128", "192.168.7.0/24")
    plain = _config(build_parser().parse_args(["serve", "--data", str(tmp_path)]))
    assert plain.link_networks == ()  # default: any address but the special ones


def test_serve_refuses_a_malformed_link_network(tmp_path: Path):
    r = fedhub("serve", "--data", str(tmp_path), "--link-network", "10.0.0.300/8")
    assert r.returncode == 2, r.stderr
    assert "argument --link-network" in r.stderr and "10.0.0.300/8" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "fedhub.db").exists() and not list(tmp_path.iterdir())  # not started
