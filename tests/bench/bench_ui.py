"""Benchmark of the conference control page in Chromium under live load.

Run from the project root: ``python tests/bench/bench_ui.py [--quick]``.

The load and the hub are bench_fanout's (its ``emulator`` and ``hub`` roles, each in
its own process): a federation of N members and 10,000 venues cascaded into the
province's meeting, flooded with mute / camera / quality events at R per second, and
one probe venue of the last members toggled every 50 ms with its emission time
printed. Debian's Chromium (Playwright) logs in, opens the province conference's
control page and scrolls to the end of the list, where the probe members' venues are.

Figures for S seconds of load: main-thread busy fraction (Chrome DevTools Performance
metrics: TaskDuration over wall time), event → DOM latency p50/p99 (a probe's emission
→ the moment its row's ``data-muted`` hook changes, seen by a MutationObserver), the
page's own share of it (the last /ws/live frame's arrival → the DOM change), frames
per second, the JS heap, rows in the DOM. Goal: p99 < 250 ms, main thread < 50 % busy. Last line: JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

_spec = importlib.util.spec_from_file_location("bench_fanout", ROOT / "tests/bench/bench_fanout.py")
assert _spec and _spec.loader
fanout = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fanout)

FRAMES = """(() => {
  // arrival time of every /ws/live frame, to split the latency into hub and page parts
  window.__frames = [];
  const Orig = window.WebSocket;
  window.WebSocket = class extends Orig {
    set onmessage(fn) {
      super.onmessage = (ev) => {
        window.__frames.push(performance.timeOrigin + performance.now());
        if (window.__frames.length > 200000) window.__frames.splice(0, 100000);
        fn(ev);
      };
    }
  };
})();"""

OBSERVE = """() => {
  window.__probe = [];
  const list = document.getElementById('venues');
  new MutationObserver((records) => {
    const t = performance.timeOrigin + performance.now();
    for (const r of records) {
      const el = r.target;
      if (r.attributeName === 'data-muted' && el.dataset.venue) {
        window.__probe.push([el.dataset.venue.split('/').slice(2).join('/'), el.dataset.muted === 'true', t / 1000]);
      }
    }
  }).observe(list, { attributes: true, subtree: true, attributeFilter: ['data-muted'] });
}"""


def pct(values: list[float], q: float) -> float | None:
    return fanout.pct(values, q)


async def measure(a: argparse.Namespace) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    common = ["--members", str(a.members), "--venues", str(a.venues)]
    emu = await fanout.Child.start_file(
        str(ROOT / "tests/bench/bench_fanout.py"), "--role", "emulator", *common
    )
    emissions: dict[str, list[tuple[float, bool]]] = {}
    hub = None
    try:
        port = (await emu.line())["port"]

        async def read_probes() -> None:
            while True:
                p = await emu.line(within=3600)
                if "p" in p:
                    emissions.setdefault(p["p"], []).append((p["t"], p["v"]))

        reader = asyncio.create_task(read_probes())
        hub_port = fanout.free_port()
        t0 = time.perf_counter()
        hub = await fanout.Child.start_file(
            str(ROOT / "tests/bench/bench_fanout.py"),
            "--role",
            "hub",
            *common,
            "--emulator-port",
            str(port),
            "--port",
            str(hub_port),
        )
        ready = await hub.line()
        link_s = time.perf_counter() - t0
        base = f"http://127.0.0.1:{hub_port}"
        async with async_playwright() as p:
            browser = await p.chromium.launch(
                executable_path=shutil.which("chromium"),
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                ],
            )
            ctx = await browser.new_context(base_url=base, viewport={"width": 1400, "height": 2400})
            page = await ctx.new_page()
            await page.add_init_script(FRAMES)
            await page.goto("/")
            await page.fill('input[name="username"]', "bench")
            await page.fill('input[name="password"]', "Bench-Pass1")
            await page.click('button[type="submit"]')
            await page.wait_for_url("**/topology")
            await page.goto(f"/conferences/1/{ready['conference']}")
            await page.locator('#conn[data-state="open"]').wait_for(timeout=120_000)
            await page.wait_for_function(
                f"document.querySelector('#counts')?.textContent.includes('{a.venues:,}')"
                f" || document.querySelectorAll('.vrow[data-venue]').length > 0",
                timeout=120_000,
            )
            await page.evaluate("document.getElementById('venues').scrollTop = 1e9")
            await page.evaluate(OBSERVE)
            cdp = await ctx.new_cdp_session(page)
            await cdp.send("Performance.enable")
            emu.tell(f"rate {a.rate}")
            await asyncio.sleep(a.warmup)
            await page.evaluate("window.__probe = []")
            m0 = {
                m["name"]: m["value"] for m in (await cdp.send("Performance.getMetrics"))["metrics"]
            }
            w0 = time.time()
            await asyncio.sleep(a.seconds)
            m1 = {
                m["name"]: m["value"] for m in (await cdp.send("Performance.getMetrics"))["metrics"]
            }
            wall = time.time() - w0
            seen = await page.evaluate("window.__probe")
            frames = await page.evaluate("window.__frames")
            rows = await page.evaluate(
                "document.querySelectorAll('.vrow[data-venue]:not([hidden])').length"
            )
            total = await page.evaluate("document.getElementById('counts').textContent")
            emu.tell("stop")
            await browser.close()
        reader.cancel()
    finally:
        if hub is not None:
            hub.tell("quit")
            await hub.stop()
        emu.tell("quit")
        await emu.stop()
    # match each DOM change to the latest emission of that state before it
    lat: list[float] = []
    for vid, muted, t in seen:
        before = [e for e in emissions.get(vid, []) if e[1] == muted and e[0] <= t]
        if before:
            lat.append((t - before[-1][0]) * 1000)
    # the page's own share: the frame that carried the change → the DOM attribute
    import bisect

    arrivals = sorted(f / 1000 for f in frames)
    page_ms: list[float] = []
    for _vid, _muted, t in seen:
        i = bisect.bisect_right(arrivals, t) - 1
        if i >= 0:
            page_ms.append((t - arrivals[i]) * 1000)
    busy = (m1.get("TaskDuration", 0) - m0.get("TaskDuration", 0)) / wall
    return {
        "members": a.members,
        "venues": a.venues,
        "rate": a.rate,
        "seconds": round(wall, 1),
        "links_up_s": round(link_s, 1),
        "rows_in_dom": rows,
        "counts": total,
        "probe_samples": len(lat),
        "dom_p50_ms": None if not lat else round(pct(lat, 0.5) or 0, 1),
        "dom_p99_ms": None if not lat else round(pct(lat, 0.99) or 0, 1),
        "page_p50_ms": None if not page_ms else round(pct(page_ms, 0.5) or 0, 1),
        "page_p99_ms": None if not page_ms else round(pct(page_ms, 0.99) or 0, 1),
        "frames_per_s": round(len([f for f in arrivals if f >= w0]) / wall, 1),
        "main_thread_busy": round(busy, 3),
        "script_s_per_s": round(
            (m1.get("ScriptDuration", 0) - m0.get("ScriptDuration", 0)) / wall, 3
        ),
        "layout_s_per_s": round(
            (m1.get("LayoutDuration", 0) - m0.get("LayoutDuration", 0)) / wall, 3
        ),
        "js_heap_mb": round(m1.get("JSHeapUsedSize", 0) / 2**20, 1),
        "goal": {"dom_p99_ms": 250, "main_thread_busy": 0.5},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer members, 8 s of load")
    ap.add_argument("--members", type=int, default=2000)
    ap.add_argument("--venues", type=int, default=10_000)
    ap.add_argument("--rate", type=int, default=2000)
    a = ap.parse_args()
    if a.quick:
        a.members, a.warmup, a.seconds = 500, 2.0, 8.0
    else:
        a.warmup, a.seconds = 3.0, 30.0
    import uvloop

    result = uvloop.run(measure(a))
    result["quick"] = a.quick
    for k, v in result.items():
        print(f"{k:>20}: {v}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
