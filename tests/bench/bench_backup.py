"""Benchmark of backups and restores, and of what a running backup costs the hub's API.

Run from the project root: ``python tests/bench/bench_backup.py [--quick]``.

For each database (SQLite, and PostgreSQL when ``FEDHUB_TEST_PG_URL`` is set): a
federation of 2,000 members, 100,000 number ranges and 1,000,000 audit rows (``--quick``:
200 / 5,000 / 10,000) is written into a fresh database; a real hub (``fedhub serve``,
its own process) serves it. Figures:

* ``api_idle_p50_ms`` / ``api_idle_p99_ms``: ``GET /api/v1/members/1`` latency with
  nothing else running;
* ``api_during_backup_p50_ms`` / ``..._p99_ms``: the same requests, same run, while the
  hub makes a backup (``POST /api/v1/backups``);
* ``backup_seconds`` / ``archive_bytes``: that backup, end to end, and its size;
  ``sealed_backup_seconds`` / ``sealed_archive_bytes``: the same encrypted;
* ``restore_seconds``: verifying and restoring the archive into another data directory
  (and, on PostgreSQL, another database) with the hub stopped; row counts are checked.

Prints human-readable lines, then one JSON object with all figures as the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from ops.backup import Backups, Target, restore  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import AuditRow, MemberRow, NumberRangeRow  # noqa: E402
from tests.ops.serving import Serving  # noqa: E402
from tests.support.federation_data import seed  # noqa: E402

PG_URL = os.environ.get("FEDHUB_TEST_PG_URL", "")


def pg_admin(sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def fresh_url(dialect: str, data: Path) -> tuple[str, str | None]:
    if dialect == "sqlite":
        return f"sqlite+aiosqlite:///{data / 'fedhub.db'}", None
    name = "fedhub_bench_" + secrets.token_hex(4)
    pg_admin(f'CREATE DATABASE "{name}"')
    return PG_URL.rpartition("/")[0] + "/" + name, name


async def prepare(url: str, members: int, ranges: int, audit: int) -> float:
    db = Database.open(url)
    try:
        await db.upgrade()
        t0 = time.perf_counter()
        await seed(db, members=members, ranges=ranges, audit=audit)
        return time.perf_counter() - t0
    finally:
        await db.close()


async def counts(url: str) -> tuple[int, int, int]:
    db = Database.open(url)
    try:
        async with db.session() as s:
            return tuple(  # type: ignore[return-value]
                [
                    (await s.execute(select(func.count()).select_from(m))).scalar() or 0
                    for m in (MemberRow, NumberRangeRow, AuditRow)
                ]
            )
    finally:
        await db.close()


def sample(c: httpx.Client, until: threading.Event | None, n: int) -> list[float]:
    out = []
    while (until is None and len(out) < n) or (until is not None and not until.is_set()):
        t0 = time.perf_counter()
        r = c.get("/members/1")
        out.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, r.text
    return out


def pct(xs: list[float], q: float) -> float:
    if len(xs) < 2:
        return round(xs[0], 2) if xs else float("nan")
    return round(statistics.quantiles(xs, n=100, method="inclusive")[int(q) - 1], 2)


def bench(dialect: str, members: int, ranges: int, audit: int, idle_n: int) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="fedhub-bench-"))
    data, other = tmp / "data", tmp / "restored"
    data.mkdir()
    url, pg_name = fresh_url(dialect, data)
    other_url, other_name = (
        fresh_url(dialect, other)
        if dialect != "sqlite"
        else (f"sqlite+aiosqlite:///{other / 'fedhub.db'}", None)
    )
    out: dict[str, object] = {"dialect": dialect}
    try:
        out["seed_seconds"] = round(asyncio.run(prepare(url, members, ranges, audit)), 2)
        hub = Serving(data, "--db-url", url, "--log-level", "warning", timeout=120)
        try:
            hub.wait_ready()  # the ready line: the socket listens
            c = hub.admin()
            c.timeout = httpx.Timeout(3600)
            sample(c, None, 20)  # warm up
            idle = sample(c, None, idle_n)
            done = threading.Event()
            result: dict[str, object] = {}

            c2 = hub.admin()
            c2.timeout = httpx.Timeout(3600)

            def make_backup() -> None:
                try:
                    t0 = time.perf_counter()
                    r = c2.post("/backups", json={"name": "bench"})
                    assert r.status_code == 202, r.text  # a job: wait for its end
                    while (r := c2.get(f"/jobs/{r.json()['id']}?wait=60")).json()[
                        "state"
                    ] == "running":
                        pass
                    result["seconds"] = time.perf_counter() - t0
                    result["response"] = r
                finally:
                    done.set()

            th = threading.Thread(target=make_backup)
            th.start()
            during = sample(c, done, 0)
            th.join()
            c2.close()
            r = result["response"]
            assert r.json()["state"] == "done", r.text  # type: ignore[attr-defined]
            out["backup_seconds"] = round(float(result["seconds"]), 2)  # type: ignore[arg-type]
            out["archive_bytes"] = r.json()["result"]["size"]  # type: ignore[attr-defined]
            out["api_idle_p50_ms"] = pct(idle, 50)
            out["api_idle_p99_ms"] = pct(idle, 99)
            out["api_during_backup_p50_ms"] = pct(during, 50)
            out["api_during_backup_p99_ms"] = pct(during, 99)
            out["api_samples_idle"] = len(idle)
            out["api_samples_during_backup"] = len(during)
            c.close()
        finally:
            hub.stop()

        async def sealed() -> tuple[float, int]:
            db = Database.open(url)
            try:
                t0 = time.perf_counter()
                e = await Backups(Target(data, url), db, "bench").create(
                    "bench-sealed", "a bench passphrase"
                )
                return time.perf_counter() - t0, int(e["size"])
            finally:
                await db.close()

        secs, size = asyncio.run(sealed())
        out["sealed_backup_seconds"] = round(secs, 2)
        out["sealed_archive_bytes"] = size
        t0 = time.perf_counter()
        asyncio.run(restore(data / "backups" / "bench.fedhub-backup", Target(other, other_url)))
        out["restore_seconds"] = round(time.perf_counter() - t0, 2)
        got, want = asyncio.run(counts(other_url)), asyncio.run(counts(url))
        # the hub audits the backup (and later logins) after the copy: audit may lag
        assert got[:2] == want[:2] and audit <= got[2] <= want[2], (got, want)
        out["rows"] = {"members": got[0], "ranges": got[1], "audit": got[2]}
    finally:
        for name in (pg_name, other_name):
            if name:
                pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        subprocess.run(["rm", "-rf", str(tmp)], check=False)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="200 / 5,000 / 10,000 rows (< 1 min)")
    args = ap.parse_args()
    size = (200, 5_000, 10_000, 100) if args.quick else (2_000, 100_000, 1_000_000, 1000)
    dialects = ["sqlite"] + (["postgresql"] if PG_URL else [])
    results = []
    for d in dialects:
        r = bench(d, *size)
        results.append(r)
        print(
            f"{d}: seed {r['seed_seconds']} s; backup {r['backup_seconds']} s, "
            f"{r['archive_bytes']:,} bytes (sealed {r['sealed_backup_seconds']} s, "
            f"{r['sealed_archive_bytes']:,} bytes); restore {r['restore_seconds']} s; "
            f"API p50/p99 idle {r['api_idle_p50_ms']}/{r['api_idle_p99_ms']} ms, during "
            f"backup {r['api_during_backup_p50_ms']}/{r['api_during_backup_p99_ms']} ms "
            f"({r['api_samples_during_backup']} samples)",
            flush=True,
        )
    if not PG_URL:
        print("PostgreSQL skipped: set FEDHUB_TEST_PG_URL", flush=True)
    print(
        json.dumps(
            {
                "bench": "backup",
                "quick": args.quick,
                "members": size[0],
                "ranges": size[1],
                "audit_rows": size[2],
                "python": platform.python_version(),
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
