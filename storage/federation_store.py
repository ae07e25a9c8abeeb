"""Members and number ranges: stored in the database, checked by the pure core.

Each node keeps the whole federation (tree + number plan + server addresses) in memory
as a :class:`FederationView`: an immutable snapshot of one committed revision. A change
runs in one transaction that first bumps the revision — that UPDATE is the lock
serializing every change across nodes (a row lock on PostgreSQL, the write lock on
SQLite) — reloads the snapshot if another node moved the revision, and takes a draft
(copy-on-write copies of the tree, the plan and the servers, sharing structure with the
snapshot). The pure core checks the change on the draft, the change is written and the
draft changed; only once the transaction has committed is the draft frozen and published
as the next snapshot. A failure anywhere drops the draft: the published snapshot, and
everything built from it (the SIP routing table), never saw the change.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar

from immutables import Map
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.federation import Federation, FederationError, Member
from hub.numbering import NumberPlan, NumberRange, RangeConflict, RangeType
from storage.db import Database
from storage.models import (
    AdminRow,
    AuditRow,
    FederationRevision,
    MemberRow,
    NumberRangeRow,
    utcnow,
)

log = logging.getLogger("fedhub.federation")

MEMBER_FIELDS = (
    "domain",
    "display_name",
    "username",
    "remark",
    "server_url",
    "sip_host",
    "sip_port",
)


@dataclass(frozen=True)
class FederationView:
    """The federation as of one committed revision: never changes once handed out.

    ``federation`` and ``plan`` are frozen (their mutators raise), ``servers`` is an
    immutable mapping. Hold a view as long as you like; ask ``current()`` for a newer one.
    """

    revision: int
    federation: Federation
    plan: NumberPlan
    servers: Map[int, MemberServerInfo]


@dataclass(frozen=True)
class MemberServerInfo:
    """Where a member's conference server is reached (None until it is bound)."""

    server_url: str | None
    sip_host: str | None
    sip_port: int | None


@dataclass(frozen=True)
class BoundMember:
    """A member whose conference server is bound: what a link to it needs."""

    member_id: int
    domain: str
    server_url: str
    username: str
    password_hash: str


ChangeListener = Callable[[], Awaitable[None]]


@dataclass
class _Draft:
    """A change in progress: its transaction and private copies of the snapshot's parts."""

    session: AsyncSession
    base: FederationView
    federation: Federation
    plan: NumberPlan
    servers: dict[int, MemberServerInfo]
    dialect: str

    @classmethod
    def of(cls, session: AsyncSession, base: FederationView, dialect: str) -> _Draft:
        federation = base.federation.copy()
        plan = base.plan.copy(lineage=federation)  # the draft's checks see the draft tree
        return cls(session, base, federation, plan, dict(base.servers), dialect)

    def publish(self, revision: int) -> FederationView:
        return FederationView(
            revision, self.federation.freeze(), self.plan.freeze(), Map(self.servers)
        )


# -- checked steps -------------------------------------------------------------
# Each change is one step on a draft; the store runs it as a change of its own, a batch
# runs many on one draft. The step is the only place its checks and writes are written.

P = ParamSpec("P")
R = TypeVar("R")


def _one_change(
    step: Callable[Concatenate[_Draft, P], Awaitable[R]],
) -> Callable[Concatenate[FederationStore, P], Awaitable[R]]:
    """The store's method for ``step``: the step alone, as one change."""

    @functools.wraps(step)
    async def method(store: FederationStore, /, *args: P.args, **kw: P.kwargs) -> R:
        async with store._change() as d:
            return await step(d, *args, **kw)

    return method


def _in_batch(
    step: Callable[Concatenate[_Draft, P], Awaitable[R]],
) -> Callable[Concatenate[FederationBatch, P], Awaitable[R]]:
    """The batch's method for ``step``: the step on the batch's draft."""

    @functools.wraps(step)
    async def method(batch: FederationBatch, /, *args: P.args, **kw: P.kwargs) -> R:
        return await step(batch._draft, *args, **kw)

    return method


