"""Benchmark of the SIP redirector: sipp REGISTER → 302 over UDP, fedhub vs Kamailio 5.6,
then TLS handshakes/s and REGISTERs/s over established TLS connections.

    python tests/bench/bench_sip.py [--quick] [--processes N]

fedhub runs as its own process (`python -m sip`, uvloop) from a generated JSON file,
once as a single process and once with N workers sharing the socket; Kamailio runs
as a subprocess with a generated config (tests/bench/sip/kamailio.cfg.tmpl, N
children) answering `sl_send_reply("302")` after choosing the target by To domain.
Both get the same table and the same sipp scenario (tests/sip/scenarios/
register_302.xml, which checks the Contact). A rate "holds" when sipp reports every
call successful, none failed, no retransmission (every answer within 500 ms) and
the run ends on time. N defaults to the CPU count (at most 4). Progress goes to
stderr; the last line on stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.sip.sipp import (  # noqa: E402
    SIPP,
    collect,
    free_port,
    injection,
    scenario,
    sipp_args,
    sipp_available,
)

HERE = Path(__file__).resolve().parent
KAMAILIO = shutil.which("kamailio") or "/usr/sbin/kamailio"
MEMBERS = [
    {"member_id": 1, "domain": "alpha.example.com", "host": "127.0.0.11", "port": 5060},
    {"member_id": 2, "domain": "beta.example.com", "host": "127.0.0.12", "port": 5070},
    {"member_id": 3, "domain": "gamma.example.com", "host": "127.0.0.13", "port": 5060},
]
CONTACT_RE = r"<sip:127\.0\.0\.1[123]:50[67]0>;expires=3600"
REGISTER = (
    "REGISTER sip:127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK-{n};rport\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:1001@alpha.example.com>;tag=t{n}\r\n"
    "To: <sip:1001@alpha.example.com>\r\n"
    "Call-ID: bench-{n}@127.0.0.1\r\n"
    "CSeq: 1 REGISTER\r\n"
    "Contact: <sip:1001@127.0.0.1:5061;transport=tls>\r\n"
    "Expires: 3600\r\n"
    "Content-Length: 0\r\n\r\n"
)


@dataclass
class Step:
    rate: int
    ok: bool
    successful: int
    failed: int
    retransmissions: int
    elapsed: float


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def wait_udp_ready(port: int, timeout: float = 10.0) -> None:
    """Send OPTIONS until the server answers (Kamailio prints no ready line)."""
    msg = (
        "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bK-ready\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\n"
        "Call-ID: ready\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.2)
        data = msg.format(p=sock.getsockname()[1]).encode()
        while time.monotonic() < deadline:
            sock.sendto(data, ("127.0.0.1", port))
            try:
                if sock.recv(4096).startswith(b"SIP/2.0 200"):
                    return
            except TimeoutError:
                continue
    raise RuntimeError(f"no answer on udp {port}")


def start_fedhub(tmp: Path, workers: int) -> tuple[subprocess.Popen[str], int, int]:
    config = {
        "settings": {
            "host": "127.0.0.1",
            "udp_port": free_port("127.0.0.1"),
            "tcp_port": None,
            "tls_port": free_port("127.0.0.1", socket.SOCK_STREAM),
            "cert_dir": str(tmp / "tls"),
            # the limiters stay on (their cost is measured) but never trip from one source
            "rate": 1_000_000,
            "burst": 1_000_000,
            "connection_rate": 1_000_000,
            "connection_burst": 1_000_000,
        },
        "servers": MEMBERS,
    }
    path = tmp / f"fedhub-redirect-{workers}.json"
    path.write_text(json.dumps(config))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sip", "--config", str(path), "--workers", str(workers)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("ready"):
        proc.kill()
        raise RuntimeError(f"fedhub did not start: {line!r}")
    ports = dict(part.split("=") for part in line.split()[1:])
    wait_udp_ready(int(ports["udp"]))
    return proc, int(ports["udp"]), int(ports["tls"])


def start_kamailio(tmp: Path, children: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port("127.0.0.1")
    cases = "".join(
        f'        case "{m["domain"]}":\n'
        f'            $var(target) = "sip:{m["host"]}:{m["port"]}";\n'
        "            break;\n"
        for m in MEMBERS
    )
    text = (HERE / "sip" / "kamailio.cfg.tmpl").read_text()
    text = text.replace("@@PORT@@", str(port)).replace("@@CHILDREN@@", str(children))
    cfg = tmp / "kamailio.cfg"
    cfg.write_text(text.replace("@@CASES@@", cases.rstrip("\n")))
    proc = subprocess.Popen(
        [KAMAILIO, "-f", str(cfg), "-DD", "-E", "-Y", str(tmp), "-w", str(tmp), "-m", "64",
         "-M", "8"],
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "kamailio.log").open("wb"),
        start_new_session=True,
    )  # fmt: skip
    wait_udp_ready(port)
    return proc, port


def sipp_step(port: int, rate: int, duration: float, tmp: Path, label: str) -> Step:
    workdir = tmp / f"{label.replace('/', '-')}-{rate}"
    workdir.mkdir()
    calls = int(rate * duration)
    scen = scenario("register_302", workdir, CONTACT_RE, timeout_ms=2000)
    inf = injection(workdir, [(f"10{i:02d}", str(m["domain"])) for i, m in enumerate(MEMBERS)])
    args = sipp_args(
        f"127.0.0.1:{port}", scen, inf, workdir, calls=calls, rate=rate,
        timeout_s=int(duration * 3) + 10, trace_msg=False,
    )  # fmt: skip
    start = time.monotonic()
    proc = subprocess.run(args, cwd=workdir, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    result = collect(proc.returncode, workdir, proc.stdout)
    ok = (
        result.returncode == 0
        and result.successful == calls
        and result.failed == 0
        and result.retransmissions == 0
        and elapsed <= duration * 1.15 + 0.6
    )
    step = Step(
        rate, ok, result.successful, result.failed, result.retransmissions, round(elapsed, 2)
    )
    log(
        f"  {label:8s} {rate:6d}/s  {'ok  ' if ok else 'FAIL'} "
        f"success={result.successful}/{calls} failed={result.failed} "
        f"retrans={result.retransmissions} elapsed={elapsed:.2f}s"
    )
    return step


def max_rate(port: int, label: str, ladder: list[int], refine: int, duration: float,
             tmp: Path) -> tuple[int, list[Step]]:  # fmt: skip
    """Climb `ladder` until a rate fails, then bisect `refine` times between the last
    rate that held and the first that did not."""
    steps: list[Step] = []
    best, worst = 0, None
    for rate in ladder:
        step = sipp_step(port, rate, duration, tmp, label)
        steps.append(step)
        if not step.ok:
            worst = rate
            break
        best = rate
    for _ in range(refine if worst is not None else 0):
        assert worst is not None
        mid = (best + worst) // 2
        if mid - best < max(100, best // 20):
            break
        step = sipp_step(port, mid, duration, tmp, label)
        steps.append(step)
        if step.ok:
            best = mid
        else:
            worst = mid
    return best, steps


async def tls_bench(port: int, seconds: float) -> dict[str, float]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2

    handshakes = 0
    deadline = time.monotonic() + seconds

    async def handshaker() -> None:
        nonlocal handshakes
        while time.monotonic() < deadline:
            _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
            handshakes += 1
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, ssl.SSLError):
                pass

    start = time.monotonic()
    await asyncio.gather(*(handshaker() for _ in range(8)))
    handshake_rate = handshakes / (time.monotonic() - start)

    answered = 0
    window = 32
    deadline = time.monotonic() + seconds

    async def registrar(conn: int) -> None:
        nonlocal answered
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
        n = 0
        while time.monotonic() < deadline:
            batch = "".join(REGISTER.format(n=f"{conn}-{n + i}") for i in range(window))
            writer.write(batch.encode())
            n += window
            for _ in range(window):
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"SIP/2.0 302"):
                    raise RuntimeError(f"unexpected answer {head[:40]!r}")
                answered += 1
        writer.close()

    start = time.monotonic()
    await asyncio.gather(*(registrar(i) for i in range(4)))
    register_rate = answered / (time.monotonic() - start)
    return {
        "handshakes_per_s": round(handshake_rate, 1),
        "registers_per_s_established": round(register_rate, 1),
    }


def stop(proc: subprocess.Popen[str] | subprocess.Popen[bytes], group: bool = False) -> None:
    if proc.poll() is None:
        if group:
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            if group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
            proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short steps (< 1 minute)")
    parser.add_argument(
        "--processes",
        dest="kamailio_children",
        type=int,
        default=min(os.cpu_count() or 2, 4),
        help="Kamailio children and fedhub workers (fedhub is also measured with 1)",
    )
    args = parser.parse_args()
    if not sipp_available():
        print(json.dumps({"error": f"sipp not found ({SIPP})"}))
        return 1
    if args.quick:
        duration, refine, tls_seconds = 1.5, 1, 2.0
        ladder = [3000, 6000, 9000, 12000, 16000, 24000, 32000]
    else:
        duration, refine, tls_seconds = 5.0, 3, 5.0
        ladder = [1000, 2000, 4000, 6000, 8000, 10000, 12000, 16000, 20000, 24000, 32000, 40000]

    result: dict[str, object] = {
        "bench": "sip_redirect",
        "quick": args.quick,
        "cpus": os.cpu_count(),
        "step_seconds": duration,
    }
    procs = args.kamailio_children
    with tempfile.TemporaryDirectory(prefix="bench-sip-") as name:
        tmp = Path(name)
        fed_rates: dict[int, int] = {}
        fed_steps: dict[int, list[Step]] = {}
        for workers in sorted({1, procs}):
            fedhub, udp_port, tls_port = start_fedhub(tmp, workers)
            label = f"fedhub/{workers}"
            try:
                log(
                    f"fedhub redirector (python -m sip, {workers} process(es), uvloop) udp {udp_port}"
                )
                fed_rates[workers], fed_steps[workers] = max_rate(
                    udp_port, label, ladder, refine, duration, tmp
                )
                if workers == 1:
                    log(f"TLS on {tls_port} (1 process)")
                    result["tls"] = asyncio.run(tls_bench(tls_port, tls_seconds))
                    log(f"  {result['tls']}")
            finally:
                stop(fedhub)

        kam_rate: int | None = None
        kam_steps: list[Step] = []
        if Path(KAMAILIO).is_file():
            kamailio, kam_port = start_kamailio(tmp, procs)
            try:
                log(f"kamailio 5.6 (children={procs}) on udp {kam_port}")
                kam_rate, kam_steps = max_rate(kam_port, "kamailio", ladder, refine, duration, tmp)
            finally:
                stop(kamailio, group=True)
        else:
            log("kamailio not installed: no comparison")

    fed_rate = fed_rates[procs]
    result["udp_register_302"] = {
        "processes": procs,
        "fedhub_max_rate": fed_rate,
        "fedhub_1_process_max_rate": fed_rates[1],
        "kamailio_max_rate": kam_rate,
        "ratio_fedhub_over_kamailio": round(fed_rate / kam_rate, 3) if kam_rate else None,
        "ratio_1_process_over_kamailio": round(fed_rates[1] / kam_rate, 3) if kam_rate else None,
        "ladder_top": ladder[-1],
        "fedhub_steps": {str(w): [s.__dict__ for s in st] for w, st in fed_steps.items()},
        "kamailio_steps": [s.__dict__ for s in kam_steps],
    }
    result["goal_met"] = bool(kam_rate) and fed_rate * 2 >= (kam_rate or 0)
    print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
