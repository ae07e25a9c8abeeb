"""Accounts, rooms, VMRs and routes through the API: validation, uniqueness, scope."""

from __future__ import annotations

import logging

import pytest

from tests.dashboards.conftest import Api, make_admin

ACCOUNT_PASSWORD = "Dev1ce-Secret!"


@pytest.fixture
def tree(root: Api) -> dict[str, int]:
    """prov > city1 > county; prov > city2; each with account and VMR ranges."""
    ids: dict[str, int] = {}
    ids["prov"] = root.create_member(None, "prov").json()["id"]
    ids["city1"] = root.create_member(ids["prov"], "city1").json()["id"]
    ids["city2"] = root.create_member(ids["prov"], "city2").json()["id"]
    ids["county"] = root.create_member(ids["city1"], "county").json()["id"]
    for n, key in enumerate(("prov", "city1", "city2", "county")):
        for kind, digit in (("system_account", 1), ("vmr", 2), ("general_meeting", 3)):
            start, end = f"{digit}{n}00", f"{digit}{n}99"
            r = root.post(f"/members/{ids[key]}/ranges", {"type": kind, "start": start, "end": end})
            assert r.status_code == 201, r.text
    return ids


def account(number: str, name: str, kind: str = "user", **extra: object) -> dict[str, object]:
    return {"kind": kind, "number": number, "name": name, "password": ACCOUNT_PASSWORD, **extra}


