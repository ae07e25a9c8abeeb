"""`python -m sip --config redirect.json`: the redirector as its own process.

Runs on uvloop, prints one line `ready udp=<port> tcp=<port> tls=<port>` on stdout
once bound (ports may be ephemeral), reloads the JSON file on SIGHUP (settings
and routes change without a restart), stops on SIGINT/SIGTERM. `--workers N`
starts N processes sharing the ports with SO_REUSEPORT (the kernel spreads
sources across them; each has its own rate-limit buckets).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

from sip.config import load_config
from sip.service import RedirectService


async def _serve(path: Path, reuse_port: bool) -> None:
    settings, table = load_config(path)
    service = RedirectService(table, reuse_port=reuse_port)
    await service.start(settings)
    ports = " ".join(f"{t}={p}" for t, p in service.ports.items())
    print(f"ready {ports}", flush=True)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    pending: set[asyncio.Task[None]] = set()

    def reload() -> None:
        async def _reload() -> None:
            try:
                new_settings, new_table = load_config(path)
                service.update_table(new_table)
                await service.apply(new_settings)
                logging.getLogger("fedhub.sip").info("reloaded %s", path)
            except (ValueError, OSError) as exc:
                logging.getLogger("fedhub.sip").error("reload of %s failed: %s", path, exc)

        task = loop.create_task(_reload())
        pending.add(task)
        task.add_done_callback(pending.discard)

    loop.add_signal_handler(signal.SIGHUP, reload)
    loop.add_signal_handler(signal.SIGINT, done.set)
    loop.add_signal_handler(signal.SIGTERM, done.set)
    await done.wait()
    await service.stop()


def _run(path: Path, reuse_port: bool) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; keep running without
        asyncio.run(_serve(path, reuse_port))
    else:
        uvloop.run(_serve(path, reuse_port))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sip", description=__doc__)
    parser.add_argument("--config", type=Path, required=True, help="JSON settings and routes")
    parser.add_argument("--workers", type=int, default=1, help="processes (SO_REUSEPORT)")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    try:
        load_config(args.config)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.workers <= 1:
        _run(args.config, reuse_port=False)
        return 0
    children = []
    for _ in range(args.workers):
        pid = os.fork()
        if pid == 0:
            with contextlib.suppress(KeyboardInterrupt):
                _run(args.config, reuse_port=True)
            os._exit(0)
        children.append(pid)

    def forward(signum: int, _frame: object) -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    for pid in children:
        os.waitpid(pid, 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
