"""`fedhub sip` as its own process follows changes made by the hub in shared storage."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from starlette.testclient import TestClient

from dashboards.services import HubConfig
from ops.hub import create_hub_app
from tests.dashboards.conftest import NEW_ADMIN_PASSWORD, Api
from tests.dashboards.test_redirect_settings import _register
from tests.sip.lines import Lines
from tests.support.live_server import free_port


def test_sidecar_follows_storage(tmp_path: Path):
    config = HubConfig(data_dir=tmp_path, links=False)
    with TestClient(create_hub_app(config)) as c:
        api = Api(c)
        api.login("admin", "123456")
        api.post("/auth/password", {"old_password": "123456", "new_password": NEW_ADMIN_PASSWORD})
        prov = api.create_member(None, "prov", sip_host="127.0.0.1", sip_port=7000).json()
        port = free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ops.cli",
                "sip",
                "--data",
                str(tmp_path),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--tls-port",
                str(free_port()),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            assert proc.stdout is not None
            lines = Lines(proc.stdout)
            first = lines.wait_for("fedhub sip redirector")  # printed once serving
            assert f"UDP {port}" in first, first
            reply = _register(port, "prov.example.gov")
            assert reply.startswith("SIP/2.0 302") and "127.0.0.1:7000" in reply
            # the hub changes the member's address; the sidecar notices (revision poll)
            # and says so: wait for that line, never for a while
            assert api.patch(f"/members/{prov['id']}", {"sip_port": 7200}).status_code == 200
            while "127.0.0.1:7200" not in _register(port, "prov.example.gov"):
                lines.wait_for("routes updated")
            # and a member it never heard of is a 404
            assert _register(port, "ghost.example.gov").startswith("SIP/2.0 404")
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(20)
            assert code == 0, "".join(lines.seen[-30:])


def test_fedhub_sip_loads_no_web_stack():
    """`fedhub sip` builds the CLI parser and runs the sidecar: no Starlette, no dashboards."""
    code = (
        "import sys\n"
        "from ops import cli, sip_sidecar\n"
        "cli.build_parser()\n"
        "web = sorted(m for m in sys.modules if m.split('.')[0] in ('starlette', 'dashboards', 'uvicorn'))\n"
        "print(','.join(web))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "", f"fedhub sip imported {out.stdout.strip()}"
