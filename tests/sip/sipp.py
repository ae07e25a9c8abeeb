"""Running sipp from tests and the benchmark: scenario templates, free ports, CSV stats."""

from __future__ import annotations

import asyncio
import csv
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

SIPP = shutil.which("sipp") or "/usr/bin/sipp"
SCENARIOS = Path(__file__).parent / "scenarios"


def sipp_available() -> bool:
    return Path(SIPP).is_file() and os.access(SIPP, os.X_OK)


def free_port(host: str, kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def scenario(
    name: str, directory: Path, contact_re: str, timeout_ms: int = 2000, via_extra: str = ""
) -> Path:
    """Copy scenario `name` into `directory` with its placeholders filled in."""
    text = (SCENARIOS / f"{name}.xml").read_text()
    text = text.replace("@@CONTACT_RE@@", escape(contact_re, {'"': "&quot;"}))
    text = text.replace("@@TIMEOUT@@", str(timeout_ms))
    text = text.replace("@@VIA_EXTRA@@", via_extra)
    path = directory / f"{name}.xml"
    path.write_text(text)
    return path


def injection(directory: Path, rows: list[tuple[str, str]], name: str = "users.csv") -> Path:
    path = directory / name
    path.write_text("SEQUENTIAL\n" + "".join(f"{user};{domain}\n" for user, domain in rows))
    return path


@dataclass(frozen=True)
class SippResult:
    returncode: int
    successful: int
    failed: int
    retransmissions: int
    messages: str
    output: str


def _final_stats(path: Path) -> dict[str, str]:
    with path.open(newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    header, last = rows[0], rows[-1]
    return dict(zip(header, last, strict=False))


def sipp_args(
    target: str,
    scenario_path: Path,
    inf: Path,
    workdir: Path,
    *,
    calls: int,
    rate: float,
    source: str = "127.0.0.1",
    transport: str = "u1",
    timeout_s: int = 30,
    trace_msg: bool = True,
    extra: tuple[str, ...] = (),
) -> list[str]:
    local_kind = socket.SOCK_DGRAM if transport.startswith("u") else socket.SOCK_STREAM
    args = [
        SIPP, target, "-sf", str(scenario_path), "-inf", str(inf),
        "-m", str(calls), "-r", str(rate), "-rp", "1000",
        "-i", source, "-p", str(free_port(source, local_kind)), "-t", transport,
        "-nostdin", "-timeout", f"{timeout_s}s", "-timeout_error",
        "-trace_stat", "-stf", str(workdir / "stats.csv"), "-fd", "1",
        "-trace_err", "-error_file", str(workdir / "errors.log"),
        *extra,
    ]  # fmt: skip
    if trace_msg:
        args += ["-trace_msg", "-message_file", str(workdir / "messages.log")]
    return args


def collect(returncode: int, workdir: Path, output: str) -> SippResult:
    stats = _final_stats(workdir / "stats.csv")
    messages = workdir / "messages.log"
    return SippResult(
        returncode,
        int(stats["SuccessfulCall(C)"]),
        int(stats["FailedCall(C)"]),
        int(stats.get("Retransmissions(C)", "0") or 0),
        messages.read_text(errors="replace") if messages.exists() else "",
        output,
    )


async def run_sipp(args: list[str], workdir: Path) -> SippResult:
    """Run sipp without blocking the event loop (the redirector may live in it).
    `workdir` must exist; the stats CSV and message log are written there."""
    proc = await asyncio.create_subprocess_exec(
        *args,
        cwd=workdir,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return collect(proc.returncode, workdir, out.decode(errors="replace"))
