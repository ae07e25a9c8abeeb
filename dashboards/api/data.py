"""Federation data of a member: accounts, physical rooms, VMRs and call routes (CRUD).

Under ``/members/{id}/accounts|rooms|vmrs|routes``. An admin manages its own member's
data and its subordinates' (the member must be in its scope), nothing above or beside.
Numbers must lie in the member's ranges (accounts: ``system_account``; VMRs: ``vmr`` or
``general_meeting``); numbers and account names are unique federation-wide, and a clash
is named only when the other item is in the caller's scope (else just "taken").
Account passwords go in, never out: the API stores only the SIP digest secrets the
member server needs (storage/datasets.py) and never echoes or logs the password.
Every change is pushed to the member server by the sync (``/members/{id}/sync``).
"""

from __future__ import annotations

import csv
import io
import itertools
from typing import Any

from starlette.responses import Response

from dashboards.api import api
from dashboards.api.members import READERS, WRITERS
from dashboards.body import SchemaValidator
from dashboards.endpoint import Ctx
from dashboards.errors import ApiError
from dashboards.schemas import DOMAIN, NUMBER, PASSWORD, REMARK, obj
from hub import password_policy
from hub.datasets import MAX_DISPLAY, AccountKind, DataError
from storage.datasets import RESOURCES, DataStore, Resource, RowsRefused, Scope, item_json

DATA_STATUS = {
    "unknown_item": 404,
    "taken": 409,
    "name_taken": 409,
    "number_taken": 409,
    "prefix_taken": 409,
}
"""Status per data-set refusal code; anything else is invalid input (422)."""

ACCOUNT_NAME = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"}
TEXT = {"type": "string", "minLength": 1, "maxLength": MAX_DISPLAY}
FIELDS: dict[str, dict[str, dict[str, Any]]] = {
    "accounts": {
        "kind": {"type": "string", "enum": [k.value for k in AccountKind]},
        "number": NUMBER,
        "name": ACCOUNT_NAME,
        "display_name": {"type": "string", "maxLength": MAX_DISPLAY},
        "password": PASSWORD,
    },
    "rooms": {
        "name": TEXT,
        "location": {"type": "string", "maxLength": 256},
        "capacity": {"type": "integer", "minimum": 0, "maximum": 100_000},
        "remark": REMARK,
    },
    "vmrs": {"number": NUMBER, "name": TEXT, "remark": REMARK},
    "routes": {
        "prefix": NUMBER,
        "destination": {**DOMAIN, "pattern": "^[A-Za-z0-9.:\\[\\]-]+$"},
        "priority": {"type": "integer", "minimum": 0, "maximum": 1000},
        "remark": REMARK,
    },
}


def _item_schema(resource: str) -> dict[str, Any]:
    props: dict[str, Any] = {"id": {"type": "integer"}, "member_id": {"type": "integer"}}
    props.update({k: v for k, v in FIELDS[resource].items() if k != "password"})
    props["version"] = {"type": "integer"}
    return {"type": "object", "properties": props, "required": ["id", "member_id", "version"]}


def store(ctx: Ctx) -> DataStore:
    data = ctx.services.data
    if data is None:
        raise ApiError(503, "no_data_store", "this node keeps no federation data")
    return data


async def scope_for(ctx: Ctx, member_id: int) -> Scope:
    """The federation as of now, with ``member_id`` checked to be in the caller's scope."""
    view = await ctx.services.federation.current()
    view.federation.require_within(ctx.me.scope, member_id)
    return Scope(view.federation, view.plan, ctx.me.scope)


def refusal(e: DataError) -> ApiError:
    return ApiError(DATA_STATUS.get(e.code, 422), e.code, e.message, dict(e.details))


async def _password(ctx: Ctx, name: str | None) -> str | None:
    password = ctx.body.get("password")
    if password is None:
        return None
    reasons = password_policy.check(password, name or "")
    if reasons:
        raise ApiError(422, "weak_password", "password " + "; ".join(reasons), {"reasons": reasons})
    return str(password)


