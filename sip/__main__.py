"""`python -m sip --config redirect.json`: the redirector as its own process.

Runs on uvloop, prints one line `ready udp=<port> tcp=<port> tls=<port>` on stdout
once bound (ports may be ephemeral), reloads the JSON file on SIGHUP (settings
and routes change without a restart), stops on SIGINT/SIGTERM.

`--workers N` binds the sockets once and forks N workers that all serve them,
as Kamailio's children do. Each worker keeps its own rate-limit buckets and
connection counts, so the per-source rates, bursts and the connection caps are
divided by N. A new address or port on SIGHUP makes each worker bind its own
sockets with SO_REUSEPORT (the kernel then spreads sources across workers).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import math
import os
import signal
import socket
import sys
from pathlib import Path

from hub.logtext import LOG_FORMAT
from sip.config import load_config
from sip.redirect import RoutingTable
from sip.service import RedirectService, RedirectSettings
from sip.tls import ensure_certificate
from sip.transport import bind_sockets

log = logging.getLogger("fedhub.sip")


def per_worker(settings: RedirectSettings, workers: int) -> RedirectSettings:
    """The share of the limits one of `workers` processes enforces."""
    if workers <= 1:
        return settings
    return dataclasses.replace(
        settings,
        rate=settings.rate / workers,
        burst=max(1, math.ceil(settings.burst / workers)),
        max_connections=max(1, settings.max_connections // workers),
        max_connections_per_address=max(1, settings.max_connections_per_address // workers),
        connection_rate=settings.connection_rate / workers,
        connection_burst=max(1, math.ceil(settings.connection_burst / workers)),
    )


def _load(path: Path, workers: int) -> tuple[RedirectSettings, RoutingTable]:
    settings, table = load_config(path)
    return per_worker(settings, workers), table


async def _serve(path: Path, workers: int, sockets: dict[str, socket.socket] | None) -> None:
    settings, table = _load(path, workers)
    service = RedirectService(table, reuse_port=workers > 1, sockets=sockets)
    await service.start(settings)
    if sockets is None:
        print("ready " + " ".join(f"{t}={p}" for t, p in service.ports.items()), flush=True)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    pending: set[asyncio.Task[None]] = set()

    async def reload() -> None:
        try:
            new_settings, new_table = _load(path, workers)
            service.update_table(new_table)
            await service.apply(new_settings)
            log.info("reloaded %s", path)
        except (ValueError, OSError) as exc:
            log.error("reload of %s failed: %s", path, exc)

    def on_hup() -> None:
        task = loop.create_task(reload())
        pending.add(task)
        task.add_done_callback(pending.discard)

    loop.add_signal_handler(signal.SIGHUP, on_hup)
    loop.add_signal_handler(signal.SIGINT, done.set)
    loop.add_signal_handler(signal.SIGTERM, done.set)
    await done.wait()
    await service.stop()


def _run(path: Path, workers: int, sockets: dict[str, socket.socket] | None) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; run without it
        asyncio.run(_serve(path, workers, sockets))
    else:
        uvloop.run(_serve(path, workers, sockets))


def _fork_workers(path: Path, settings: RedirectSettings, workers: int) -> int:
    if settings.tls_enabled and settings.cert_dir is not None:
        ensure_certificate(settings.cert_dir)  # once, before the workers race to create it
    tls_port = settings.tls_port if settings.tls_enabled else None
    sockets = bind_sockets(settings.host, settings.udp_port, settings.tcp_port, tls_port)
    ports = " ".join(f"{t}={s.getsockname()[1]}" for t, s in sockets.items())
    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until the loop handles it
            code = 0
            try:
                _run(path, workers, sockets)
            except KeyboardInterrupt:
                pass
            except BaseException:
                log.exception("SIP worker failed")
                code = 1
            os._exit(code)
        children.append(pid)
    for sock in sockets.values():
        sock.close()
    print(f"ready {ports} workers={workers}", flush=True)

    stopping: set[int] = set()

    def forward(signum: int, _frame: object) -> None:
        if signum != signal.SIGHUP:
            stopping.add(signum)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    status = 0
    for pid in children:
        _, code = os.waitpid(pid, 0)
        exit_code = os.waitstatus_to_exitcode(code)
        if -exit_code in stopping:  # a worker stopped by the signal we forwarded: clean
            exit_code = 0
        status = status or exit_code
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sip", description=__doc__)
    parser.add_argument("--config", type=Path, required=True, help="JSON settings and routes")
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the sockets")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format=LOG_FORMAT)
    try:
        settings, _ = load_config(args.config)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not settings.enabled:
        print("error: the redirect service is disabled in the config", file=sys.stderr)
        return 2
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until the event loop handles it
    if args.workers <= 1:
        with contextlib.suppress(KeyboardInterrupt):
            _run(args.config, 1, None)
        return 0
    return _fork_workers(args.config, settings, args.workers)


if __name__ == "__main__":
    sys.exit(main())
