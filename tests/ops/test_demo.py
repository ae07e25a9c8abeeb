"""`fedhub demo` as a newcomer runs it: starts, links everything, stops, starts again."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.live_server import free_port


def _start(
    data: Path, port: int, emu_port: int, sip_port: int
) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ops.cli",
            "demo",
            "--data",
            str(data),
            "--port",
            str(port),
            "--emulator-port",
            str(emu_port),
            "--cities",
            "2",
            "--sip-host",
            "127.0.0.1",
            "--sip-port",
            str(sip_port),
            "--sip-tls-port",
            str(free_port()),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    deadline = time.monotonic() + 90
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("Stop with Ctrl-C"):
            return proc, "".join(lines)
    proc.kill()
    raise AssertionError("demo did not start:\n" + "".join(lines[-40:]))


def _sip_register(port: int, domain: str) -> str:
    msg = (
        f"REGISTER sip:{domain} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5999;rport;branch=z9hG4bK-demo1\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:1001@{domain}>;tag=a1\r\n"
        f"To: <sip:1001@{domain}>\r\n"
        "Call-ID: demo-register-1\r\n"
        "CSeq: 1 REGISTER\r\n"
        "Contact: <sip:1001@127.0.0.1:5999>\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.bind(("127.0.0.1", 0))
        s.sendto(msg.encode(), ("127.0.0.1", port))
        return s.recv(65535).decode()


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_demo_starts_links_and_restarts(tmp_path: Path):
    data = tmp_path / "demo"
    port, emu, sip = free_port(), free_port(), free_port()
    proc, banner = _start(data, port, emu, sip)
    try:
        assert f"http://127.0.0.1:{port}/" in banner and "admin / 123456" in banner
        members = int(banner.split("members:")[1].split()[0])
        assert "5 levels" in banner and f"links:     {members}/{members} up" in banner
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1") as c:
            csrf = c.post("/auth/login", json={"username": "admin", "password": "123456"}).json()[
                "csrf_token"
            ]
            r = c.post(
                "/auth/password",
                json={"old_password": "123456", "new_password": "Demo-Pass-1"},
                headers={"X-CSRF-Token": csrf},
            )
            assert r.status_code == 204
            flat = c.get("/members?flat=true").json()["members"]
            assert len(flat) == members and {m["level"] for m in flat} == {1, 2, 3, 4, 5}
            assert all(m["server_url"] for m in flat)
            summary = c.get("/live/summary").json()["total"]
            assert summary["members"] == members and summary["cascade_links"] == members - 1
            statuses = summary["venues"]
            assert all(statuses[s] > 0 for s in ("joined", "not_joined", "ringing", "failed")), (
                statuses
            )
            trees = c.get("/live/federation-conferences").json()["conferences"]
            assert len(trees) == 1 and trees[0]["domain"] == "prov.example"

            def count(n: dict) -> int:
                return 1 + sum(count(ch) for ch in n["children"])

            assert count(trees[0]) == members  # every level cascaded into the province meeting
            # the registered number ranges resolve: the province's VMR block (emulator.federation)
            owner = c.get("/numbers/500000123").json()
            assert owner["member_id"] == flat[0]["id"] and owner["type"] == "vmr"
        # the SIP redirector sends a device registering to city1 to city1's server
        assert f"UDP {sip}" in banner
        reply = _sip_register(sip, "city1.prov.example")
        assert reply.startswith("SIP/2.0 302"), reply
        city1 = next(m for m in flat if m["domain"] == "city1.prov.example")
        assert f"<sip:127.0.0.1:{city1['sip_port']}" in reply
    finally:
        assert _stop(proc) == 0
    # again on the same data: nothing registered twice, links up again, password kept
    proc, banner = _start(data, port, free_port(), sip)
    try:
        assert "(0 registered now" in banner and "the password you set" in banner
        assert f"links:     {members}/{members} up" in banner
    finally:
        assert _stop(proc) == 0
