"""Benchmark of data-set sync: a full push of every data set, then 1,000 changes.

Run from the project root: ``python tests/bench/bench_sync.py [--quick]``.

The hub side is real: SQLite storage (``DataStore``, ``FederationStore``) and the
``SyncService``. The member servers are the emulator's member side (``MemberData``)
behind an in-memory link that encodes and decodes every frame with the link codec, so
bytes are the frames' real size; sockets are left out (bench_links measures those).
Every push is of all nine data sets, as the service does on its own: what is in step
is not sent. Members holding the same derived data set (the federation list, domains
and numbers are the same for all) share one copy of it in memory once it is applied:
the bench's only shortcut, each member still decodes and applies its own frames.

Figures: ``full_s`` / ``full_bytes`` — every member gets everything (first sync);
``full_account_bytes`` — the accounts' part of it; ``incremental_s`` /
``incremental_bytes`` — after ``changes`` accounts changed (spread over the members),
the push of just those (``*_cpu_s``: the same in CPU seconds); ``bytes_ratio`` = full / incremental and the stricter
``account_bytes_ratio`` = full accounts / incremental; ``bytes_per_change``;
``federation_change_bytes`` — one number range added: every member gets that one
item. Full: 100,000 accounts on 2,000 members, 1,000 changes; ``--quick``: 5,000 on
100, 50 changes (the same share, 1 %). ``setup_s`` (building the data) is in no
figure. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from controllers.messages import Sync, SyncAck, decode, encode  # noqa: E402
from emulator.sync import Held, MemberData  # noqa: E402
from hub.datasets import DERIVED, Dataset  # noqa: E402
from ops.sync import SyncService  # noqa: E402
from storage.datasets import ACCOUNTS, DataStore, Scope  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.federation_store import FederationStore  # noqa: E402

ACCOUNT_SET = Dataset.USER_ACCOUNTS.value


def cpu_s() -> float:
    """CPU seconds of this process, all threads (the machine may be shared: wall time
    says more about the neighbours then)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Links:
    """Members in memory; every frame goes through the codec both ways."""

    def __init__(self, members: list[int]) -> None:
        self.members = {m: MemberData() for m in members}
        self.acks: list[tuple[int, SyncAck]] = []
        self.bytes = 0
        self.frames = 0
        self.by_dataset: Counter[str] = Counter()
        self._shared: dict[tuple[str, int], Held] = {}

    def bound(self) -> list[int]:
        return list(self.members)

    def is_up(self, member_id: int) -> bool:
        return True

    async def send(self, member_id: int, message: Sync) -> None:
        frame = encode(message)
        self.bytes += len(frame)
        self.frames += 1
        self.by_dataset[message.dataset] += len(frame)
        received = decode(frame)
        assert isinstance(received, Sync)
        member = self.members[member_id]
        ack = member.apply(received)
        if ack is None:
            return
        self.acks.append((member_id, decode(encode(ack))))  # type: ignore[arg-type]
        if ack.ok and Dataset(ack.dataset) in DERIVED:  # one copy for all, once applied
            held = member.held[ack.dataset]
            shared = self._shared.setdefault((ack.dataset, held.version), held)
            assert len(shared.items) == len(held.items)
            member.held[ack.dataset] = shared

    def reset(self) -> None:
        self.bytes = self.frames = 0
        self.by_dataset.clear()


async def push_all(service: SyncService, links: Links, members: list[int]) -> None:
    for mid in members:
        await service.push(mid)
    # the acks arrive as the link delivers them: each handled in a task of its own
    await asyncio.gather(*(service.on_ack(mid, ack) for mid, ack in links.acks))
    links.acks.clear()