async def _fresh_member_id(d: _Draft) -> int | None:
    """An id no member ever had, or ``None`` to let the database choose.

    PostgreSQL's sequence never hands an id out twice. SQLite (without AUTOINCREMENT)
    reuses the highest id once that member is deleted, and the audit log, scoped by
    member id, would then show the new member the old one's history; so on SQLite the
    next id is past every member id the audit log has ever recorded too.
    """
    if d.dialect != "sqlite":
        return None
    live = (await d.session.execute(select(func.max(MemberRow.id)))).scalar() or 0
    logged = (await d.session.execute(select(func.max(AuditRow.member_id)))).scalar() or 0
    return max(live, logged) + 1


async def _create_member(
    d: _Draft,
    scope: int | None,
    *,
    parent_id: int | None,
    domain: str,
    display_name: str,
    username: str,
    password_hash: str,
    remark: str = "",
    server_url: str | None = None,
    sip_host: str | None = None,
    sip_port: int | None = None,
) -> Member:
    """Add a member under ``parent_id`` (which must be in ``scope``)."""
    fed = d.federation
    if parent_id is None:
        if scope is not None:
            raise FederationError(
                "outside_scope", "only a federation-wide admin can create the province"
            )
    else:
        fed.require_within(scope, parent_id)
    level = fed.level_for_parent(parent_id)
    probe = Member(-1, parent_id, level, domain, display_name, username, remark)
    fed.check_domain(scope, probe.domain)
    fed.check_add(probe, scope)
    now = utcnow()
    row = MemberRow(
        id=await _fresh_member_id(d),
        parent_id=parent_id,
        level=level,
        domain=probe.domain,
        display_name=probe.display_name,
        username=probe.username,
        password_hash=password_hash,
        remark=remark,
        server_url=server_url,
        sip_host=sip_host,
        sip_port=sip_port,
        created_at=now,
        updated_at=now,
    )
    d.session.add(row)
    await d.session.flush()
    member = _with_id(probe, row.id)
    fed.add(member)
    d.servers[row.id] = MemberServerInfo(server_url, sip_host, sip_port)
    return member


async def _add_range(
    d: _Draft,
    scope: int | None,
    member_id: int,
    *,
    type: str,
    start: str,
    end: str,
    remark: str = "",
    max_size: int | None = None,
) -> NumberRange:
    """An admin of ``scope`` gives a member numbers (see ``NumberPlan.check_grant``):
    from above, out of a block its subtree holds (the federation-wide admin also from
    free space), at most ``max_size`` numbers for a scoped admin. A clash with a range
    outside ``scope`` says only that the numbers are taken."""
    d.federation.require_within(scope, member_id)
    probe = NumberRange(0, member_id, type, start, end, remark)  # type: ignore[arg-type]
    try:
        d.plan.check_grant(probe, scope, max_size)
    except RangeConflict as e:
        if not d.federation.is_within(scope, e.existing.member_id):
            raise e.hidden() from None
        raise
    row = NumberRangeRow(
        member_id=member_id,
        type=str(probe.type),
        start=probe.start,
        end=probe.end,
        length=len(probe.start),
        start_value=int(probe.start),
        end_value=int(probe.end),
        remark=remark,
        granted_by=scope,
        created_at=utcnow(),
    )
    d.session.add(row)
    await d.session.flush()
    rng = NumberRange(row.id, member_id, probe.type, probe.start, probe.end, remark)
    d.plan.add(rng)
    return rng


class FederationBatch:
    """The changes of one ``FederationStore.batch()``; same checks as the store's calls."""

    def __init__(self, draft: _Draft) -> None:
        self._draft = draft

    create_member = _in_batch(_create_member)
    add_range = _in_batch(_add_range)


