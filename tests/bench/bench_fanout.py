"""Benchmark of the live fan-out: member event -> dashboard frame, against raw broadcast.

Run from the project root: ``python tests/bench/bench_fanout.py [--quick]``
(``--rates 2000,5000`` and ``--servers hub`` measure only those, to look closer).

Four processes (this file in four roles), so no two sides share an event loop:

* ``emulator``: the load federation (a province and N-1 cities, all cascaded into the
  province's meeting). On ``rate R`` it floods mute/camera/quality events at R per
  second over every member but the probe members (clocked: every ~10 ms it emits what
  is owed since the flood began, counting only actions that changed something), and
  toggles the mute of one probe venue every 50 ms, printing each probe's wall-clock
  emission time (the event is clocked where the emulator emits it). On ``stop`` it
  reports what it emitted and over how long: ``emitted_per_s`` is that count, so a
  starved emulator shows as a lower rate, never as a better latency.
* ``hub``: the real hub (``ops.hub.build_services`` + ``create_app`` on uvicorn and
  uvloop, journal included) linked to every member; dashboards subscribe to the
  province's federation conference on ``/ws/live``.
* ``raw``: the same links feeding a minimal ``websockets`` server that sends one frame
  per event to every client with ``websockets.broadcast``.
* ``clients``: C dashboards on one event loop; each records when it first sees each
  new mute state of a probe venue.

Per rate and server: probe latency p50/p99 (emission -> frame received), frames and
bytes per second received by all clients, the server's CPU (share of one core; the
part spent in the kernel, where socket writes land, apart), and
the memory each dashboard costs the server. Memory is read the same way for both
servers: once the server's RSS has stopped moving (the hub journals the links' first
state a second or so after it is up: megabytes that are no dashboard's), the server
collects garbage, returns its free heap to the system and reports (``SIGUSR1``) its
RSS and its *heap in use* (pymalloc's allocated blocks plus glibc's allocated bytes);
the least of five such readings once the first dashboard is in and once the others
are. The first one's cost is reported apart (``heap_kib_first_dashboard``): the hub
builds the watched conference's control list on its first subscription, once per
conference, not per dashboard. The heap in use per further dashboard is the figure
compared (``memory_ratio``): RSS per dashboard mostly says how
much free heap the process happened to have left from start-up (the hub's could even
shrink), so it is reported (``rss_ratio``) but means little. Human-readable lines, then
one JSON object as the last line, with ``"goal": {"rate": 2000, "hub_p99_ms": …,
"raw_p99_ms": …}`` and the load average (the machine is shared: a load above the
core count starves every process here, and the latencies mean little then).

``BENCH_PROFILE=DIR`` samples each server with py-spy while it is measured (collapsed
stacks in DIR); ``BENCH_GC=1`` prints the hub's garbage-collection pauses and
``BENCH_LAG=1`` how often its event loop stalled, and for how long, in each measured
window (on stderr, after a ``hub @ R/s, while measured:`` line).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SEED = 7
PROBES = 10
PROBE_EVERY = 0.05
CLK_TCK = os.sysconf("SC_CLK_TCK")
BENCH_GC = bool(os.environ.get("BENCH_GC"))
BENCH_LAG = bool(os.environ.get("BENCH_LAG"))


def load(members: int, venues: int) -> list[Any]:
    from emulator.federation import build_load_federation

    return build_load_federation(SEED, members, venues)


def probe_marker(specs: list[Any]) -> bytes:
    """The common prefix of the probe venues' ids (the last PROBES members)."""
    ids = [s.venues[0].id for s in specs[-PROBES:]]
    prefix = os.path.commonprefix(ids)  # noqa: RUF071 - ids, not paths
    assert not any(s.venues[0].id.startswith(prefix) for s in specs[:-PROBES]), prefix
    return f'"id":"{prefix}'.encode()


async def stdin_lines() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


def say(obj: object) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


# -- roles ------------------------------------------------------------------------------


FLOOD_KINDS = ("mute", "camera", "dip")
FLOOD_WEIGHTS = (2.0, 1.0, 1.0)
FLOOD_TURN = 0.01
MAX_BACKLOG = 256


