"""A federation of a given size written straight into storage, for backup tests and
benchmarks: members in a 5-level tree, non-overlapping number ranges, audit rows.

Rows go in with bulk INSERTs (the domain rules are satisfied by construction: unique
domains and usernames, ranges on disjoint number blocks), so a million audit rows take
seconds, not the hours the API would.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, text, update

from hub.federation import Member
from storage.db import Database
from storage.federation_store import FederationStore
from storage.models import (
    AuditRow,
    FederationRevision,
    MemberRow,
    NumberRangeRow,
    SettingsRow,
)

BATCH = 5_000
FANOUT = 7


async def seed(db: Database, *, members: int, ranges: int, audit: int) -> None:
    """Fill an upgraded, empty database."""
    now = datetime.now(UTC)
    rows = []
    for i in range(1, members + 1):
        # breadth first, 7 children each: 2,801 members fit in the 5 levels
        parent = None if i == 1 else (i - 2) // FANOUT + 1
        level = 1 if parent is None else rows[parent - 1]["level"] + 1
        if level > 5:
            raise ValueError(f"{members} members do not fit in 5 levels of {FANOUT}")
        rows.append(
            {
                "id": i,
                "parent_id": parent,
                "level": level,
                "domain": f"m{i}.example.gov",
                "display_name": f"Member {i} 成员",
                "username": f"m{i}",
                "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
                "remark": "",
                "created_at": now,
                "updated_at": now,
            }
        )
    async with db.session() as s:
        for at in range(0, len(rows), BATCH):
            await s.execute(insert(MemberRow), rows[at : at + BATCH])
        if db.dialect == "postgresql":  # ids were given: move the sequence past them
            await s.execute(
                text("SELECT setval(pg_get_serial_sequence('members', 'id'), :n)"), {"n": members}
            )
    # ranges: 8-digit numbers, each range its own block of 100
    batch = []
    for r in range(ranges):
        lo = 10_000_000 + r * 100
        batch.append(
            {
                "member_id": (r % members) + 1,
                "type": "general_meeting",
                "start": str(lo),
                "end": str(lo + 49),
                "length": 8,
                "start_value": lo,
                "end_value": lo + 49,
                "remark": "",
                "created_at": now,
            }
        )
        if len(batch) == BATCH:
            await _insert(db, NumberRangeRow, batch)
            batch = []
    if batch:
        await _insert(db, NumberRangeRow, batch)
    batch = []
    for a in range(audit):
        batch.append(
            {
                "at": now - timedelta(seconds=audit - a),
                "admin_id": 1,
                "admin_name": "admin",
                "member_id": (a % members) + 1,
                "source_ip": "192.0.2.7",
                "action": "member.update",
                "target": f"member:{(a % members) + 1}",
                "result": "ok",
                "reason": "",
                "details": '{"display_name":"x"}',
            }
        )
        if len(batch) == BATCH:
            await _insert(db, AuditRow, batch)
            batch = []
    if batch:
        await _insert(db, AuditRow, batch)
    async with db.session() as s:
        await s.execute(update(FederationRevision).values(value=FederationRevision.value + 1))
        s.add(SettingsRow(key="redirect", value='{"enabled": true}', revision=1, updated_at=now))


async def _insert(db: Database, model: type, batch: list[dict[str, object]]) -> None:
    async with db.session() as s:
        await s.execute(insert(model), batch)


async def province_and_city(federation: FederationStore) -> tuple[Member, Member]:
    """The smallest federation with a member below another: ``prov.gov`` and, under it,
    ``c1.prov.gov`` (through the store, with its rules)."""
    prov = await federation.create_member(
        None, parent_id=None, domain="prov.gov", display_name="P", username="p", password_hash="x"
    )
    city = await federation.create_member(
        None,
        parent_id=prov.id,
        domain="c1.prov.gov",
        display_name="C",
        username="c",
        password_hash="x",
    )
    return prov, city