class FederationStore:
    """The only way members and ranges are read or changed (see the module docstring)."""

    def __init__(self, db: Database):
        self._db = db
        self._view: FederationView | None = None
        self._lock = asyncio.Lock()
        self._listeners: list[ChangeListener] = []

    def on_change(self, listener: ChangeListener) -> None:
        """Call ``listener`` after every change this node commits (errors are logged)."""
        self._listeners.append(listener)

    async def _notify(self) -> None:
        for listener in self._listeners:
            try:
                await listener()
            except Exception:
                log.exception("federation change listener failed")

    # -- reading ---------------------------------------------------------------
    async def current(self) -> FederationView:
        """The up-to-date federation (one cheap query checks the stored revision)."""
        async with self._db.reading() as s:
            rev = (await s.execute(select(FederationRevision.value))).scalar_one()
            view = self._view
            if view is not None and view.revision > rev:
                return view  # this read began before a change this node published
            if view is None or view.revision != rev:
                view = await _load(s, rev)
                latest = self._view  # a change may have published a newer one meanwhile
                if latest is None or latest.revision < view.revision:
                    self._view = view
            return view

    async def member_row(self, member_id: int) -> MemberRow | None:
        async with self._db.session() as s:
            return await s.get(MemberRow, member_id)

    async def bound_members(self) -> list[BoundMember]:
        """Every member with a bound server, with the credentials its link proves."""
        async with self._db.session() as s:
            rows = (
                await s.execute(select(MemberRow).where(MemberRow.server_url.is_not(None)))
            ).scalars()
            return [
                BoundMember(r.id, r.domain, r.server_url or "", r.username, r.password_hash)
                for r in rows
            ]

    async def bound_data(self, member_id: int) -> dict[str, int]:
        """What refers to a member besides its children: counts by kind."""
        async with self._db.session() as s:
            return await _bound_data(s, member_id)

    # -- changing --------------------------------------------------------------
    @asynccontextmanager
    async def _change(self) -> AsyncIterator[_Draft]:
        """One change: a draft to check and change, published only after the commit."""
        async with self._lock:
            async with self._db.session() as s:
                new_rev = (
                    await s.execute(
                        update(FederationRevision)
                        .values(value=FederationRevision.value + 1)
                        .returning(FederationRevision.value)
                    )
                ).scalar_one()
                base = self._view
                if base is None or base.revision != new_rev - 1:
                    base = await _load(s, new_rev - 1)
                draft = _Draft.of(s, base, self._db.dialect)
                yield draft
            # Committed: from here on the draft is what is stored.
            self._view = draft.publish(new_rev)
        await self._notify()

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[FederationBatch]:
        """Many changes as one: one transaction, one revision, one change notice.

        Each change is checked against the draft exactly as its single call would be
        (so it sees the ones before it); a refusal anywhere drops them all. For bulk
        loads (a federation's members and ranges at once): a change alone costs a
        revision, a reload of every listener's derived state, and a commit.
        """
        async with self._change() as d:
            yield FederationBatch(d)

    create_member = _one_change(_create_member)
    add_range = _one_change(_add_range)

    async def update_member(
        self, scope: int | None, member_id: int, changes: Mapping[str, Any]
    ) -> Member:
        """Change fields of a member in ``scope``; ``password_hash`` may be among them."""
        async with self._change() as d:
            fed = d.federation
            old = fed.require_within(scope, member_id)
            fields = {
                k: changes[k]
                for k in ("domain", "display_name", "username", "remark")
                if k in changes
            }
            new = Member(
                old.id,
                old.parent_id,
                old.level,
                fields.get("domain", old.domain),
                fields.get("display_name", old.display_name),
                fields.get("username", old.username),
                fields.get("remark", old.remark),
            )
            if new.domain != old.domain:
                fed.check_domain(scope, new.domain)
            fed.check_update(new, scope)
            row = await d.session.get(MemberRow, member_id)
            assert row is not None
            for k in MEMBER_FIELDS:
                if k in changes:
                    setattr(row, k, getattr(new, k) if k in fields else changes[k])
            if "password_hash" in changes:
                row.password_hash = changes["password_hash"]
            row.updated_at = utcnow()
            await d.session.flush()
            fed.update(new)
            d.servers[member_id] = MemberServerInfo(row.server_url, row.sip_host, row.sip_port)
            return new

    async def delete_member(
        self,
        scope: int | None,
        member_id: int,
        *,
        cascade: bool = False,
        removed_admins: list[dict[str, object]] | None = None,
    ) -> list[Member]:
        """Delete a member; refuse if it has children or bound data unless ``cascade``.

        With ``cascade`` its subtree, their number ranges and ``admin``-role accounts go
        too, each account appended to ``removed_admins`` (for the audit entry). Security
        and auditor accounts are never deleted along: the cascade is refused while any
        is bound in the subtree (separation of duties; docs/api.md). The caller's own
        scope root cannot be deleted by the caller.
        """
        async with self._change() as d:
            fed = d.federation
            fed.require_within(scope, member_id)
            if scope is not None and member_id == scope:
                raise FederationError(
                    "outside_scope", "you cannot delete the member your own account belongs to"
                )
            gone = fed.check_remove(member_id, cascade)
            if not cascade:
                bound = await _bound_data(d.session, member_id)
                if any(bound.values()):
                    what = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in bound.items() if n)
                    raise FederationError(
                        "has_bound_data",
                        f"member {member_id} still has {what}; remove them first or ask to cascade",
                        dict(bound),
                    )
            ids = [m.id for m in gone]  # children first
            accounts = (
                await d.session.execute(
                    select(AdminRow.id, AdminRow.username, AdminRow.role, AdminRow.member_id)
                    .where(AdminRow.member_id.in_(ids))
                    .order_by(AdminRow.id)
                )
            ).all()
            protected = [a for a in accounts if a.role != "admin"]
            if protected:
                raise FederationError(
                    "has_protected_accounts",
                    f"the subtree of member {member_id} holds {len(protected)} security or "
                    "auditor account(s); only the shell ('fedhub admin delete') removes those",
                    {"accounts": [{"id": a.id, "role": a.role} for a in protected]},
                )
            if removed_admins is not None:
                removed_admins.extend(
                    {"id": a.id, "username": a.username, "member_id": a.member_id} for a in accounts
                )
            await d.session.execute(delete(NumberRangeRow).where(NumberRangeRow.member_id.in_(ids)))
            await d.session.execute(delete(AdminRow).where(AdminRow.member_id.in_(ids)))
            for mid in ids:
                await d.session.execute(delete(MemberRow).where(MemberRow.id == mid))
            fed.remove(member_id, cascade=True)
            for mid in ids:
                d.plan.remove_member(mid)
                d.servers.pop(mid, None)
            return gone

    async def remove_range(
        self,
        scope: int | None,
        member_id: int,
        range_id: int,
        *,
        guard: Callable[[AsyncSession, NumberRange], Awaitable[None]] | None = None,
    ) -> NumberRange:
        """Take a member's range back: only from above (``NumberPlan.check_revoke``), and
        only once nothing has been given out of it. ``guard`` may refuse too (it raises),
        inside the same transaction: what uses the range cannot slip in meanwhile."""
        async with self._change() as d:
            d.federation.require_within(scope, member_id)
            rng = d.plan.get(range_id)
            if rng.member_id != member_id:
                raise FederationError(
                    "unknown_range",
                    f"range {range_id} does not belong to member {member_id}",
                    {"range_id": range_id, "member_id": member_id},
                )
            d.plan.check_revoke(range_id, scope)
            if guard is not None:
                await guard(d.session, rng)
            await d.session.execute(delete(NumberRangeRow).where(NumberRangeRow.id == range_id))
            d.plan.remove(range_id)
            return rng