async def flood(members: list[Any], rate: float, sent: list[float]) -> None:
    """Emit ``rate`` member events per second, clocked: each loop turn (every ~10 ms)
    emits what is owed since the start, so a slow turn is caught up by the next one
    and the asked rate is what goes out (or ``sent`` shows honestly that it did not).
    An action that changes nothing (a venue not joined) is not counted: another is
    tried. ``sent`` = [events, seconds flooding], updated as it goes."""
    import random

    rng = random.Random(f"flood:{SEED}")
    t0 = time.perf_counter()
    done = 0
    while True:
        await asyncio.sleep(FLOOD_TURN)
        now = time.perf_counter()
        owed = min(int(rate * (now - t0)) - done, int(rate))  # never more than 1 s behind
        tries = 4 * owed
        while owed > 0 and tries > 0:
            tries -= 1
            m = members[rng.randrange(len(members))]
            if m.frozen or any(o.backlog > MAX_BACKLOG for o in m.outlets):
                continue
            before = m.events_sent
            m.random_action(rng.choices(FLOOD_KINDS, FLOOD_WEIGHTS)[0])
            n = m.events_sent - before
            done += n
            owed -= n
        sent[0], sent[1] = done, now - t0


async def role_emulator(a: argparse.Namespace) -> None:
    from emulator.behaviour import Behaviour
    from emulator.federation import serve_federation

    specs = load(a.members, a.venues)
    quiet = Behaviour((0.0, 0.0), (0.0, 0.0), 0.0, 0.0, 0.0, 0.0, 0.0)
    running = await serve_federation(specs, behaviour=quiet, idle_timeout=120)
    members = running.federation.members
    flooded = [members[s.key] for s in specs[:-PROBES]]
    probes = [(members[s.key], s.meeting, s.venues[0].id) for s in specs[-PROBES:]]
    say({"port": running.server.port})
    tasks: list[asyncio.Task[None]] = []
    sent = [0.0, 0.0]

    async def probe() -> None:
        i = 0
        while True:
            await asyncio.sleep(PROBE_EVERY)
            m, conf, vid = probes[i % PROBES]
            i += 1
            venue = m.world.venue(conf, vid)
            if venue is None:
                continue
            t = time.time()
            m.publish(m.world.set_muted(conf, vid, not venue.muted))
            say({"p": vid, "v": not venue.muted, "t": t})

    stdin = await stdin_lines()
    while line := (await stdin.readline()).decode().split():
        for t in tasks:
            t.cancel()
        tasks = []
        if line[0] == "stop":
            say({"events": sent[0], "seconds": sent[1]})
            sent = [0.0, 0.0]
        if line[0] == "rate":
            tasks = [
                asyncio.create_task(flood(flooded, float(line[1]), sent)),
                asyncio.create_task(probe()),
            ]
        elif line[0] == "quit":
            break
    await running.close()


async def _links(a: argparse.Namespace, on_delta: Any, live: Any = None) -> Any:
    """Link to every member; ``on_delta`` gets each batch of cascade deltas."""
    from argon2 import PasswordHasher

    from controllers.config import LinkSettings, MemberLinkConfig
    from controllers.manager import LinkManager
    from hub.live import LiveState
    from tests.controllers.linkkit import LOOPBACK, rules_for

    specs = load(a.members, a.venues)
    if live is None:
        live = LiveState()
    live.set_rules(rules_for(specs))  # what each emulated member may claim
    live.subscribe(lambda change: on_delta(list(change.deltas)))
    fast = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    configs = [
        MemberLinkConfig(
            i,
            s.domain,
            f"ws://127.0.0.1:{a.emulator_port}/fed/link/{s.domain}",
            s.username,
            fast.hash(s.password),
        )
        for i, s in enumerate(specs, start=1)
    ]
    settings = LinkSettings(
        heartbeat_interval=3,
        heartbeat_timeout=30,
        handshake_timeout=60,
        snapshot_timeout=60,
        allowed_networks=LOOPBACK,
    )
    manager = LinkManager(configs, live=live, settings=settings)
    await manager.start()
    while not manager.all_up():  # noqa: ASYNC110 - waiting for the links is the setup
        await asyncio.sleep(0.05)
    return manager, specs


