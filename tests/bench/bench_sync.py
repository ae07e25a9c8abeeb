"""Benchmark of data-set sync: a full push of every account, then 1,000 changes.

Run from the project root: ``python tests/bench/bench_sync.py [--quick]``.

The hub side is real: SQLite storage (``DataStore``, ``FederationStore``) and the
``SyncService``. The member servers are the emulator's member side (``MemberData``)
behind an in-memory link that encodes and decodes every frame with the link codec, so
bytes are the frames' real size; sockets are left out (bench_links measures those).
Only the ``user_accounts`` data set is pushed: the accounts are what scales.

Figures: ``full_s`` / ``full_bytes`` — every member gets all its accounts (first
sync); ``incremental_s`` / ``incremental_bytes`` — after ``changes`` accounts changed
(spread over the members), the push of just those. Full: 100,000 accounts on 2,000
members, 1,000 changes; ``--quick``: 5,000 on 100, 500 changes (so its ratios are
about 10, not 100). ``setup_s`` (building the data) is not part of either figure. The
last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from controllers.messages import Sync, SyncAck, decode, encode  # noqa: E402
from emulator.sync import MemberData  # noqa: E402
from hub.datasets import Dataset  # noqa: E402
from ops.sync import SyncService  # noqa: E402
from storage.datasets import ACCOUNTS, DataStore, Scope  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.federation_store import FederationStore  # noqa: E402

DATASET = Dataset.USER_ACCOUNTS


class Links:
    """Members in memory; every frame goes through the codec both ways."""

    def __init__(self, members: list[int]) -> None:
        self.members = {m: MemberData() for m in members}
        self.acks: list[tuple[int, SyncAck]] = []
        self.bytes = 0

    def bound(self) -> list[int]:
        return list(self.members)

    def is_up(self, member_id: int) -> bool:
        return True

    async def send(self, member_id: int, message: Sync) -> None:
        frame = encode(message)
        self.bytes += len(frame)
        received = decode(frame)
        assert isinstance(received, Sync)
        ack = self.members[member_id].apply(received)
        self.acks.append((member_id, decode(encode(ack))))  # type: ignore[arg-type]


async def push_all(service: SyncService, links: Links, members: list[int]) -> None:
    for mid in members:
        await service.push(mid, [DATASET])
    for mid, ack in links.acks:
        await service.on_ack(mid, ack)
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
                None, m.id, type="system_account", start=f"1{i:05d}0000", end=f"1{i:05d}9999"
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
        await service.load()
        t0 = time.perf_counter()
        await push_all(service, links, members)
        full_s = time.perf_counter() - t0
        full_bytes = links.bytes
        assert all(len(m.items(DATASET)) == per_member for m in links.members.values())

        rng = random.Random(7)
        for mid, item in rng.sample(ids, changes):
            await data.update(scope, ACCOUNTS, mid, item, {"display_name": "Changed"})
        links.bytes = 0
        t0 = time.perf_counter()
        await push_all(service, links, service.pending_members())
        incremental_s = time.perf_counter() - t0
        incremental_bytes = links.bytes
        changed = sum(
            1
            for m in links.members.values()
            for i in m.items(DATASET).values()
            if i["display_name"] == "Changed"
        )
        assert changed == changes, changed
        await db.close()
    return {
        "bench": "sync",
        "members": n_members,
        "accounts": n_members * per_member,
        "changes": changes,
        "setup_s": round(setup_s, 2),
        "full_s": round(full_s, 3),
        "incremental_s": round(incremental_s, 3),
        "full_bytes": full_bytes,
        "incremental_bytes": incremental_bytes,
        "bytes_ratio": round(full_bytes / max(incremental_bytes, 1), 1),
        "time_ratio": round(full_s / max(incremental_s, 1e-9), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    quick = parser.parse_args().quick
    members, per_member, changes = (100, 50, 500) if quick else (2000, 50, 1000)
    result = asyncio.run(bench(members, per_member, changes))
    result.update(python=sys.version.split()[0], quick=quick)
    for key, value in result.items():
        print(f"{key:>18}: {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