def _with_id(m: Member, member_id: int) -> Member:
    return Member(member_id, m.parent_id, m.level, m.domain, m.display_name, m.username, m.remark)


async def _bound_data(s: AsyncSession, member_id: int) -> dict[str, int]:
    ranges = (
        await s.execute(select(func.count()).where(NumberRangeRow.member_id == member_id))
    ).scalar_one()
    admins = (
        await s.execute(select(func.count()).where(AdminRow.member_id == member_id))
    ).scalar_one()
    return {"number_ranges": int(ranges), "admins": int(admins)}


async def _load(s: AsyncSession, revision: int) -> FederationView:
    rows = (await s.execute(select(MemberRow))).scalars().all()
    members = [
        Member(r.id, r.parent_id, r.level, r.domain, r.display_name, r.username, r.remark)
        for r in rows
    ]
    servers = {r.id: MemberServerInfo(r.server_url, r.sip_host, r.sip_port) for r in rows}
    ranges = (await s.execute(select(NumberRangeRow))).scalars().all()
    fed = Federation.of(members).freeze()
    plan = NumberPlan(
        (
            NumberRange(r.id, r.member_id, RangeType(r.type), r.start, r.end, r.remark)
            for r in ranges
        ),
        lineage=fed,
    )
    return FederationView(revision, fed, plan.freeze(), Map(servers))
