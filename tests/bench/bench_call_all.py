"""Benchmark of one-click call (一键呼叫): every member's meeting in, every contact called.

Run from the project root: ``python tests/bench/bench_call_all.py [--quick]``.

The emulator (this file, role ``emulator``, its own process) serves a load federation
(a province and N-1 cities). On ``hangup`` the province hangs up every cascade link
and every contact of every meeting leaves, so nobody is in. The hub (this process:
``ops.hub.build_services`` + ``create_app`` on uvicorn, members stored and bound) then
gets ``POST /api/v1/live/call-all`` for the province's meeting from a dashboard (role
``watcher``, its own process, so that its work is not counted as the hub's), which
follows the call by the frames ``/ws/live`` streams to it: ``call_progress`` for the
members, snapshot and deltas of the province conference's control list for the venues.

Figures: ``ack_all_s`` (until every member acknowledged: its meeting answered the
cascade call; goal < 2 s), ``venues_final_s`` (until every contact of every meeting
reached a final state: joined or failed), ``accepted_s`` (until the 202 answered), the
hub's CPU over the call, and the setup times. Human-readable lines, then one JSON object
as the last line.

Setup stores the federation in one ``FederationStore.batch()`` and waits for the links
and the first push of the data sets (the hub's start-up work, not the call's).
``BENCH_PROFILE=DIR`` samples the hub and the emulator with py-spy over the call
(collapsed stacks, idle included, in DIR/hub.txt and DIR/emu.txt).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SEED = 5


def say(obj: object) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def role_emulator(a: argparse.Namespace) -> None:
    from emulator.behaviour import Behaviour
    from emulator.federation import build_load_federation, serve_federation
    from emulator.member import cascade_venue_id

    specs = build_load_federation(SEED, a.members, a.venues)
    calls = Behaviour(
        latency=(0.01, 0.05),
        ring=(0.2, 0.5),
        p_busy=0.0,
        p_no_answer=0.0,
        p_offline=0.0,
        p_command_fail=0.0,
        stats_interval=0.0,
    )
    running = await serve_federation(specs, behaviour=calls, idle_timeout=120)
    say({"port": running.server.port})
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    members = running.federation.members
    while line := (await reader.readline()).decode().strip():
        if line == "hangup":
            prov = members[specs[0].key]
            for s in specs[1:]:
                prov.publish(prov.world.leave(specs[0].meeting, cascade_venue_id(s.meeting), "-"))
            for s in specs:
                m = members[s.key]
                for v in s.venues:
                    if v.conference is not None:
                        m.publish(m.world.leave(v.conference, v.id, "left"))
            say({"hung_up": True})
        else:
            break
    await running.close()


async def role_watcher(a: argparse.Namespace) -> None:
    """A dashboard in its own process: watches the province conference, starts the call
    on ``go`` and follows it by its frames alone (``call_progress``, snapshot/delta)."""
    import httpx
    import orjson
    from websockets.asyncio.client import connect

    from emulator.federation import build_load_federation

    specs = build_load_federation(SEED, a.members, a.venues)
    expect = sum(1 for s in specs for v in s.venues if v.conference is not None)
    root, meeting = a.root.split(":", 1)
    auth = {"Authorization": f"Bearer {a.token}"}
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    members: dict[int, str] = {}
    screen: dict[tuple[int, str, str], str] = {}
    frames = progress = 0
    async with (
        httpx.AsyncClient(base_url=f"http://{a.hub}", timeout=60) as http,
        connect(f"ws://{a.hub}/ws/live", additional_headers=auth, max_size=2**28) as ws,
    ):
        sub = {"type": "subscribe", "id": "w", "member_id": int(root), "conference": meeting}
        await ws.send(orjson.dumps(sub).decode())
        while orjson.loads(await ws.recv()).get("type") != "snapshot":
            pass
        await http.get("/api/v1/live/summary", headers=auth)  # the client warm
        say({"ready": True})
        await reader.readline()
        w0, cpu0 = time.perf_counter(), time.process_time()
        posted: float | None = None

        async def post() -> str:  # the frames are read meanwhile, as a browser would
            nonlocal posted
            r = await http.post(
                "/api/v1/live/call-all",
                json={"member_id": int(root), "conference": meeting},
                headers=auth,
            )
            posted = time.perf_counter() - w0
            assert r.status_code == 202, r.text
            return str(r.json()["call_id"])

        started = asyncio.create_task(post())
        timeline: list[tuple[float, int]] = []  # (s, members acknowledged) per progress frame
        ack = final = None
        while final is None:
            left = a.limit - (time.perf_counter() - w0)
            if left <= 0:
                break
            try:
                f = orjson.loads(await asyncio.wait_for(ws.recv(), left))
            except TimeoutError:
                break
            frames += 1
            if f["type"] == "call_progress":  # the only call in this conference
                progress += 1
                for m in f["members"]:
                    members[m["member_id"]] = m["status"]
                acked = sum(1 for st in members.values() if st == "acknowledged")
                timeline.append((round(time.perf_counter() - w0, 3), acked))
            elif f["type"] in ("snapshot", "delta"):
                if f["type"] == "snapshot":
                    screen.clear()
                for v in f.get("removed", ()):
                    screen.pop((v["member_id"], v["conference"], v["id"]), None)
                for v in f["venues"]:
                    screen[(v["member_id"], v["conference"], v["id"])] = v["status"]
            now = time.perf_counter() - w0
            if ack is None and len(members) == len(specs):
                if all(s == "acknowledged" for s in members.values()):
                    ack = now
            if ack is not None:
                done = [s for s in screen.values() if s in ("joined", "failed")]
                if len(done) == len(screen) >= expect:
                    final = now
        call_id = await started
    statuses: dict[str, int] = {}
    for st in members.values():
        statuses[st] = statuses.get(st, 0) + 1
    joined = sum(1 for s in screen.values() if s == "joined")
    say(
        {
            "ack_all_s": None if ack is None else round(ack, 3),
            "venues_final_s": None if final is None else round(final, 3),
            "statuses": statuses,
            "joined": joined,
            "frames": frames,
            "progress_frames": progress,
            "call_id": call_id,
            "post_s": None if posted is None else round(posted, 3),
            "timeline": timeline[:50],
            "cpu_s": round(time.process_time() - cpu0, 3),  # it exits once this is out
        }
    )


async def conduct(a: argparse.Namespace) -> dict[str, Any]:
    import uvicorn
    from argon2 import PasswordHasher

    from dashboards.app import create_app
    from dashboards.services import HubConfig
    from emulator.federation import build_load_federation
    from hub.conference import VenueStatus
    from ops.hub import build_services
    from storage.admins import Role
    from tests.bench.bench_fanout import Child, Sampler, free_port
    from tests.controllers.linkkit import LOOPBACK

    specs = build_load_federation(SEED, a.members, a.venues)
    emu = await Child.start_file(__file__, "--role", "emulator", *common_args(a))
    try:
        port = (await emu.line())["port"]
        tmp = Path(tempfile.mkdtemp(prefix="bench-call-"))
        services = build_services(HubConfig(data_dir=tmp, link_networks=LOOPBACK))
        assert services.links is not None and services.livehub is not None
        fast = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
        await services.db.upgrade()
        prof = Profile(a.profile, "setup")
        t0 = time.perf_counter()
        ids: dict[str, int] = {}
        async with services.federation.batch() as batch:  # one transaction, one revision
            for s in specs:
                m = await batch.create_member(
                    None,
                    parent_id=ids.get(s.parent_key or ""),
                    domain=s.domain,
                    display_name=s.display_name,
                    username=s.username,
                    password_hash=fast.hash(s.password),
                    server_url=f"ws://127.0.0.1:{port}/fed/link/{s.domain}",
                )
                ids[s.key] = m.id
                for r in s.ranges:  # what the member may claim (its meeting numbers)
                    await batch.add_range(None, m.id, type=r.type, start=r.start, end=r.end)
        admin = await services.admins.create(
            "bench", fast.hash("Bench-Pass1"), Role.ADMIN, None, password_change_required=False
        )
        token, _ = await services.tokens.create(admin.id, "bench")
        stored_s = time.perf_counter() - t0
        prof.stop()
        hub_port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(services), host="127.0.0.1", port=hub_port, log_level="warning"
            )
        )
        serving = asyncio.create_task(server.serve())
        manager = services.links.manager
        t1 = time.perf_counter()
        while not (  # noqa: ASYNC110 - polling the links is the setup
            server.started and len(manager.status()) == len(specs) and manager.all_up()
        ):
            await asyncio.sleep(0.05)
        link_s = time.perf_counter() - t1
        t2 = time.perf_counter()
        sync = services.sync
        assert sync is not None
        await asyncio.wait_for(sync.in_step(), 600)  # the first push of the data sets
        sync_s = time.perf_counter() - t2
        print(
            f"{len(specs)} members stored in {stored_s:.1f} s, linked in {link_s:.1f} s, "
            f"their data sets pushed in {sync_s:.1f} s"
        )
        if a.gc_freeze:  # an experiment: what the collector costs the call (not the product's)
            import gc

            gc.collect()
            gc.freeze()
        prov, meeting = ids[specs[0].key], specs[0].meeting
        emu.tell("hangup")
        await emu.line()

        def nobody_in() -> bool:
            assert services.live is not None
            conf = services.live.conference(prov, meeting)
            return conf is not None and all(v.status is not VenueStatus.JOINED for v in conf.venues)

        while not nobody_in():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        watcher = await Child.start_file(
            __file__,
            "--role",
            "watcher",
            *common_args(a),
            "--hub",
            f"127.0.0.1:{hub_port}",
            "--token",
            token,
            "--root",
            f"{prov}:{meeting}",
            "--limit",
            str(a.limit),
        )
        try:
            await watcher.line(60)  # subscribed, its snapshot in
            prof = Profile(a.profile, "call")
            samplers = [
                await Sampler.start(os.getpid(), "hub"),
                await Sampler.start(emu.proc.pid, "emu"),
            ]
            cpu0, w0 = time.process_time(), time.perf_counter()
            emu0 = emu.cpu()
            gc_clock = GcClock()
            watcher.tell("go")
            seen = await watcher.line(a.limit + 60)
            wall = max(time.perf_counter() - w0, 1e-9)
            cpu_s = time.process_time() - cpu0
            cpu = cpu_s / wall
            emu_cpu_s, dash_cpu_s = emu.cpu() - emu0, float(seen["cpu_s"])
            prof.stop()
            for sampler in samplers:
                await sampler.stop()
        finally:
            await watcher.stop()
        ack, final = seen["ack_all_s"], seen["venues_final_s"]
        statuses, joined = seen["statuses"], seen["joined"]
        print(
            f"call-all over {len(specs)} members: all acknowledged after {ack} s, every venue "
            f"final after {final} s ({joined} joined); hub CPU {cpu:.0%} ({cpu_s:.2f} s, emulator "
            f"{emu_cpu_s:.2f} s); statuses {statuses}; "
            f"{seen['frames']} frames to the dashboard ({seen['progress_frames']} progress); "
            f"202 after {seen['post_s']} s"
        )
        print("progress (s, members acknowledged):", seen["timeline"])
        server.should_exit = True
        await serving
        emu.tell("quit")
        return {
            "bench": "call_all",
            "members": len(specs),
            "venues": a.venues,
            "ack_all_s": None if ack is None else round(ack, 3),
            "venues_final_s": None if final is None else round(final, 3),
            "accepted_s": seen["post_s"],  # until the 202 answered
            "venues_joined": joined,
            "progress_frames": seen["progress_frames"],
            "statuses": statuses,
            "hub_cpu": round(cpu, 2),
            "hub_cpu_s": round(cpu_s, 2),
            "emulator_cpu_s": round(emu_cpu_s, 2),
            "hub_gc_s": [round(x, 3) for x in gc_clock.spent],
            "dashboard_cpu_s": round(dash_cpu_s, 2),
            "link_seconds": round(link_s, 1),
            "sync_seconds": round(sync_s, 1),
            "gc_freeze": a.gc_freeze,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg()[0],
        }
    finally:
        await emu.stop()


class GcClock:
    """Seconds this process spends in the garbage collector (by generation)."""

    def __init__(self) -> None:
        import gc

        self.spent = [0.0, 0.0, 0.0]
        self._t = 0.0
        gc.callbacks.append(self._on)

    def _on(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t = time.perf_counter()
        else:
            self.spent[info["generation"]] += time.perf_counter() - self._t


class Profile:
    """cProfile of this process between start and ``stop()``, dumped to DIR/NAME.prof."""

    def __init__(self, directory: str | None, name: str) -> None:
        import cProfile

        self.path = Path(directory, f"{name}.prof") if directory else None
        self.prof = cProfile.Profile() if self.path else None
        if self.prof is not None:
            self.prof.enable()

    def stop(self) -> None:
        if self.prof is not None and self.path is not None:
            self.prof.disable()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.prof.dump_stats(self.path)
            print(f"profile written to {self.path}")


def common_args(a: argparse.Namespace) -> list[str]:
    return ["--members", str(a.members), "--venues", str(a.venues)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="500 members (< 1 min)")
    ap.add_argument("--role", default="conductor")
    ap.add_argument("--members", type=int, default=2000)
    ap.add_argument("--venues", type=int, default=10_000)
    ap.add_argument("--hub", help=argparse.SUPPRESS)
    ap.add_argument("--token", help=argparse.SUPPRESS)
    ap.add_argument("--root", help=argparse.SUPPRESS)
    ap.add_argument(
        "--gc-freeze",
        action="store_true",
        help="move everything alive after setup out of the collector's reach (experiment)",
    )
    ap.add_argument("--profile", metavar="DIR", help="write cProfile stats of the hub here")
    ap.add_argument("--limit", type=float, default=120.0, help="give up after this many s")
    a = ap.parse_args()
    import uvloop

    if a.role == "emulator":
        uvloop.run(role_emulator(a))
        return
    if a.role == "watcher":
        uvloop.run(role_watcher(a))
        return
    if a.quick:
        a.members, a.venues, a.limit = 500, 2_500, 30.0
    result = uvloop.run(conduct(a))
    result["quick"] = a.quick
    print(json.dumps(result))


if __name__ == "__main__":
    main()
