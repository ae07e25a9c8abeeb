"""``fedhub serve`` as a process: the ready line, a graceful restart through the API,
and uvicorn's own lines in the hub's log files."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.ops.serving import Serving, audit_of, backup_then_add_a_city


def test_a_restart_from_the_api_closes_dashboards_with_1012_and_serves_again(tmp_path: Path):
    hub = Serving(tmp_path)
    try:
        hub.wait_ready()
        c = hub.admin()
        token = c.post("/tokens", json={"name": "dash"}).json()["token"]
        ws = connect(
            f"ws://127.0.0.1:{hub.port}/ws/live",
            additional_headers={"Authorization": f"Bearer {token}"},
            legacy=True,
        )
        nodes = c.get("/nodes").json()["nodes"]
        me = next(n["name"] for n in nodes if n["this_node"])

        # another node's name is refused, and nothing restarts
        r = c.post("/nodes/nobody/restart")
        assert r.status_code == 404, r.text

        r = c.post(f"/nodes/{me}/restart")
        assert r.status_code == 202, r.text
        assert r.json() == {"node": me, "restarting": True}
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012  # reconnect
        hub.wait_for("starting again")
        hub.wait_ready()  # the same process (execv), serving again
        assert hub.proc.poll() is None
        assert httpx.get(hub.base + "/readyz").json()["status"] == "ready"
        assert hub.admin().get("/nodes").status_code == 200  # a new login works at once
    finally:
        assert hub.stop() == 0
    assert [r[:2] for r in audit_of(tmp_path, "node.restart")] == [
        ("refused", "node:nobody"),
        ("ok", f"node:{me}"),
    ]


def test_uvicorn_lines_go_to_the_log_files_in_the_hub_format(tmp_path: Path):
    hub = Serving(tmp_path)
    try:
        hub.wait_ready()
        assert httpx.get(hub.base + "/healthz?secret=x").status_code == 200
    finally:
        assert hub.stop() == 0
    text = (tmp_path / "logs" / "uvicorn.log").read_text()
    lines = text.splitlines()
    # the hub's line format: time, level, node, module, logger
    assert any(" INFO " in ln and " uvicorn uvicorn.error: Application startup complete" in ln
               for ln in lines), text  # fmt: skip
    access = [ln for ln in lines if " uvicorn uvicorn.access: " in ln]
    assert any('"GET /healthz' in ln and " 200" in ln for ln in access), text
    assert not any("secret=x" in ln for ln in lines), "query strings stay out of the log"
    assert os.path.getsize(tmp_path / "logs" / "uvicorn.log") > 0


def test_a_restore_through_the_api_restarts_the_node_into_the_backup(tmp_path: Path):
    hub = Serving(tmp_path)
    try:
        hub.wait_ready()
        c = hub.admin()
        backup_then_add_a_city(c, "Member-Pass1")
        r = c.post("/backups/b1/restore", json={"confirm": "b1"})
        assert r.status_code == 202, r.text
        hub.wait_for("starting again")
        hub.wait_for("restored backup b1")
        hub.wait_ready()
        again = hub.admin()
        domains = [m["domain"] for m in again.get("/members?flat=true").json()["members"]]
        assert domains == ["prov.example.gov"]
        kinds = sorted(b["kind"] for b in again.get("/backups").json()["backups"])
        assert kinds == ["manual", "pre-restore"]
    finally:
        assert hub.stop() == 0