async def bench(n_members: int, per_member: int, changes: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database.open(f"sqlite+aiosqlite:///{tmp}/bench.db")
        await db.upgrade()
        federation, data = FederationStore(db), DataStore(db)
        t0 = time.perf_counter()
        prov = await federation.create_member(
            None,
            parent_id=None,
            domain="prov.gov",
            display_name="P",
            username="p",
            password_hash="x",
        )
        members = []
        for i in range(n_members):
            m = await federation.create_member(
                None,
                parent_id=prov.id,
                domain=f"m{i}.prov.gov",
                display_name=f"M{i}",
                username=f"m{i}",
                password_hash="x",
            )
            await federation.add_range(
                None, m.id, type="system_account", start=f"1{i:05d}0000", end=f"1{i:05d}8999"
            )
            members.append(m.id)
        view = await federation.current()
        scope = Scope(view.federation, view.plan, None)
        ids: list[tuple[int, int]] = []
        for i, mid in enumerate(members):
            rows = [
                (
                    {
                        "kind": "user",
                        "number": f"1{i:05d}{n:04d}",
                        "name": f"u{i}-{n}",
                        "display_name": f"User {n} of member {i}",
                    },
                    "Dev1ce-Secret!",
                )
                for n in range(per_member)
            ]
            ids += [(mid, r.id) for r in await data.create_many(scope, ACCOUNTS, mid, rows)]
        setup_s = time.perf_counter() - t0

        links = Links(members)
        service = SyncService(data, federation, links, loop_time=time.monotonic)
        data.on_change(service.changed)
        federation.on_change(service.federation_changed)
        await service.load()
        t0, c0 = time.perf_counter(), cpu_s()
        await push_all(service, links, members)
        full_s, full_cpu_s = time.perf_counter() - t0, cpu_s() - c0
        full_bytes, full_frames = links.bytes, links.frames
        full_by_dataset = dict(links.by_dataset)
        assert all(len(m.items(ACCOUNT_SET)) == per_member for m in links.members.values())
        assert all(len(m.items("federation")) == n_members + 1 for m in links.members.values())
        assert service.unsynced() == {}

        rng = random.Random(7)
        for mid, item in rng.sample(ids, changes):
            await data.update(scope, ACCOUNTS, mid, item, {"display_name": "Changed"})
        links.reset()
        t0, c0 = time.perf_counter(), cpu_s()
        await push_all(service, links, service.pending_members())
        incremental_s, incremental_cpu_s = time.perf_counter() - t0, cpu_s() - c0
        incremental_bytes, incremental_frames = links.bytes, links.frames
        assert set(links.by_dataset) == {ACCOUNT_SET}, links.by_dataset  # only what changed
        changed = sum(
            1
            for m in links.members.values()
            for i in m.items(ACCOUNT_SET).values()
            if i["display_name"] == "Changed"
        )
        assert changed == changes, changed

        await federation.add_range(
            None, members[0], type="vmr", start="1000009000", end="1000009999"
        )
        links.reset()
        t0 = time.perf_counter()
        await push_all(service, links, service.pending_members())
        federation_change_s = time.perf_counter() - t0
        assert set(links.by_dataset) == {"numbers"} and links.frames == n_members
        federation_change_bytes = links.bytes
        assert service.unsynced() == {}
        await db.close()
    account_bytes = full_by_dataset[ACCOUNT_SET]
    return {
        "bench": "sync",
        "members": n_members,
        "accounts": n_members * per_member,
        "changes": changes,
        "setup_s": round(setup_s, 2),
        "full_s": round(full_s, 3),
        "incremental_s": round(incremental_s, 3),
        "full_cpu_s": round(full_cpu_s, 3),
        "incremental_cpu_s": round(incremental_cpu_s, 3),
        "full_bytes": full_bytes,
        "full_account_bytes": account_bytes,
        "full_frames": full_frames,
        "incremental_bytes": incremental_bytes,
        "incremental_frames": incremental_frames,
        "bytes_per_change": round(incremental_bytes / changes, 1),
        "bytes_ratio": round(full_bytes / max(incremental_bytes, 1), 1),
        "account_bytes_ratio": round(account_bytes / max(incremental_bytes, 1), 1),
        "time_ratio": round(full_s / max(incremental_s, 1e-9), 1),
        "federation_change_s": round(federation_change_s, 3),
        "federation_change_bytes": federation_change_bytes,
        "full_bytes_by_dataset": full_by_dataset,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--members", type=int, help="instead of the scale's own")
    parser.add_argument("--changes", type=int, help="instead of the scale's own")
    args = parser.parse_args()
    quick = args.quick
    members, per_member, changes = (100, 50, 50) if quick else (2000, 50, 1000)
    members, changes = args.members or members, args.changes or changes
    result = asyncio.run(bench(members, per_member, changes))
    result.update(python=sys.version.split()[0], quick=quick)
    for key, value in result.items():
        print(f"{key:>18}: {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