def _register(resource: Resource) -> None:
    name = resource.name
    single = name[:-1]
    path = f"/members/{{member_id}}/{name}"
    fields = FIELDS[name]
    item = _item_schema(name)

    async def list_items(ctx: Ctx) -> dict[str, Any]:
        mid = ctx.int_param("member_id")
        await scope_for(ctx, mid)
        raw = ctx.query("after", "0", max_len=10) or "0"
        if not (raw.isascii() and raw.isdigit()):
            raise ApiError(422, "invalid_input", "query parameter after must be an item id")
        after = int(raw)
        rows = await store(ctx).items(resource, mid, after=after)
        return {name: [item_json(resource, r) for r in rows]}

    async def create(ctx: Ctx) -> dict[str, Any]:
        mid = ctx.int_param("member_id")
        ctx.target = f"member:{mid}/{single}"
        ctx.details = {k: v for k, v in ctx.body.items() if k != "password"}
        scope = await scope_for(ctx, mid)
        password = await _password(ctx, ctx.body.get("name"))
        try:
            row = await store(ctx).create(scope, resource, mid, ctx.body, password=password)
        except DataError as e:
            raise refusal(e) from None
        ctx.target = f"member:{mid}/{single}:{row.id}"
        return item_json(resource, row)

    async def get(ctx: Ctx) -> dict[str, Any]:
        mid, iid = ctx.int_param("member_id"), ctx.int_param("item_id")
        await scope_for(ctx, mid)
        try:
            return item_json(resource, await store(ctx).get(resource, mid, iid))
        except DataError as e:
            raise refusal(e) from None

    async def change(ctx: Ctx) -> dict[str, Any]:
        mid, iid = ctx.int_param("member_id"), ctx.int_param("item_id")
        ctx.target = f"member:{mid}/{single}:{iid}"
        ctx.details = {k: v for k, v in ctx.body.items() if k != "password"}
        ctx.details["password_changed"] = "password" in ctx.body
        scope = await scope_for(ctx, mid)
        data = store(ctx)
        try:
            current = await data.get(resource, mid, iid)
            account_name = ctx.body.get("name", getattr(current, "name", ""))
            password = await _password(ctx, account_name)
            row = await data.update(scope, resource, mid, iid, ctx.body, password=password)
        except DataError as e:
            raise refusal(e) from None
        return item_json(resource, row)

    async def remove(ctx: Ctx) -> None:
        mid, iid = ctx.int_param("member_id"), ctx.int_param("item_id")
        ctx.target = f"member:{mid}/{single}:{iid}"
        await scope_for(ctx, mid)
        try:
            row = await store(ctx).delete(resource, mid, iid)
        except DataError as e:
            raise refusal(e) from None
        ctx.details = {k: getattr(row, k) for k in resource.fields}

    async def export(ctx: Ctx) -> Response:
        mid = ctx.int_param("member_id")
        await scope_for(ctx, mid)
        rows: list[Any] = []
        after = 0
        while batch := await store(ctx).items(resource, mid, after=after):
            rows += batch
            after = batch[-1].id
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(resource.fields)
        for r in rows:
            w.writerow([_safe_cell(getattr(r, f)) for f in resource.fields])
        return Response(
            buf.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}-{mid}.csv"'},
        )

    async def import_csv(ctx: Ctx) -> dict[str, Any]:
        mid = ctx.int_param("member_id")
        ctx.target = f"member:{mid}/{name}"
        scope = await scope_for(ctx, mid)
        parsed, problems = _parse_csv(resource, ctx.body["csv"])
        ctx.details = {"rows": len(parsed) + len(problems)}
        good: list[tuple[dict[str, Any], str | None]] = []
        for n, values in parsed:
            password = values.pop("password", None)
            if password is not None:
                reasons = password_policy.check(password, str(values.get("name", "")))
                if reasons:
                    problems.append(_row(n, "weak_password", "password " + "; ".join(reasons)))
            good.append((values, password))
        data = store(ctx)
        try:
            added = await data.create_many(scope, resource, mid, good, check_only=bool(problems))
        except RowsRefused as e:  # with the rows refused before: one report of every row
            problems += [_row(parsed[n - 1][0], err.code, err.message) for n, err in e.rows]
            raise _refused_rows(problems) from None
        ctx.details["imported"] = len(added)
        return {"imported": len(added)}

    writes = {"roles": WRITERS, "errors": (403, 404, 409, 422)}
    routes: tuple[tuple[str, str, Any, str, dict[str, Any]], ...] = (
        (
            "GET",
            "/export",
            export,
            f"export_{name}",
            {
                "summary": f"A member's {name} as CSV (no secrets)",
                "roles": READERS,
                "errors": (403, 404),
                "media_type": "text/csv",
            },
        ),
        (
            "POST",
            "/import",
            import_csv,
            f"import_{name}",
            {
                "summary": f"Add {name} from CSV, all or nothing, with a per-row error report",
                "body": obj({"csv": {"type": "string", "minLength": 1}}, ("csv",)),
                "response": {"type": "object", "properties": {"imported": {"type": "integer"}}},
                "action": f"{single}.import",
                **writes,
            },
        ),
        (
            "GET",
            "",
            list_items,
            f"list_{name}",
            {
                "summary": f"A member's {name}",
                "response": {
                    "type": "object",
                    "properties": {name: {"type": "array", "items": item}},
                },
                "roles": READERS,
                "query": (("after", {"type": "integer"}, "only items with a larger id (paging)"),),
                "errors": (403, 404),
            },
        ),
        (
            "POST",
            "",
            create,
            f"create_{single}",
            {
                "summary": f"Add a {single} to a member in your scope",
                "ok": 201,
                "body": obj(fields, resource.required),
                "response": item,
                "action": f"{single}.create",
                **writes,
            },
        ),
        (
            "GET",
            "/{item_id}",
            get,
            f"get_{single}",
            {"summary": f"One {single}", "response": item, "roles": READERS, "errors": (403, 404)},
        ),
        (
            "PATCH",
            "/{item_id}",
            change,
            f"update_{single}",
            {
                "summary": f"Change a {single}",
                "body": obj(fields, (), minProperties=1),
                "response": item,
                "action": f"{single}.update",
                **writes,
            },
        ),
        (
            "DELETE",
            "/{item_id}",
            remove,
            f"delete_{single}",
            {
                "summary": f"Remove a {single}",
                "ok": 204,
                "action": f"{single}.delete",
                "roles": WRITERS,
                "errors": (403, 404),
            },
        ),
    )
    for method, suffix, fn, operation, spec in routes:
        fn.__name__ = fn.__qualname__ = operation  # the OpenAPI operation id
        api.route(method, path + suffix, tag="data", **spec)(fn)