async def role_hub(a: argparse.Namespace) -> None:
    import uvicorn
    from argon2 import PasswordHasher

    from dashboards.app import create_app
    from dashboards.live_ws import SERVER_OPTIONS
    from dashboards.services import HubConfig
    from ops.hub import bootstrap, build_services
    from storage.admins import Role

    tmp = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    services = build_services(HubConfig(data_dir=tmp))
    assert services.links is not None
    services.on_start.remove(services.links.start)  # this process links on its own
    await bootstrap(services)
    fast = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    prov = load(a.members, a.venues)[0]
    await services.federation.create_member(
        None,
        parent_id=None,
        domain=prov.domain,
        display_name=prov.display_name,
        username=prov.username,
        password_hash=fast.hash(prov.password),
    )
    admin = await services.admins.create(
        "bench", fast.hash("Bench-Pass1"), Role.ADMIN, None, password_change_required=False
    )
    token, _ = await services.tokens.create(admin.id, "bench")
    hub = services.livehub
    assert hub is not None and services.live is not None
    # build_services already feeds the live hub from the live state: no second sink
    manager, specs = await _links(a, lambda deltas: None, services.live)
    hub.watch_links(manager)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(services),
            host="127.0.0.1",
            port=a.port,
            log_level="warning",
            lifespan="on",
            loop="uvloop",
            **SERVER_OPTIONS,
        )
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    watched = {
        "gc": gc_watch() if BENCH_GC else None,
        "event-loop stalls (at least N ms: how many)": lag_watch() if BENCH_LAG else None,
    }
    window = [False]

    def show_watched() -> None:
        """SIGUSR2 opens a measured window (forgets what came before) and closes it
        (prints what the hub saw in it), in turn."""
        for name, seen in watched.items():
            if seen is None:
                continue
            if window[0]:
                print(f"    hub {name}: {seen}", file=sys.stderr, flush=True)
            for k, v in seen.items():
                seen[k] = [0] * len(v) if isinstance(v, list) else 0
        window[0] = not window[0]

    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR2, show_watched)
    report_on_signal()
    say({"port": a.port, "token": token, "conference": specs[0].meeting})
    stdin = await stdin_lines()
    await stdin.readline()
    server.should_exit = True
    await serving
    await manager.stop()