def test_accounts_crud_and_the_password_never_comes_back(
    client, root: Api, tree: dict[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    city = tree["city1"]
    r = root.post(f"/members/{city}/accounts", account("1100", "alice", display_name="Alice"))
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["number"] == "1100" and made["kind"] == "user" and made["version"] == 1
    assert "password" not in made and not any("ha1" in k for k in made)
    listed = root.get(f"/members/{city}/accounts").json()["accounts"]
    assert [a["name"] for a in listed] == ["alice"]
    r = root.patch(f"/members/{city}/accounts/{made['id']}", {"display_name": "Alice B."})
    assert (
        r.status_code == 200 and r.json()["display_name"] == "Alice B." and r.json()["version"] == 2
    )
    r = root.patch(f"/members/{city}/accounts/{made['id']}", {"number": "1101"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "password_required"
    r = root.patch(
        f"/members/{city}/accounts/{made['id']}", {"number": "1101", "password": ACCOUNT_PASSWORD}
    )
    assert r.status_code == 200 and r.json()["number"] == "1101"
    assert root.get(f"/members/{city}/accounts/{made['id']}").json()["name"] == "alice"
    assert root.delete(f"/members/{city}/accounts/{made['id']}").status_code == 204
    assert root.get(f"/members/{city}/accounts/{made['id']}").status_code == 404
    assert ACCOUNT_PASSWORD not in caplog.text
    auditor = make_admin(client, "aud0", "auditor", None)
    audit = auditor.get("/audit?action=account.create").json()["entries"]
    assert audit and ACCOUNT_PASSWORD not in str(audit)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (account("1200", "bob"), "number_outside_ranges"),  # city2's range
        (account("2100", "bob"), "number_outside_ranges"),  # a vmr range, not accounts
        (account("1100", "bad name!"), None),  # schema: 422
        (account("1100", "bob", kind="robot"), None),
        (account("1100", "bob", password="short"), "weak_password"),
        ({"kind": "user", "number": "11a0", "name": "bob"}, None),
    ],
)
def test_account_refusals(root: Api, tree: dict[str, int], body: dict, code: str | None) -> None:
    r = root.post(f"/members/{tree['city1']}/accounts", body)
    assert r.status_code == 422, r.text
    if code:
        assert r.json()["error"]["code"] == code
    assert root.get(f"/members/{tree['city1']}/accounts").json()["accounts"] == []


def test_numbers_and_names_are_unique_and_clashes_are_named_only_in_scope(
    client, root: Api, tree: dict[str, int]
) -> None:
    assert (
        root.post(f"/members/{tree['city2']}/accounts", account("1200", "carol")).status_code == 201
    )
    assert (
        root.post(f"/members/{tree['city1']}/accounts", account("1100", "dave")).status_code == 201
    )
    r = root.post(f"/members/{tree['city1']}/accounts", account("1101", "carol"))
    assert r.status_code == 409 and r.json()["error"]["code"] == "name_taken"
    assert f"member {tree['city2']}" in r.json()["error"]["message"]  # root sees everything
    ops = make_admin(client, "city1ops", "admin", tree["city1"])
    r = ops.post(f"/members/{tree['county']}/accounts", account("1300", "carol"))
    assert r.status_code == 409 and r.json()["error"]["message"] == "name carol is taken"
    assert "member_id" not in r.json()["error"]["details"]
    r = ops.post(f"/members/{tree['city1']}/accounts", account("1100", "erin"))
    assert r.status_code == 409 and "account" in r.json()["error"]["message"]  # in scope: named
    assert r.json()["error"]["details"]["member_id"] == tree["city1"]


def test_scope_an_admin_manages_its_own_and_subordinates_data_only(
    client, root: Api, tree: dict[str, int]
) -> None:
    ops = make_admin(client, "city1ops", "admin", tree["city1"])
    assert (
        ops.post(f"/members/{tree['county']}/accounts", account("1300", "frank")).status_code == 201
    )
    assert (
        ops.post(f"/members/{tree['city1']}/vmrs", {"number": "2100", "name": "V"}).status_code
        == 201
    )
    for target in ("prov", "city2"):
        assert ops.get(f"/members/{tree[target]}/accounts").status_code == 403
        r = ops.post(f"/members/{tree[target]}/rooms", {"name": "Hall"})
        assert r.status_code == 403
    item = root.post(f"/members/{tree['city2']}/rooms", {"name": "Hall"}).json()
    assert ops.delete(f"/members/{tree['city2']}/rooms/{item['id']}").status_code == 403
    assert ops.get(f"/members/{tree['city1']}/rooms/{item['id']}").status_code == 404  # not its own
    auditor = make_admin(client, "aud1", "auditor", None)
    assert auditor.get(f"/members/{tree['city1']}/accounts").status_code == 403


def test_vmrs_rooms_routes(root: Api, tree: dict[str, int]) -> None:
    city = tree["city1"]
    assert (
        root.post(f"/members/{city}/vmrs", {"number": "2100", "name": "Daily"}).status_code == 201
    )
    assert (
        root.post(f"/members/{city}/vmrs", {"number": "3100", "name": "General"}).status_code == 201
    )
    r = root.post(f"/members/{city}/vmrs", {"number": "1100", "name": "x"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "number_outside_ranges"
    r = root.post(f"/members/{city}/vmrs", {"number": "2100", "name": "again"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "number_taken"
    room = {"name": "Hall 1", "location": "Floor 2", "capacity": 40}
    assert root.post(f"/members/{city}/rooms", room).status_code == 201
    assert root.post(f"/members/{city}/rooms", room).status_code == 409
    assert root.post(f"/members/{tree['city2']}/rooms", room).status_code == 201  # per member
    route = {"prefix": "12", "destination": "city2.example.gov", "priority": 5}
    r = root.post(f"/members/{city}/routes", route)
    assert r.status_code == 201 and r.json()["destination"] == "city2.example.gov"
    assert root.post(f"/members/{city}/routes", route).status_code == 409
    assert root.post(f"/members/{city}/routes", {**route, "prefix": "x1"}).status_code == 422


def test_a_range_still_in_use_cannot_be_removed(root: Api, tree: dict[str, int]) -> None:
    city = tree["city1"]
    assert root.post(f"/members/{city}/accounts", account("1105", "gina")).status_code == 201
    ranges = root.get(f"/members/{city}/ranges").json()["ranges"]
    accounts_range = next(r for r in ranges if r["type"] == "system_account")
    r = root.delete(f"/members/{city}/ranges/{accounts_range['id']}")
    assert r.status_code == 409 and r.json()["error"]["code"] == "range_in_use"
    assert "account 1105" in r.json()["error"]["message"]
    assert r.json()["error"]["details"]["used_by"][0]["number"] == "1105"
    assert any(
        x["id"] == accounts_range["id"]
        for x in root.get(f"/members/{city}/ranges").json()["ranges"]
    )
    acc = root.get(f"/members/{city}/accounts").json()["accounts"][0]
    assert root.delete(f"/members/{city}/accounts/{acc['id']}").status_code == 204
    assert root.delete(f"/members/{city}/ranges/{accounts_range['id']}").status_code == 204


def test_csv_import_is_all_or_nothing_with_a_row_report(root: Api, tree: dict[str, int]) -> None:
    city = tree["city1"]
    assert root.post(f"/members/{city}/accounts", account("1100", "taken")).status_code == 201
    bad = (
        "kind,number,name,display_name,password\n"
        f"user,1101,ann,Ann,{ACCOUNT_PASSWORD}\n"
        f"user,1200,ben,Ben,{ACCOUNT_PASSWORD}\n"  # city2's number
        f"room_device,1102,taken,Room,{ACCOUNT_PASSWORD}\n"  # name taken
        f"user,1103,ann,Dup,{ACCOUNT_PASSWORD}\n"  # clashes with row 1
        "robot,1104,cy,Cy,\n"  # not a kind
        "user,1105,dee,Dee,weak\n"
    )
    r = root.post(f"/members/{city}/accounts/import", {"csv": bad})
    assert r.status_code == 422 and r.json()["error"]["code"] == "import_refused"
    rows = {x["row"]: x["code"] for x in r.json()["error"]["details"]["rows"]}
    assert rows == {
        2: "number_outside_ranges",
        3: "name_taken",
        4: "name_taken",
        5: "invalid_input",
        6: "weak_password",
    }
    assert ACCOUNT_PASSWORD not in r.text
    names = [a["name"] for a in root.get(f"/members/{city}/accounts").json()["accounts"]]
    assert names == ["taken"]  # the good row was not imported either
    good = (
        "kind,number,name,display_name,password\n"
        f"user,1101,ann,Ann,{ACCOUNT_PASSWORD}\n"
        "room_device,1102,room-a,=Room A,\n"
    )
    r = root.post(f"/members/{city}/accounts/import", {"csv": good})
    assert r.status_code == 200 and r.json() == {"imported": 2}
    r = root.get(f"/members/{city}/accounts/export")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.text.splitlines()
    assert lines[0] == "kind,number,name,display_name" and len(lines) == 4
    assert "room_device,1102,room-a,'=Room A" in lines  # no formula reaches a spreadsheet
    assert ACCOUNT_PASSWORD not in r.text and "ha1" not in r.text
    r = root.post(f"/members/{city}/rooms/import", {"csv": "name,colour\nHall,red\n"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_csv"
    r = root.post(
        f"/members/{city}/routes/import", {"csv": "prefix,destination,priority\n7,x.gov,3\n"}
    )
    assert (
        r.status_code == 200
        and root.get(f"/members/{city}/routes").json()["routes"][0]["priority"] == 3
    )
