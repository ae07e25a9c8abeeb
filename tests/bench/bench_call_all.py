"""Benchmark of one-click call (一键呼叫): every member's meeting in, every contact called.

Run from the project root: ``python tests/bench/bench_call_all.py [--quick]``.

The emulator (this file, role ``emulator``, its own process) serves a load federation
(a province and N-1 cities). On ``hangup`` the province hangs up every cascade link
and every contact of every meeting leaves, so nobody is in. The hub (this process:
``ops.hub.build_services`` + ``create_app`` on uvicorn, members stored and bound) then
gets ``POST /api/v1/live/call-all`` for the province's meeting, and this process polls
``GET /api/v1/live/calls/{id}`` as a dashboard would.

Figures: ``ack_all_s`` (until every member acknowledged: its meeting answered the
cascade call; goal < 2 s), ``venues_final_s`` (until every contact of every meeting
reached a final state: joined or failed), the hub's CPU over the call, and the setup
times. Human-readable lines, then one JSON object as the last line.
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


async def conduct(a: argparse.Namespace) -> dict[str, Any]:
    import httpx
    import uvicorn
    from argon2 import PasswordHasher

    from dashboards.app import create_app
    from dashboards.services import HubConfig
    from emulator.federation import build_load_federation
    from hub.conference import VenueStatus
    from ops.hub import build_services
    from storage.admins import Role
    from tests.bench.bench_fanout import Child, free_port
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
        t0 = time.perf_counter()
        ids: dict[str, int] = {}
        for s in specs:
            m = await services.federation.create_member(
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
                await services.federation.add_range(
                    None, m.id, type=r.type, start=r.start, end=r.end
                )
        admin = await services.admins.create(
            "bench", fast.hash("Bench-Pass1"), Role.ADMIN, None, password_change_required=False
        )
        token, _ = await services.tokens.create(admin.id, "bench")
        stored_s = time.perf_counter() - t0
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
        print(f"{len(specs)} members stored in {stored_s:.1f} s, linked in {link_s:.1f} s")
        prov, meeting = ids[specs[0].key], specs[0].meeting
        emu.tell("hangup")
        await emu.line()

        def nobody_in() -> bool:
            assert services.live is not None
            conf = services.live.conference(prov, meeting)
            return conf is not None and all(v.status is not VenueStatus.JOINED for v in conf.venues)

        while not nobody_in():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        auth = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{hub_port}", timeout=60) as http:
            cpu0, w0 = time.process_time(), time.perf_counter()
            r = await http.post(
                "/api/v1/live/call-all",
                json={"member_id": prov, "conference": meeting},
                headers=auth,
            )
            assert r.status_code == 202, r.text
            call_id = r.json()["call_id"]
            ack = final = None
            body: dict[str, Any] = {}
            while final is None and time.perf_counter() - w0 < a.limit:
                await asyncio.sleep(0.05)
                body = (await http.get(f"/api/v1/live/calls/{call_id}", headers=auth)).json()
                now = time.perf_counter() - w0
                members = body["members"]
                if ack is None and all(m["status"] == "acknowledged" for m in members):
                    ack = now
                if (
                    ack is not None
                    and body["state"] == "done"
                    and all(
                        m["venues"]["ringing"] == 0 and m["venues"]["not_joined"] == 0
                        for m in members
                    )
                ):
                    final = now
            cpu = (time.process_time() - cpu0) / max(time.perf_counter() - w0, 1e-9)
        statuses: dict[str, int] = {}
        for m in body.get("members", []):
            statuses[m["status"]] = statuses.get(m["status"], 0) + 1
        joined = sum(m["venues"]["joined"] for m in body.get("members", []))
        print(
            f"call-all over {len(specs)} members: all acknowledged after {ack} s, every venue "
            f"final after {final} s ({joined} joined); hub CPU {cpu:.0%}; statuses {statuses}"
        )
        server.should_exit = True
        await serving
        emu.tell("quit")
        return {
            "bench": "call_all",
            "members": len(specs),
            "venues": a.venues,
            "ack_all_s": None if ack is None else round(ack, 3),
            "venues_final_s": None if final is None else round(final, 3),
            "venues_joined": joined,
            "statuses": statuses,
            "hub_cpu": round(cpu, 2),
            "link_seconds": round(link_s, 1),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg()[0],
        }
    finally:
        await emu.stop()


def common_args(a: argparse.Namespace) -> list[str]:
    return ["--members", str(a.members), "--venues", str(a.venues)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="500 members (< 1 min)")
    ap.add_argument("--role", default="conductor")
    ap.add_argument("--members", type=int, default=2000)
    ap.add_argument("--venues", type=int, default=10_000)
    ap.add_argument("--limit", type=float, default=120.0, help="give up after this many s")
    a = ap.parse_args()
    import uvloop

    if a.role == "emulator":
        uvloop.run(role_emulator(a))
        return
    if a.quick:
        a.members, a.venues, a.limit = 500, 2_500, 30.0
    result = uvloop.run(conduct(a))
    result["quick"] = a.quick
    print(json.dumps(result))


if __name__ == "__main__":
    main()