def report_on_signal() -> None:
    """On ``SIGUSR1``: collect garbage, return the free heap to the system, and say what
    the process holds: RSS, and the heap in use (pymalloc's allocated blocks plus
    glibc's allocated bytes, so free pages and half-empty pools count for nothing)."""
    import ctypes
    import gc

    libc = ctypes.CDLL("libc.so.6")

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in MALLINFO2]

    libc.mallinfo2.restype = MallInfo2

    def report() -> None:
        gc.collect()
        libc.malloc_trim(0)
        info = libc.mallinfo2()
        heap = pymalloc_in_use() + info.uordblks + info.hblkhd
        say({"rss_kib": rss_kib(os.getpid()), "heap_kib": heap // 1024})

    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, report)


MALLINFO2 = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks")
MALLINFO2 += ("uordblks", "fordblks", "keepcost")


def pymalloc_in_use() -> int:
    """Bytes in pymalloc's allocated blocks (``sys._debugmallocstats`` prints them)."""
    with tempfile.TemporaryFile() as out:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(out.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        for line in out.read().decode().splitlines():
            if line.startswith("# bytes in allocated blocks"):
                return int(line.split("=")[1].replace(",", ""))
    return 0


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def lag_watch() -> dict[str, int]:
    """With ``BENCH_LAG=1``: how often the hub's event loop came back late to a 5 ms
    timer by at least 10, 25, 50 and 100 ms (whatever ran in between held it: every
    dashboard waited), and the longest. The timer itself wakes the hub 200 times a
    second: leave it off for the figures that are compared."""
    out = dict.fromkeys(("10", "25", "50", "100"), 0)
    out["max"] = 0

    async def watch() -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(0.005)
            late = (loop.time() - t - 0.005) * 1000
            for k in ("10", "25", "50", "100"):
                if late >= int(k):
                    out[k] += 1
            out["max"] = max(out["max"], round(late))

    asyncio.get_running_loop().create_task(watch())
    return out


def gc_watch() -> dict[str, Any]:
    """With ``BENCH_GC=1``: time spent in garbage collection, by generation."""
    import gc

    out: dict[str, Any] = {"runs": [0, 0, 0], "ms": [0.0, 0.0, 0.0], "max_ms": [0.0] * 3}
    started = [0.0]

    def cb(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        g, ms = info["generation"], (time.perf_counter() - started[0]) * 1000
        out["runs"][g] += 1
        out["ms"][g] = round(out["ms"][g] + ms, 1)
        out["max_ms"][g] = round(max(out["max_ms"][g], ms), 1)

    gc.callbacks.append(cb)
    return out


async def role_raw(a: argparse.Namespace) -> None:
    import orjson
    from websockets.asyncio.server import broadcast, serve

    from hub.cascade import VenueDelta

    clients: set[Any] = set()
    received = [0]

    def on_delta(deltas: list[Any]) -> None:
        received[0] += len(deltas)
        for d in deltas:
            if isinstance(d, VenueDelta) and d.venue is not None:
                frame = orjson.dumps(
                    {"member_id": d.member_id, "conference": d.conference, "venue": d.venue}
                ).decode()
                broadcast(clients, frame)

    async def handler(ws: Any) -> None:
        clients.add(ws)
        try:
            await ws.wait_closed()
        finally:
            clients.discard(ws)

    manager, _ = await _links(a, on_delta)
    async with serve(handler, "127.0.0.1", a.port, compression=None, max_size=2**20):
        report_on_signal()
        say({"port": a.port, "token": "", "conference": ""})
        stdin = await stdin_lines()
        await stdin.readline()
    print(f"raw server: {received[0]} deltas received", file=sys.stderr)
    await manager.stop()


async def role_clients(a: argparse.Namespace) -> None:
    from websockets.asyncio.client import connect

    specs = load(a.members, a.venues)
    marker = probe_marker(specs)
    seen: list[tuple[str, bool, float]] = []
    counts = {"frames": 0, "bytes": 0}
    hub = a.mode == "hub"
    headers = {"Authorization": f"Bearer {a.token}"} if hub else {}
    sub = json.dumps({"type": "subscribe", "id": "top", "member_id": 1, "conference": a.conference})

    async def one(ready: asyncio.Event) -> None:
        async with connect(
            a.url, additional_headers=headers, max_size=None, compression=None, open_timeout=300
        ) as ws:
            if hub and not os.environ.get("BENCH_NOSUB"):
                await ws.send(sub)
                await ws.recv(decode=False)  # the snapshot
            ready.set()
            last: dict[str, bool] = {}
            while True:
                msg = await ws.recv(decode=False)
                t = time.time()
                counts["frames"] += 1
                counts["bytes"] += len(msg)
                pos = msg.find(marker)
                while pos >= 0:
                    start = pos + 6
                    vid = msg[start : msg.index(b'"', start)].decode()
                    m = msg.find(b'"muted":', pos)
                    value = msg[m + 8 : m + 12] == b"true"
                    if last.get(vid) is not value:
                        last[vid] = value
                        seen.append((vid, value, t))
                    pos = msg.find(marker, pos + 1)

    tasks = []
    for batch in range(0, a.clients, 10):  # a few at a time: each snapshot is large
        events = [asyncio.Event() for _ in range(min(10, a.clients - batch))]
        tasks += [asyncio.create_task(one(e)) for e in events]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), 300)
    say({"connected": len(tasks)})
    stdin = await stdin_lines()
    while line := (await stdin.readline()).decode().strip():
        if line == "report":
            say({**counts, "seen": seen})
            seen.clear()
            counts.update(frames=0, bytes=0)
        else:
            break
    for t in tasks:
        t.cancel()


# -- the conductor ---------------------------------------------------------------------


class Child:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, *args: str) -> Child:
        return await cls.start_file(__file__, *args)

    @classmethod
    async def start_file(cls, script: str, *args: str) -> Child:
        """Run ``script`` with ``args`` in its own process (JSON lines on stdout)."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            script,
            *args,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=2**28,
        )
        return cls(proc)

    async def line(self, within: float = 600) -> dict[str, Any]:
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), within)
        if not raw:
            raise RuntimeError("a benchmark process ended early")
        return dict(json.loads(raw))

    def tell(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")

    def cpu(self) -> float:
        return sum(self.cpu_split())

    def cpu_split(self) -> tuple[float, float]:
        """CPU seconds in user space and in the kernel (socket writes land there)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK

    async def held(self, samples: int = 5) -> dict[str, int]:
        """RSS and heap in use after the server collected garbage (``SIGUSR1``): the
        least of ``samples`` readings 0.3 s apart, so the floor of what it holds, not
        the buffers its links happened to hold at one moment."""

        seen: list[dict[str, Any]] = []
        for _ in range(samples):
            self.proc.send_signal(signal.SIGUSR1)
            seen.append(await self.line(within=60))
            await asyncio.sleep(0.3)
        return {k: min(int(s[k]) for s in seen) for k in seen[0]}

    async def settle(self, within: float = 20.0) -> float:
        """Wait until RSS has not grown for 2 s (at most ``within``); the seconds taken."""
        t0 = time.perf_counter()
        seen = [self.rss_kib()]
        while time.perf_counter() - t0 < within:
            await asyncio.sleep(0.25)
            seen.append(self.rss_kib())
            if len(seen) > 8 and seen[-1] - seen[-9] < 64:
                break
        return time.perf_counter() - t0

    def rss_kib(self) -> int:
        return rss_kib(self.proc.pid)

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()


