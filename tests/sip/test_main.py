"""`python -m sip` as a process: ready line, answers, SIGHUP reload, workers, exit."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from sip.message import SipResponse, parse_message
from tests.sip.conftest import request
from tests.sip.lines import Lines

ROOT = Path(__file__).resolve().parents[2]


def write_config(path: Path, alpha_host: str, **settings: object) -> None:
    base = {"host": "127.0.0.1", "udp_port": 0, "tcp_port": None, "tls_port": None, "rate": 0}
    base.update(settings)
    path.write_text(
        json.dumps(
            {
                "settings": base,
                "servers": [{"member_id": 1, "domain": "alpha.example.com", "host": alpha_host}],
            }
        )
    )


def start(
    config: Path, *extra: str, log: bool = False
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Start `python -m sip` and read its ready line; with `log`, its log (INFO) is
    piped to `proc.stderr` for the test to read."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sip", "--config", str(config), *extra]
        + (["--log-level", "INFO"] if log else []),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if log else None,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("ready "), line
    return proc, dict(part.split("=") for part in line.split()[1:])


def ask(port: int, data: bytes) -> SipResponse:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.5)
        for _ in range(10):  # UDP: retransmit like a client would (workers may still start)
            sock.sendto(data, ("127.0.0.1", port))
            try:
                msg = parse_message(sock.recv(65535))
            except TimeoutError:
                continue
            assert isinstance(msg, SipResponse)
            return msg
    raise AssertionError("no answer")


def stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(10)


def test_serves_and_reloads_on_sighup(tmp_path: Path) -> None:
    config = tmp_path / "redirect.json"
    write_config(config, "127.0.0.11")
    proc, ports = start(config, log=True)
    assert proc.stderr is not None
    log = Lines(proc.stderr)
    try:
        port = int(ports["udp"])
        data = request(via_params=";rport")
        assert ask(port, data).header("contact") == "<sip:127.0.0.11:5060>;expires=3600"
        write_config(config, "127.0.0.21", udp_port=port, contact_expires=90)
        proc.send_signal(signal.SIGHUP)
        log.wait_for(f"reloaded {config}")  # the process says when the new file applies
        assert ask(port, data).header("contact") == "<sip:127.0.0.21:5060>;expires=90"
    finally:
        assert stop(proc) == 0


def test_workers_share_the_socket(tmp_path: Path) -> None:
    config = tmp_path / "redirect.json"
    write_config(config, "127.0.0.11")
    proc, ports = start(config, "--workers", "2")
    try:
        assert ports["workers"] == "2"
        for i in range(20):
            response = ask(int(ports["udp"]), request(call_id=f"w-{i}", via_params=";rport"))
            assert response.status == 302
    finally:
        assert stop(proc) == 0


def test_bad_config_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "redirect.json"
    config.write_text('{"settings": {"udp_port": "x"}}')
    result = subprocess.run(
        [sys.executable, "-m", "sip", "--config", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 2 and "error:" in result.stderr
