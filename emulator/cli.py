"""``fedhub emulate``: run one or many emulated member servers on loopback.

All members of the process share one port; each member's link is at
``ws://HOST:PORT/fed/link/<member-domain>``. When ready, one JSON line goes to stdout:
``{"ready": true, "host": …, "port": …, "members": N}``; ``--specs-out FILE`` also
writes every member (credentials, ranges, link URL) as JSON for whoever registers
them on a hub.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from dataclasses import asdict
from pathlib import Path

from controllers.config import is_loopback
from emulator.activity import Activity
from emulator.behaviour import Behaviour
from emulator.federation import build_demo_federation, build_load_federation, serve_federation
from emulator.spec import EmulatedMemberSpec


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--members",
        type=int,
        default=0,
        help="emulate N members (a province and N-1 cities); 0 = the 5-level demo",
    )
    p.add_argument(
        "--venues",
        type=int,
        default=0,
        help="venues in total with --members (default 5 per member)",
    )
    p.add_argument("--cities", type=int, default=3, help="cities in the demo federation")
    p.add_argument("--seed", type=int, default=1, help="seed: same seed, same federation")
    p.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    p.add_argument("--port", type=int, default=0, help="port (0 = any free port)")
    p.add_argument(
        "--activity",
        choices=("off", "demo", "flood"),
        default="demo",
        help="scripted joins/leaves/mutes/cameras/quality dips",
    )
    p.add_argument(
        "--events-per-second",
        type=float,
        default=20_000.0,
        help="total event rate with --activity flood",
    )
    p.add_argument(
        "--stats-interval",
        type=float,
        default=5.0,
        help="seconds between call statistics of a joined venue (0 = never)",
    )
    p.add_argument(
        "--no-failures",
        action="store_true",
        help="commands never fail and calls are always answered",
    )
    p.add_argument(
        "--start-paused",
        action="store_true",
        help="start the scripted activity only on SIGUSR1 (benchmarks)",
    )
    p.add_argument("--duration", type=float, default=0.0, help="stop after N s (0 = never)")
    p.add_argument("--specs-out", default="", help="write the members as JSON to this file")


def specs_json(specs: list[EmulatedMemberSpec], urls: dict[str, str]) -> list[dict[str, object]]:
    return [{**asdict(s), "url": urls[s.key], "meeting": s.meeting} for s in specs]


def build_specs(args: argparse.Namespace) -> list[EmulatedMemberSpec]:
    if args.members > 0:
        venues = args.venues or args.members * 5
        return build_load_federation(args.seed, args.members, venues)
    return build_demo_federation(args.seed, cities=args.cities)


async def _serve(args: argparse.Namespace) -> int:
    specs = build_specs(args)
    behaviour = Behaviour(stats_interval=args.stats_interval)
    if args.no_failures:
        behaviour = Behaviour(
            p_busy=0,
            p_no_answer=0,
            p_offline=0,
            p_command_fail=0,
            stats_interval=args.stats_interval,
        )
    activity = {"off": None, "demo": Activity(), "flood": Activity.flood(args.events_per_second)}[
        args.activity
    ]
    running = await serve_federation(
        specs,
        args.host,
        args.port,
        seed=args.seed,
        behaviour=behaviour,
        activity=None if args.start_paused else activity,
    )
    loop = asyncio.get_running_loop()
    if args.start_paused and activity is not None:
        loop.add_signal_handler(signal.SIGUSR1, running.start_activity, activity, args.seed)
    if args.specs_out:
        text = json.dumps(specs_json(specs, running.urls), indent=1, default=str)
        await asyncio.to_thread(Path(args.specs_out).write_text, text, encoding="utf-8")
    ready = {"ready": True, "host": args.host, "port": running.server.port, "members": len(specs)}
    print(json.dumps(ready), flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        if args.duration > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.duration)
        else:
            await stop.wait()
    finally:
        await running.close()
    return 0


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted (or ``--duration``); returns the exit status."""
    if not is_loopback(args.host):
        print(f"fedhub emulate: listens on loopback only, not {args.host!r}", file=sys.stderr)
        return 2
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency
        return asyncio.run(_serve(args))
    return uvloop.run(_serve(args))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fedhub emulate", description=__doc__)
    configure_parser(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