MAX_IMPORT_ROWS = 5000
INTEGERS = {"capacity", "priority"}


def _row(n: int, code: str, message: str) -> dict[str, Any]:
    return {"row": n, "code": code, "message": message}


def _refused_rows(rows: list[dict[str, Any]]) -> ApiError:
    rows.sort(key=lambda r: r["row"])
    return ApiError(
        422,
        "import_refused",
        f"{len(rows)} rows refused; nothing was imported",
        {"rows": rows[:500], "count": len(rows)},
    )


def _parse_csv(resource: Resource, text: str) -> tuple[list[tuple[int, dict[str, Any]]], list[Any]]:
    """Rows (numbered from 1 after the header) checked against the create schema."""
    reader = csv.DictReader(io.StringIO(text))
    try:
        columns = list(reader.fieldnames or [])
        rows = list(itertools.islice(reader, MAX_IMPORT_ROWS + 1))
    except csv.Error as exc:
        raise ApiError(422, "invalid_csv", f"not CSV: {exc}") from None
    allowed = set(FIELDS[resource.name])
    unknown = [c for c in columns if c not in allowed]
    missing = [c for c in resource.required if c not in columns]
    if unknown or missing or len(set(columns)) != len(columns):
        raise ApiError(
            422,
            "invalid_csv",
            f"columns must be among {sorted(allowed)} with {list(resource.required)}",
            {"unknown": unknown[:20], "missing": missing},
        )
    validator = SchemaValidator(obj(FIELDS[resource.name], resource.required))
    good: list[tuple[int, dict[str, Any]]] = []
    problems: list[dict[str, Any]] = []
    for n, raw in enumerate(rows, start=1):
        if n > MAX_IMPORT_ROWS:
            raise ApiError(422, "too_many_rows", f"at most {MAX_IMPORT_ROWS} rows per import")
        if None in raw:
            problems.append(_row(n, "invalid_row", "more cells than columns"))
            continue
        values: dict[str, Any] = {k: v for k, v in raw.items() if v not in (None, "")}
        for k in INTEGERS & set(values):
            cell = str(values[k])
            values[k] = int(cell) if cell.isascii() and cell.isdigit() and len(cell) < 10 else cell
        errors = sorted(validator.iter_errors(values), key=lambda e: list(e.path))
        if errors:
            where = "/".join(str(p) for p in errors[0].path) or "row"
            rule = errors[0].validator
            problems.append(_row(n, "invalid_input", f"{where}: fails '{rule}'"))
            continue
        good.append((n, values))
    return good, problems


def _safe_cell(v: object) -> object:
    """Cells a spreadsheet would run as formulas are quoted with '."""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return v


for _resource in RESOURCES.values():
    _register(_resource)
