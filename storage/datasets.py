"""Accounts, rooms, VMRs and call routes of members: stored, versioned, checked.

Role: the only way the stored data sets (hub/datasets.py) are read or changed. Every
change runs in one transaction that checks the rules (numbers inside the member's
ranges, numbers and account names unique federation-wide), writes the row, bumps the
member's data-set version and stamps the row with it (a deletion leaves a tombstone at
that version), so ``changes_since(member, dataset, base)`` can tell a member server
exactly what changed since the version it acknowledged. Listeners registered with
``on_change`` hear ``(member_id, dataset)`` after each commit.

Account passwords are kept only as SIP digest secrets (``digest_secrets``): what a
member server needs to check its devices' registrations, never the password itself.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.datasets import (
    ACCOUNT_DATASET,
    ACCOUNT_RANGES,
    DERIVED,
    VMR_RANGES,
    AccountKind,
    DataError,
    Dataset,
    check_account_name,
    check_number_in,
    check_route_prefix,
    derived_items,
)
from hub.federation import Federation
from hub.numbering import NumberPlan, NumberRange, RangeType
from storage.db import Database
from storage.models import (
    AccountRow,
    DatasetTombstoneRow,
    DatasetVersionRow,
    DerivedItemRow,
    DerivedVersionRow,
    NumberRangeRow,
    RoomRow,
    RouteRow,
    SyncStateRow,
    VmrRow,
    utcnow,
)

log = logging.getLogger("fedhub.datasets")

Row = AccountRow | RoomRow | VmrRow | RouteRow
Uniqueness = Literal["federation", "member"]
ChangeListener = Callable[[int, Dataset], Awaitable[None]]


def digest_secrets(number: str, realm: str, password: str) -> tuple[str, str]:
    """SIP digest HA1 of an account (RFC 7616): MD5 and SHA-256 of number:realm:password."""
    a1 = f"{number}:{realm}:{password}".encode()
    return hashlib.md5(a1, usedforsecurity=False).hexdigest(), hashlib.sha256(a1).hexdigest()


@dataclass(frozen=True)
class Resource:
    """One kind of stored item, described once: its table, the fields the API shows and
    may set (secrets excluded) and which it needs, what a member server receives, and
    its rules: per-field checks, the field whose number must lie in the member's ranges
    of ``ranges``, and the fields that must be unique (federation-wide, or within the
    member). Storage, the API and the CSV import all follow this description."""

    name: str  # accounts, rooms, vmrs, routes (the API path)
    model: Any  # the row class
    fields: tuple[str, ...]
    required: tuple[str, ...]
    payload: tuple[str, ...]
    checks: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)
    number: str = ""
    ranges: tuple[RangeType, ...] = ()
    unique: tuple[tuple[str, Uniqueness], ...] = ()

    def dataset(self, row: Row) -> Dataset:
        if isinstance(row, AccountRow):
            return ACCOUNT_DATASET[AccountKind(row.kind)]
        return Dataset(self.name)


ACCOUNTS = Resource(
    "accounts",
    AccountRow,
    fields=("kind", "number", "name", "display_name"),
    required=("kind", "number", "name"),
    payload=("number", "name", "display_name", "ha1_md5", "ha1_sha256"),
    checks={"kind": lambda k: str(AccountKind(k)), "name": check_account_name},
    number="number",
    ranges=ACCOUNT_RANGES,
    unique=(("name", "federation"), ("number", "federation")),
)
ROOMS = Resource(
    "rooms",
    RoomRow,
    fields=("name", "location", "capacity", "remark"),
    required=("name",),
    payload=("name", "location", "capacity"),
    unique=(("name", "member"),),
)
VMRS = Resource(
    "vmrs",
    VmrRow,
    fields=("number", "name", "remark"),
    required=("number", "name"),
    payload=("number", "name"),
    number="number",
    ranges=VMR_RANGES,
    unique=(("number", "federation"),),
)
ROUTES = Resource(
    "routes",
    RouteRow,
    fields=("prefix", "destination", "priority", "remark"),
    required=("prefix", "destination"),
    payload=("prefix", "destination", "priority"),
    checks={"prefix": check_route_prefix},
    unique=(("prefix", "member"),),
)
RESOURCES: dict[str, Resource] = {r.name: r for r in (ACCOUNTS, ROOMS, VMRS, ROUTES)}
DATASET_RESOURCE: dict[Dataset, Resource] = {
    Dataset.USER_ACCOUNTS: ACCOUNTS,
    Dataset.ROOM_ACCOUNTS: ACCOUNTS,
    Dataset.OTHER_ACCOUNTS: ACCOUNTS,
    Dataset.ROOMS: ROOMS,
    Dataset.VMRS: VMRS,
    Dataset.ROUTES: ROUTES,
}


def item_json(resource: Resource, row: Row) -> dict[str, Any]:
    """An item as the API shows it (never a secret)."""
    out: dict[str, Any] = {"id": row.id, "member_id": row.member_id}
    out.update({f: getattr(row, f) for f in resource.fields})
    out["version"] = row.version
    return out


def payload(resource: Resource, row: Row) -> dict[str, Any]:
    """An item as a member server receives it (``key`` = the hub's id)."""
    out: dict[str, Any] = {"key": str(row.id)}
    out.update({f: getattr(row, f) for f in resource.payload})
    return out


@dataclass(frozen=True)
class Scope:
    """What a change is checked against: the federation and number plan of one revision,
    the caller's scope (for error texts) and the member's domain (digest realm)."""

    federation: Federation
    plan: NumberPlan
    caller: int | None


@dataclass(frozen=True)
class Changes:
    """What a member must apply to go from ``base`` to ``version`` (``base=0``: all)."""

    version: int
    base: int
    items: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class SyncRecord:
    """The stored sync state of one member's data set."""

    acked_version: int
    last_success: datetime | None
    last_error: str


class DataStore:
    """See the module docstring."""

    def __init__(self, db: Database):
        self._db = db
        self._listeners: list[ChangeListener] = []

    def on_change(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    async def _notify(self, member_id: int, dataset: Dataset) -> None:
        for listener in self._listeners:
            try:
                await listener(member_id, dataset)
            except Exception:
                log.exception("data-set change listener failed")

    # -- reading -------------------------------------------------------------------------

    async def items(
        self, resource: Resource, member_id: int, *, limit: int = 1000, after: int = 0
    ) -> list[Row]:
        async with self._db.session() as s:
            q = (
                select(resource.model)
                .where(resource.model.member_id == member_id, resource.model.id > after)
                .order_by(resource.model.id)
                .limit(limit)
            )
            return list((await s.execute(q)).scalars())

    async def get(self, resource: Resource, member_id: int, item_id: int) -> Row:
        async with self._db.session() as s:
            return await self._row(s, resource, member_id, item_id)

    async def _row(self, s: AsyncSession, resource: Resource, member_id: int, item_id: int) -> Row:
        row: Row | None = await s.get(resource.model, item_id)
        if row is None or row.member_id != member_id:
            raise DataError(
                "unknown_item",
                f"member {member_id} has no {resource.name[:-1]} {item_id}",
                {"member_id": member_id, "id": item_id},
            )
        return row

    async def versions(self, member_id: int) -> dict[Dataset, int]:
        async with self._db.session() as s:
            rows = await s.execute(
                select(DatasetVersionRow.dataset, DatasetVersionRow.version).where(
                    DatasetVersionRow.member_id == member_id
                )
            )
            return {Dataset(d): int(v) for d, v in rows}

    async def changes_since(self, member_id: int, dataset: Dataset, base: int) -> Changes:
        """The items to send: everything when ``base == 0``, else what changed after it.

        A derived data set is the same for every member (``member_id`` is not used)."""
        if dataset in DERIVED:
            return await self._derived_changes(dataset, base)
        resource = DATASET_RESOURCE[dataset]
        async with self._db.session() as s:
            version = await self._version(s, member_id, dataset)
            if base > version:
                base = 0  # the member claims more than exists: send it all
            m = resource.model
            q = select(m).where(m.member_id == member_id)
            if m is AccountRow:
                q = q.where(AccountRow.kind == _kind_of(dataset))
            if base:
                q = q.where(m.version > base)
            rows = (await s.execute(q.order_by(m.id))).scalars()
            items = [payload(resource, r) for r in rows]
            if base:
                gone = await s.execute(
                    select(DatasetTombstoneRow.item_key).where(
                        DatasetTombstoneRow.member_id == member_id,
                        DatasetTombstoneRow.dataset == str(dataset),
                        DatasetTombstoneRow.version > base,
                    )
                )
                items += [{"key": k, "deleted": True} for (k,) in gone]
            return Changes(version, base, tuple(items))

    # -- derived data sets (the same for every member) -------------------------------------

    async def derive(
        self, revision: int, federation: Federation, plan: NumberPlan
    ) -> dict[Dataset, int]:
        """Bring the stored derived data sets up to federation ``revision``; their versions.

        Each item that is new or changed since the last derivation is stamped with
        ``revision``, each one gone is kept as a deleted marker at ``revision``; a data
        set's version moves only when one of its items did. Deriving an older revision
        than the stored one changes nothing (another node was quicker).
        """
        async with self._db.session() as s:
            states = {
                r.dataset: r
                for r in (await s.execute(select(DerivedVersionRow).with_for_update())).scalars()
            }
            out: dict[Dataset, int] = {}
            for dataset in sorted(DERIVED):
                state = states.get(str(dataset))
                if state is None:
                    state = DerivedVersionRow(dataset=str(dataset), version=0, derived_from=0)
                    s.add(state)
                if state.derived_from < revision:
                    if await self._derive_one(s, dataset, revision, federation, plan):
                        state.version = revision
                    state.derived_from = revision
                out[dataset] = int(state.version)
            return out

    @staticmethod
    async def _derive_one(
        s: AsyncSession, dataset: Dataset, revision: int, federation: Federation, plan: NumberPlan
    ) -> bool:
        want = {
            i["key"]: orjson.dumps(i).decode() for i in derived_items(federation, plan, dataset)
        }
        held = {
            r.item_key: r
            for r in (
                await s.execute(
                    select(DerivedItemRow).where(DerivedItemRow.dataset == str(dataset))
                )
            ).scalars()
        }
        changed = False
        for key, body in want.items():
            row = held.get(key)
            if row is None:
                s.add(
                    DerivedItemRow(dataset=str(dataset), item_key=key, version=revision, body=body)
                )
            elif row.deleted or row.body != body:
                row.body, row.deleted, row.version = body, False, revision
            else:
                continue
            changed = True
        for key, row in held.items():
            if key not in want and not row.deleted:
                row.body, row.deleted, row.version = "{}", True, revision
                changed = True
        return changed

    async def derived_versions(self) -> dict[Dataset, int]:
        async with self._db.session() as s:
            rows = await s.execute(select(DerivedVersionRow.dataset, DerivedVersionRow.version))
            return {Dataset(d): int(v) for d, v in rows}

    async def _derived_changes(self, dataset: Dataset, base: int) -> Changes:
        async with self._db.session() as s:
            state = await s.get(DerivedVersionRow, str(dataset))
            version = int(state.version) if state is not None else 0
            if base > version:
                base = 0
            q = select(DerivedItemRow.item_key, DerivedItemRow.body, DerivedItemRow.deleted).where(
                DerivedItemRow.dataset == str(dataset)
            )
            q = q.where(DerivedItemRow.version > base) if base else q.where(~DerivedItemRow.deleted)
            rows = await s.execute(q.order_by(DerivedItemRow.item_key))
            items = tuple(
                {"key": key, "deleted": True} if deleted else orjson.loads(body)
                for key, body, deleted in rows
            )
            return Changes(version, base, items)

    async def sync_states(self, member_id: int) -> dict[Dataset, SyncRecord]:
        async with self._db.session() as s:
            rows = (
                await s.execute(select(SyncStateRow).where(SyncStateRow.member_id == member_id))
            ).scalars()
            return {
                Dataset(r.dataset): SyncRecord(r.acked_version, r.last_success, r.last_error)
                for r in rows
            }

    async def all_sync_states(self) -> dict[tuple[int, Dataset], SyncRecord]:
        async with self._db.session() as s:
            rows = (await s.execute(select(SyncStateRow))).scalars()
            return {
                (r.member_id, Dataset(r.dataset)): SyncRecord(
                    r.acked_version, r.last_success, r.last_error
                )
                for r in rows
            }

    async def all_versions(self) -> dict[tuple[int, Dataset], int]:
        async with self._db.session() as s:
            rows = await s.execute(select(DatasetVersionRow))
            return {(r.member_id, Dataset(r.dataset)): int(r.version) for (r,) in rows}

    async def record_sync(
        self,
        member_id: int,
        dataset: Dataset,
        *,
        acked_version: int,
        success: datetime | None,
        error: str,
    ) -> None:
        """Keep the member's acknowledged version; drop tombstones it no longer needs."""
        await self.record_syncs([(member_id, dataset, acked_version, success, error)])

    async def record_syncs(
        self, records: Sequence[tuple[int, Dataset, int, datetime | None, str]]
    ) -> None:
        """``record_sync`` of (member, data set, acked version, success, error) each, in
        one transaction."""
        async with self._db.session() as s:
            for member_id, dataset, acked_version, success, error in records:
                row = await s.get(SyncStateRow, (member_id, str(dataset)))
                if row is None:
                    row = SyncStateRow(member_id=member_id, dataset=str(dataset), acked_version=0)
                    s.add(row)
                row.acked_version = acked_version  # the service orders its writes
                if success is not None:
                    row.last_success = success
                row.last_error = error
                if dataset in DERIVED:
                    continue  # no tombstones per member: deleted markers are shared
                await s.execute(
                    delete(DatasetTombstoneRow).where(
                        DatasetTombstoneRow.member_id == member_id,
                        DatasetTombstoneRow.dataset == str(dataset),
                        DatasetTombstoneRow.version <= row.acked_version,
                    )
                )

    async def reset_sync(self, member_id: int) -> None:
        """Forget what the member acknowledged (its server was bound anew and wiped)."""
        async with self._db.session() as s:
            await s.execute(
                update(SyncStateRow)
                .where(SyncStateRow.member_id == member_id)
                .values(acked_version=0, last_error="")
            )

    async def refuse_range_in_use(self, s: AsyncSession, rng: NumberRange) -> None:
        """``DataError`` ``range_in_use`` listing the accounts and VMRs that hold numbers
        of ``rng``. Run inside the transaction that takes the range back
        (``FederationStore.remove_range(guard=…)``): the range's row is locked first, so
        an account or VMR being added in it either committed before (and is listed) or
        finds the range gone (``_hold_number``)."""
        await s.execute(
            select(NumberRangeRow.id).where(NumberRangeRow.id == rng.id).with_for_update()
        )
        low, high, users = int(rng.start), int(rng.end), []
        for resource in (ACCOUNTS, VMRS):
            m = resource.model
            rows = await s.execute(
                select(m.number, m.id)
                .where(m.member_id == rng.member_id, func.length(m.number) == len(rng.start))
                .order_by(m.number)
            )
            users += [(resource.name, n, i) for n, i in rows if low <= int(n) <= high]
        if not users:
            return
        listed = [{"resource": kind, "number": number, "id": iid} for kind, number, iid in users]
        shown = ", ".join(f"{kind[:-1]} {number}" for kind, number, _ in users[:10])
        more = f" and {len(listed) - 10} more" if len(listed) > 10 else ""
        raise DataError(
            "range_in_use",
            f"range {rng.start}-{rng.end} is still used by {shown}{more}",
            {"used_by": listed[:100], "count": len(listed)},
        )

    @staticmethod
    async def _hold_number(
        s: AsyncSession, member_id: int, number: str, types: tuple[RangeType, ...]
    ) -> None:
        """The stored range that gives ``member_id`` this number, share-locked until the
        commit (so it cannot be taken back meanwhile); refuse if it is gone already.

        The number plan the change was checked against may be a moment old; this is the
        check that holds."""
        value = int(number)
        held: list[tuple[int, int, int]] = s.info.setdefault(("held_ranges", member_id, types), [])
        if any(n == len(number) and lo <= value <= hi for n, lo, hi in held):
            return  # locked already in this transaction (a bulk import)
        q = (
            select(NumberRangeRow.length, NumberRangeRow.start_value, NumberRangeRow.end_value)
            .where(
                NumberRangeRow.member_id == member_id,
                NumberRangeRow.type.in_([str(t) for t in types]),
                NumberRangeRow.length == len(number),
                NumberRangeRow.start_value <= value,
                NumberRangeRow.end_value >= value,
            )
            .with_for_update(read=True)
        )
        found = (await s.execute(q)).first()
        if found is not None:
            held.append((int(found[0]), int(found[1]), int(found[2])))
        else:
            raise DataError(
                "number_outside_ranges",
                f"number {number} is not in one of member {member_id}'s ranges any more "
                "(the range was taken back meanwhile)",
                {"number": number, "member_id": member_id},
            )

    # -- changing ------------------------------------------------------------------------

    async def _version(self, s: AsyncSession, member_id: int, dataset: Dataset) -> int:
        v = await s.get(DatasetVersionRow, (member_id, str(dataset)))
        return int(v.version) if v is not None else 0

    async def _bump(self, s: AsyncSession, member_id: int, dataset: Dataset) -> int:
        new = (
            await s.execute(
                update(DatasetVersionRow)
                .where(
                    DatasetVersionRow.member_id == member_id,
                    DatasetVersionRow.dataset == str(dataset),
                )
                .values(version=DatasetVersionRow.version + 1)
                .returning(DatasetVersionRow.version)
            )
        ).scalar()
        if new is None:
            s.add(DatasetVersionRow(member_id=member_id, dataset=str(dataset), version=1))
            await s.flush()
            new = 1
        return int(new)

    async def create(
        self,
        scope: Scope,
        resource: Resource,
        member_id: int,
        values: Mapping[str, Any],
        *,
        password: str | None = None,
    ) -> Row:
        """Add an item to a member (the caller checked the member is in its scope)."""
        async with self._committing() as s:
            row = await self._add(s, scope, resource, member_id, values, password)
        await self._notify(member_id, resource.dataset(row))
        return row

    async def create_many(
        self,
        scope: Scope,
        resource: Resource,
        member_id: int,
        rows: Sequence[tuple[Mapping[str, Any], str | None]],
        *,
        check_only: bool = False,
    ) -> list[Row]:
        """Add every item or none: ``RowsRefused`` lists each refused row (1-based) and why.

        Rows are checked in order against storage and against the rows before them.
        ``check_only`` checks them all and stores nothing (``RowsRefused``, maybe empty).
        """
        refused: list[tuple[int, DataError]] = []
        added: list[Row] = []
        async with self._committing() as s:
            for n, (values, password) in enumerate(rows, start=1):
                try:
                    added.append(await self._add(s, scope, resource, member_id, values, password))
                except DataError as e:
                    refused.append((n, e))
            if refused or check_only:
                raise RowsRefused(refused)  # rolls the whole import back
        for dataset in {resource.dataset(r) for r in added}:
            await self._notify(member_id, dataset)
        return added

    async def _add(
        self,
        s: AsyncSession,
        scope: Scope,
        resource: Resource,
        member_id: int,
        values: Mapping[str, Any],
        password: str | None,
    ) -> Row:
        fields = await self._checked(s, scope, resource, member_id, values, None)
        if resource is ACCOUNTS:
            fields.update(_secrets(scope, member_id, fields["number"], password))
        row: Row = resource.model(member_id=member_id, **fields)
        row.version = await self._bump(s, member_id, resource.dataset(row))
        row.created_at = row.updated_at = utcnow()
        s.add(row)
        await s.flush()
        return row

    async def update(
        self,
        scope: Scope,
        resource: Resource,
        member_id: int,
        item_id: int,
        values: Mapping[str, Any],
        *,
        password: str | None = None,
    ) -> Row:
        async with self._committing() as s:
            row = await self._row(s, resource, member_id, item_id)
            before = resource.dataset(row)
            fields = await self._checked(s, scope, resource, member_id, values, row)
            if isinstance(row, AccountRow):
                number = fields.get("number", row.number)
                if password is not None:
                    fields.update(_secrets(scope, member_id, number, password))
                elif number != row.number:
                    raise DataError(
                        "password_required",
                        "changing an account's number needs its password too: the member "
                        "server's digest secret is made from both",
                    )
            for k, v in fields.items():
                setattr(row, k, v)
            after = resource.dataset(row)
            if after != before:  # an account changed kind: it moves between data sets
                await self._tombstone(s, member_id, before, str(row.id))
            row.version = await self._bump(s, member_id, after)
            row.updated_at = utcnow()
            await s.flush()
        if after != before:
            await self._notify(member_id, before)
        await self._notify(member_id, after)
        return row

    async def delete(self, resource: Resource, member_id: int, item_id: int) -> Row:
        async with self._committing() as s:
            row = await self._row(s, resource, member_id, item_id)
            dataset = resource.dataset(row)
            await self._tombstone(s, member_id, dataset, str(row.id))
            await s.delete(row)
        await self._notify(member_id, dataset)
        return row

    async def _tombstone(self, s: AsyncSession, member_id: int, dataset: Dataset, key: str) -> None:
        version = await self._bump(s, member_id, dataset)
        s.add(
            DatasetTombstoneRow(
                member_id=member_id, dataset=str(dataset), item_key=key, version=version
            )
        )

    def _committing(self) -> Any:
        return _Committing(self._db)

    async def _checked(
        self,
        s: AsyncSession,
        scope: Scope,
        resource: Resource,
        member_id: int,
        values: Mapping[str, Any],
        old: Row | None,
    ) -> dict[str, Any]:
        """The fields to write, after the rules of the resource (``DataError`` if not)."""
        fields = {k: values[k] for k in resource.fields if k in values}
        for name, check in resource.checks.items():
            if name in fields:
                fields[name] = check(fields[name])
        number = fields.get(resource.number) if resource.number else None
        if number is not None:
            check_number_in(scope.plan, member_id, number, resource.ranges)
        for column, within in resource.unique:
            if column in fields:
                member = member_id if within == "member" else None
                await self._unique(s, scope, resource.model, column, fields[column], old, member)
        if number is not None:
            await self._hold_number(s, member_id, number, resource.ranges)
        return fields

    async def _unique(
        self,
        s: AsyncSession,
        scope: Scope,
        model: Any,
        column: str,
        value: str,
        old: Row | None,
        within_member: int | None = None,
    ) -> None:
        """Refuse ``value`` when another item holds it; name that item only inside scope."""
        q = select(model).where(getattr(model, column) == value)
        if within_member is not None:
            q = q.where(model.member_id == within_member)
        clash = (await s.execute(q)).scalars().first()
        if clash is None or (old is not None and clash.id == old.id):
            return
        what = f"{column} {value}"
        if scope.federation.is_within(scope.caller, clash.member_id):
            raise DataError(
                f"{column}_taken",
                f"{what} is taken by {model.__tablename__[:-1].replace('_', ' ')} {clash.id} "
                f"of member {clash.member_id}",
                {column: value, "member_id": clash.member_id, "id": clash.id},
            )
        raise DataError(f"{column}_taken", f"{what} is taken", {column: value})


class RowsRefused(Exception):
    """A bulk change refused as a whole: ``rows`` = [(row number, why)]."""

    def __init__(self, rows: list[tuple[int, DataError]]) -> None:
        super().__init__(f"{len(rows)} rows refused")
        self.rows = rows


class _Committing:
    """A session whose unique-constraint races surface as ``DataError`` (409)."""

    def __init__(self, db: Database) -> None:
        self._cm = db.session()

    async def __aenter__(self) -> AsyncSession:
        return await self._cm.__aenter__()

    async def __aexit__(self, *exc: Any) -> bool | None:
        try:
            done = await self._cm.__aexit__(*exc)
        except IntegrityError as e:
            raise DataError("taken", "that number or name was taken meanwhile") from e
        if isinstance(exc[1], IntegrityError):
            raise DataError("taken", "that number or name was taken meanwhile") from exc[1]
        return done


def _kind_of(dataset: Dataset) -> str:
    for kind, d in ACCOUNT_DATASET.items():
        if d is dataset:
            return str(kind)
    raise KeyError(dataset)


def _secrets(scope: Scope, member_id: int, number: str, password: str | None) -> dict[str, str]:
    if password is None:
        return {"ha1_md5": "", "ha1_sha256": ""}  # no password yet: the account cannot register
    realm = scope.federation.get(member_id).domain
    md5, sha256 = digest_secrets(number, realm, password)
    return {"ha1_md5": md5, "ha1_sha256": sha256}
