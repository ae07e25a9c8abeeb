"""Benchmark of the member links: linking, ingest rate and memory per link.

Run from the project root: ``python tests/bench/bench_links.py [--quick]``.

The emulator runs in its own process (``python -m emulator``) so hub and members do
not share a core. The hub side (this process, uvloop) links to every member, holds
their snapshots, then ingests a flood of events. Figures:

* ``link_seconds``: from ``LinkManager.start()`` to every link up with its snapshot;
* ``events_per_second``: events applied to the cascade state per wall second during
  the flood, with ``hub_cpu`` / ``emulator_cpu`` (share of one core each) showing
  which side was the bottleneck, and ``events_per_hub_cpu_second``;
* ``rss_kib_per_link``: RSS growth of the hub from before start to all links up, per
  link (includes each member's held snapshot).

Prints human-readable lines, then one JSON object with all figures as the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from argon2 import PasswordHasher  # noqa: E402

from controllers.config import LinkSettings, MemberLinkConfig  # noqa: E402
from controllers.manager import LinkManager  # noqa: E402
from emulator.federation import build_load_federation  # noqa: E402
from hub.live import LiveChange, LiveState  # noqa: E402
from tests.controllers.linkkit import LOOPBACK, rules_for  # noqa: E402

SEED = 11
CLK_TCK = os.sysconf("SC_CLK_TCK")


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of another process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


async def bench(members: int, venues: int, flood_seconds: float) -> dict[str, object]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "emulator",
        "--members",
        str(members),
        "--venues",
        str(venues),
        "--seed",
        str(SEED),
        "--activity",
        "flood",
        "--events-per-second",
        "1000000",
        "--start-paused",
        "--stats-interval",
        "0",
        "--no-failures",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(await asyncio.wait_for(proc.stdout.readline(), 120))
        port = ready["port"]
        specs = build_load_federation(SEED, members, venues)
        hasher = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
        configs = [
            MemberLinkConfig(
                i,
                s.domain,
                f"ws://127.0.0.1:{port}/fed/link/{s.domain}",
                s.username,
                hasher.hash(s.password),
            )
            for i, s in enumerate(specs, start=1)
        ]
        applied = 0

        def count(change: LiveChange) -> None:
            nonlocal applied
            applied += len(change.deltas)

        settings = LinkSettings(
            heartbeat_interval=3,
            heartbeat_timeout=30,
            handshake_timeout=60,
            snapshot_timeout=60,
            allowed_networks=LOOPBACK,
        )
        live = LiveState(rules_for(specs))
        live.subscribe(count)
        manager = LinkManager(configs, live=live, settings=settings)
        gc.collect()
        rss0 = rss_kib()
        t0 = time.perf_counter()
        await manager.start()
        while not manager.all_up():  # noqa: ASYNC110 - polling is the measurement
            await asyncio.sleep(0.01)
        link_seconds = time.perf_counter() - t0
        gc.collect()
        rss1 = rss_kib()
        counts = live.summary().total
        print(f"{members} links up with {counts.venues_total} venues in {link_seconds:.2f} s")
        print(
            f"hub RSS {rss0 / 1024:.0f} -> {rss1 / 1024:.0f} MiB: "
            f"{(rss1 - rss0) / members:.1f} KiB per link"
        )

        proc.send_signal(signal.SIGUSR1)
        await asyncio.sleep(1.0)  # warm up
        events0 = sum(int(s["events"]) for s in manager.status())  # type: ignore[call-overload]
        cpu0, emu0, w0 = time.process_time(), proc_cpu_seconds(proc.pid), time.perf_counter()
        await asyncio.sleep(flood_seconds)
        events1 = sum(int(s["events"]) for s in manager.status())  # type: ignore[call-overload]
        cpu1, emu1, w1 = time.process_time(), proc_cpu_seconds(proc.pid), time.perf_counter()
        wall = w1 - w0
        ingested = events1 - events0
        resyncs = sum(int(s["snapshots"]) for s in manager.status()) - members  # type: ignore[call-overload]
        print(
            f"ingest: {ingested / wall:,.0f} events/s over {wall:.1f} s; hub CPU "
            f"{(cpu1 - cpu0) / wall:.0%} of a core, emulator {(emu1 - emu0) / wall:.0%}; "
            f"resyncs {resyncs}"
        )
        down = sum(1 for s in manager.status() if s["state"] != "up")
        await manager.stop()
        return {
            "bench": "links",
            "members": members,
            "venues": counts.venues_total,
            "link_seconds": round(link_seconds, 3),
            "rss_kib_per_link": round((rss1 - rss0) / members, 1),
            "events_per_second": round(ingested / wall),
            "events_per_hub_cpu_second": round(ingested / max(cpu1 - cpu0, 1e-9)),
            "hub_cpu": round((cpu1 - cpu0) / wall, 2),
            "emulator_cpu": round((emu1 - emu0) / wall, 2),
            "resyncs_during_flood": resyncs,
            "links_down_after_flood": down,
            "flood_seconds": round(wall, 1),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        }
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="500 members, 5 s of flood (< 1 min)")
    args = ap.parse_args()
    members, venues, flood = (500, 2_500, 5.0) if args.quick else (2_000, 10_000, 10.0)
    import uvloop

    result = uvloop.run(bench(members, venues, flood))
    result["quick"] = args.quick
    print(json.dumps(result))


if __name__ == "__main__":
    main()