class Sampler:
    """With ``BENCH_PROFILE=DIR``, py-spy samples a process from ``start`` to ``stop``
    (collapsed stacks in DIR/NAME.txt, idle frames included); a no-op otherwise."""

    def __init__(self, proc: asyncio.subprocess.Process | None) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, pid: int, name: str) -> Sampler:
        out = os.environ.get("BENCH_PROFILE")
        if not out:
            return cls(None)
        Path(out).mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - before measuring
        beside = Path(sys.executable).with_name("py-spy")  # the venv's, else the PATH's
        proc = await asyncio.create_subprocess_exec(
            str(beside) if beside.exists() else "py-spy",
            "record",
            "-p",
            str(pid),
            "-r",
            "250",
            "--idle",
            "--format",
            "raw",
            "-o",
            str(Path(out) / f"{name}.txt"),
            "--nonblocking",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        return cls(proc)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            await self.proc.wait()


async def behind(target: str, port: int) -> int | None:
    """The hub's count of resnapshots (dashboards that fell behind), from /metrics."""
    if target != "hub":
        return None
    import urllib.request

    def read() -> int | None:
        url = f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(url, timeout=30) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("fedhub_resnapshots_total "):
                    return int(float(line.split()[1]))
        return None

    try:
        return await asyncio.to_thread(read)
    except OSError:
        return None


def pct(values: list[float], q: float) -> float | None:
    """The q-quantile, or None when no probe arrived in time (a saturated server)."""
    if not values:
        return None
    s = sorted(values)
    return round(s[min(len(s) - 1, int(q * len(s)))], 1)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def conduct(a: argparse.Namespace) -> dict[str, Any]:
    common = ["--members", str(a.members), "--venues", str(a.venues)]
    emu = await Child.start("--role", "emulator", *common)
    emissions: dict[str, list[tuple[float, bool]]] = {}
    results: dict[str, Any] = {}
    flooded: list[dict[str, float]] = []
    counted = asyncio.Event()
    try:
        port = (await emu.line())["port"]

        async def read_probes() -> None:
            while True:
                p = await emu.line(within=3600)
                if "events" in p:
                    flooded.append(p)
                    counted.set()
                    continue
                emissions.setdefault(p["p"], []).append((p["t"], p["v"]))

        reader = asyncio.create_task(read_probes())
        for target in a.servers:
            srv_port = free_port()
            t0 = time.perf_counter()
            srv = await Child.start(
                "--role", target, *common, "--emulator-port", str(port), "--port", str(srv_port)
            )
            ready = await srv.line()
            link_s = time.perf_counter() - t0
            settle_s = await srv.settle()
            scheme_path = "/ws/live" if target == "hub" else "/"

            dashboards = [
                *("--role", "clients", *common, "--mode", target),
                *("--url", f"ws://127.0.0.1:{srv_port}{scheme_path}", "--token", ready["token"]),
                *("--conference", ready["conference"], "--clients"),
            ]
            # The first dashboard pays for what is per conference, not per dashboard
            # (the hub builds the watched conference's control list on its first
            # subscription); the others' cost, per dashboard, is the figure compared.
            empty = await srv.held()
            first = await Child.start(*dashboards, "1")
            await first.line()
            held0 = await srv.held()
            cli = await Child.start(*dashboards, str(a.clients - 1))
            t1 = time.perf_counter()
            await cli.line()
            connect_s = time.perf_counter() - t1
            await asyncio.sleep(1.0)
            held1 = await srv.held()
            others = a.clients - 1
            per_rss = (held1["rss_kib"] - held0["rss_kib"]) / others
            per_heap = (held1["heap_kib"] - held0["heap_kib"]) / others
            first_heap = held0["heap_kib"] - empty["heap_kib"]
            print(
                f"{target}: {a.members} links up in {link_s:.1f} s (settled {settle_s:.1f} s); "
                f"the first dashboard: heap in use +{first_heap:,} KiB; {others} more "
                f"connected in {connect_s:.1f} s; per dashboard: "
                f"heap in use +{per_heap:.1f} KiB, RSS +{per_rss:.1f} KiB",
                flush=True,
            )
            results[target] = {
                "heap_kib_per_dashboard": round(per_heap, 1),
                "rss_kib_per_dashboard": round(per_rss, 1),
                "heap_kib_first_dashboard": first_heap,
                "rates": {},
            }
            for rate in a.rates:
                emu.tell("stop")
                await asyncio.sleep(0.3)
                flooded.clear()
                counted.clear()
                emu.tell(f"rate {rate}")
                await asyncio.sleep(a.warmup)
                cli.tell("report")  # forget the warm-up
                await cli.line()
                m0 = await behind(target, srv_port)
                w0, c0, e0, k0 = time.time(), srv.cpu(), emu.cpu(), cli.cpu()
                s0 = srv.cpu_split()[1]
                watching = target == "hub" and (BENCH_GC or BENCH_LAG)
                if watching:  # what the hub saw before this window: forgotten
                    srv.proc.send_signal(signal.SIGUSR2)
                spy = await Sampler.start(srv.proc.pid, f"{target}-{rate}")
                await asyncio.sleep(a.seconds)
                await spy.stop()
                if watching:  # what it saw in this window, on its stderr
                    print(f"  hub @ {rate}/s, while measured:", file=sys.stderr, flush=True)
                    srv.proc.send_signal(signal.SIGUSR2)
                w1, c1, e1, k1 = time.time(), srv.cpu(), emu.cpu(), cli.cpu()
                s1 = srv.cpu_split()[1]
                m1 = await behind(target, srv_port)
                emu.tell("stop")
                await asyncio.sleep(1.5)  # let the last frames arrive
                cli.tell("report")
                rep = await cli.line()
                lat = []
                for vid, value, t_arr in rep["seen"]:
                    sent = [t for t, v in emissions.get(vid, ()) if v is value and t <= t_arr]
                    if sent and w0 <= sent[-1] <= w1:
                        lat.append((t_arr - sent[-1]) * 1000)
                wall = w1 - w0
                await asyncio.wait_for(counted.wait(), 30)  # the emulator's count of this flood
                f = flooded[-1]
                emitted = f["events"] / f["seconds"] if f["seconds"] else 0.0
                row = {
                    "emitted_per_s": round(emitted),
                    "p50_ms": pct(lat, 0.5),
                    "p99_ms": pct(lat, 0.99),
                    "samples": len(lat),
                    "frames_per_s": round(rep["frames"] / (wall + 1.5)),
                    "mbytes_per_s": round(rep["bytes"] / (wall + 1.5) / 1e6, 2),
                    "server_cpu": round((c1 - c0) / wall, 2),
                    "server_kernel_cpu": round((s1 - s0) / wall, 2),
                    "emulator_cpu": round((e1 - e0) / wall, 2),
                    "clients_cpu": round((k1 - k0) / wall, 2),
                    "resnapshots": None if m0 is None or m1 is None else m1 - m0,
                }
                results[target]["rates"][str(rate)] = row
                print(
                    f"  {target} @ {rate}/s (emitted {row['emitted_per_s']}/s): p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms "
                    f"({row['samples']} samples); {row['frames_per_s']:,} frames/s, "
                    f"{row['mbytes_per_s']} MB/s; CPU: server {row['server_cpu']:.0%} "
                    f"({row['server_kernel_cpu']:.0%} in the kernel), "
                    f"emulator {row['emulator_cpu']:.0%}, clients {row['clients_cpu']:.0%}"
                    + (f"; {row['resnapshots']} resnapshots" if row["resnapshots"] else ""),
                    flush=True,
                )
            cli.tell("quit")
            first.tell("quit")
            srv.tell("quit")
            await cli.stop()
            await first.stop()
            try:
                await asyncio.wait_for(srv.proc.wait(), 30)
            except TimeoutError:  # a saturated server may never read its "quit"
                await srv.stop()
        reader.cancel()
        emu.tell("quit")
    finally:
        await emu.stop()
    goal_rate = "2000"
    for target in ("hub", "raw"):  # one left out with --servers
        results.setdefault(target, {"rates": {}})
    hub_mem = results["hub"].get("heap_kib_per_dashboard", 0)
    raw_mem = results["raw"].get("heap_kib_per_dashboard", 0)
    hub_rss = results["hub"].get("rss_kib_per_dashboard", 0)
    raw_rss = results["raw"].get("rss_kib_per_dashboard", 0)
    return {
        "bench": "fanout",
        "members": a.members,
        "venues": a.venues,
        "clients": a.clients,
        "hub": results["hub"],
        "raw": results["raw"],
        "memory_ratio": round(hub_mem / raw_mem, 2) if raw_mem > 0 else None,
        "rss_ratio": round(hub_rss / raw_rss, 2) if raw_rss > 0 else None,
        "goal": {
            "rate": 2000,
            "hub_p99_ms": results["hub"]["rates"].get(goal_rate, {}).get("p99_ms"),
            "raw_p99_ms": results["raw"]["rates"].get(goal_rate, {}).get("p99_ms"),
        },
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller federation, 2000/s only")
    ap.add_argument(
        "--rates", dest="rates_", default="", help="events/s to measure, e.g. 2000,5000"
    )
    ap.add_argument("--servers", default="hub,raw", help="which servers to measure")
    ap.add_argument("--role", default="conductor")
    ap.add_argument("--members", type=int, default=2000)
    ap.add_argument("--venues", type=int, default=10_000)
    ap.add_argument("--clients", type=int, default=500)
    ap.add_argument("--emulator-port", type=int, default=0)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--mode", default="hub")
    ap.add_argument("--url", default="")
    ap.add_argument("--token", default="")
    ap.add_argument("--conference", default="")
    a = ap.parse_args()
    import uvloop

    if a.role != "conductor":
        role = {
            "emulator": role_emulator,
            "hub": role_hub,
            "raw": role_raw,
            "clients": role_clients,
        }[a.role]
        uvloop.run(role(a))
        return
    if a.quick:
        a.members, a.venues, a.clients = 500, 2_500, 200
        a.rates, a.warmup, a.seconds = [2000], 1.5, 4.0
    else:
        a.rates, a.warmup, a.seconds = [1000, 2000, 5000], 2.0, 8.0
    if a.rates_:
        a.rates = [int(r) for r in a.rates_.split(",")]
    a.servers = a.servers.split(",")
    if not a.servers or not set(a.servers) <= {"hub", "raw"}:
        ap.error("--servers takes hub, raw or hub,raw")
    result = uvloop.run(conduct(a))
    result["quick"] = a.quick
    print(json.dumps(result))


if __name__ == "__main__":
    main()
