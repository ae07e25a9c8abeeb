"""The federation data page in Chromium, against a live hub with emulated member servers.

A province and two cities of the emulator are registered with their number ranges; the
first city's server is bound (so the hub syncs its data to it), the second city is
bound to an address where nothing answers (its data can never be in step). The page
must add, refuse, edit, delete, import (all or nothing) and export accounts, sync a
member and show the acknowledged version, dry-run without changing anything, open the
member server's admin page by single sign-on, point out the unsynced member, and keep a
city admin inside its subtree — without a console error.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from dashboards.services import HubConfig
from emulator.federation import build_demo_federation, serve_federation
from storage.admins import AdminStore, Role
from storage.db import Database, sqlite_url_for
from storage.passwords import hash_password
from tests.browser.conftest import shoot
from tests.browser.test_pages_browser import NEW_PASSWORD, login
from tests.support.live_server import free_port, live_hub

ACCOUNT_PASSWORD = "Dev1ce-Secret!"
CITY_ADMIN_PASSWORD = "C1ty-Admin-Pass"


@dataclasses.dataclass
class Fed:
    """The live hub, its emulated members and the ids the hub gave them."""

    base: str
    data_dir: Path
    specs: dict[str, Any]
    ids: dict[str, int]
    running: Any
    loop: asyncio.AbstractEventLoop

    def held(self, key: str, dataset: str = "user_accounts") -> list[str]:
        """Account names the member server holds (read on the emulator's own loop)."""

        async def read() -> list[str]:
            member = self.running.federation.members[key]
            return sorted(a["name"] for a in member.data.items(dataset).values())

        return asyncio.run_coroutine_threadsafe(read(), self.loop).result(10)


@pytest.fixture
def emulator() -> Iterator[tuple[Any, asyncio.AbstractEventLoop, list[Any]]]:
    """A province and two cities served by the emulator on its own thread and loop."""
    specs = build_demo_federation(seed=7, cities=2, counties=1, townships=1, villages=(1, 1))
    specs = [s for s in specs if s.level <= 2]
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    running = asyncio.run_coroutine_threadsafe(
        serve_federation(specs, "127.0.0.1", 0, seed=7), loop
    ).result(30)
    try:
        yield running, loop, specs
    finally:
        asyncio.run_coroutine_threadsafe(running.close(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[str]:
    """The browser fixtures' hub, allowed to dial the emulator on the loopback."""
    config = HubConfig(
        data_dir=tmp_path, ip_failures_per_window=100, link_networks=("127.0.0.1/32", "::1/128")
    )
    with live_hub(config) as base:
        yield base


@pytest.fixture
def fed(hub: str, tmp_path: Path, emulator) -> Fed:
    running, loop, specs = emulator
    with httpx.Client(base_url=hub + "/api/v1") as c:
        r = c.post("/auth/login", json={"username": "admin", "password": "123456"})
        c.headers["x-csrf-token"] = r.json()["csrf_token"]
        r = c.post("/auth/password", json={"old_password": "123456", "new_password": NEW_PASSWORD})
        assert r.status_code == 204, r.text
        ids: dict[str, int] = {}
        for spec in specs:
            body = {
                "parent_id": ids.get(spec.parent_key) if spec.parent_key else None,
                "domain": spec.domain,
                "display_name": spec.display_name,
                "username": spec.username,
                "password": spec.password,
            }
            r = c.post("/members", json=body)
            assert r.status_code == 201, r.text
            ids[spec.key] = r.json()["id"]
        for spec in specs:
            for rng in spec.ranges:
                body = {"type": rng.type, "start": rng.start, "end": rng.end}
                r = c.post(f"/members/{ids[spec.key]}/ranges", json=body)
                assert r.status_code == 201, r.text
        r = c.post(
            f"/members/{ids['city1']}/bind",
            json={"server_url": running.urls["city1"], "confirm_wipe": True},
        )
        assert r.status_code == 200, r.text
        # a server that never answers: its data can never be in step
        dead = f"ws://127.0.0.1:{free_port()}/fed/link/{specs[2].domain}"
        r = c.post(f"/members/{ids['city2']}/bind", json={"server_url": dead, "confirm_wipe": True})
        assert r.status_code == 200, r.text
    return Fed(hub, tmp_path, {s.key: s for s in specs}, ids, running, loop)


def make_city_admin(data_dir: Path, username: str, member_id: int) -> None:
    """An admin of one city, created in the live hub's database as the CLI does."""

    async def run() -> None:
        db = Database.open(sqlite_url_for(data_dir))
        try:
            await AdminStore(db).create(
                username,
                hash_password(CITY_ADMIN_PASSWORD),
                Role.ADMIN,
                member_id,
                password_change_required=False,
            )
        finally:
            await db.close()

    with ThreadPoolExecutor(1) as pool:  # Playwright keeps an event loop on this thread
        pool.submit(asyncio.run, run()).result()


def open_data(page, fed: Fed, key: str, query: str = "") -> None:
    login(page, "admin", NEW_PASSWORD)
    page.wait_for_url("**/topology")
    page.goto(f"/data/{fed.ids[key]}{query}")
    page.locator("#data-member", has_text=fed.specs[key].display_name).wait_for()


def rows(page) -> list[str]:
    page.locator("#set-items tbody tr").first.wait_for()
    return page.locator("#set-items tbody tr").all_inner_texts()


def add_account(page, number: str, name: str, password: str = ACCOUNT_PASSWORD) -> None:
    page.click("#set-add")
    form = page.locator("#item-form")
    form.locator('select[name="kind"]').select_option("user")
    form.locator('input[name="number"]').fill(number)
    form.locator('input[name="name"]').fill(name)
    form.locator('input[name="password"]').fill(password)
    form.locator('button[type="submit"]').click()


def test_accounts_add_refuse_edit_delete_import_export(page, fed):
    open_data(page, fed, "city1")
    city = fed.ids["city1"]
    accounts = fed.specs["city1"].range_of("system_account")
    page.locator("#set-items tbody td", has_text="Nothing here yet.").wait_for()

    # a number outside the member's account ranges: the API's refusal, inline
    page.errors.expected.update({409, 422})
    add_account(page, "99999999", "outside")
    error = page.locator("#item-form .error")
    error.wait_for(state="visible")
    assert "99999999" in error.inner_text() and "ranges" in error.inner_text()
    assert page.locator('#item-form input[name="number"]').get_attribute("aria-invalid") == "true"
    assert page.locator("#item-dialog").evaluate("d => d.open")
    page.locator('#item-form [data-role="cancel"]').click()

    # a valid one is listed; its password is never shown nor sent back
    first = accounts.number(1)
    add_account(page, first, "alice")
    page.locator("#set-items tbody tr", has_text="alice").wait_for()
    assert ACCOUNT_PASSWORD not in page.content()
    # the same number again: the clash is in scope, so it is named
    add_account(page, first, "alice2")
    error.wait_for(state="visible")
    assert first in error.inner_text() and "City" in error.inner_text(), error.inner_text()
    page.locator('#item-form [data-role="cancel"]').click()

    # edit: the password field starts empty (write-only), the display name changes
    row = page.locator("#set-items tbody tr", has_text="alice")
    row.get_by_role("button", name="Edit").click()
    form = page.locator("#item-form")
    assert form.locator('input[name="password"]').input_value() == ""
    assert form.locator('input[name="number"]').input_value() == first
    form.locator('input[name="display_name"]').fill("Alice Liddell")
    form.locator('button[type="submit"]').click()
    page.locator("#set-items tbody td", has_text="Alice Liddell").wait_for()

    # CSV import with one bad row: the row report, nothing changed
    good, bad = accounts.number(2), "12"
    csv_bad = (
        "kind,number,name,password\n"
        f"user,{good},bob,{ACCOUNT_PASSWORD}\n"
        f"user,{bad},carol,{ACCOUNT_PASSWORD}\n"
    )
    page.set_input_files(
        '#set-import input[name="file"]',
        files=[{"name": "a.csv", "mimeType": "text/csv", "buffer": csv_bad.encode()}],
    )
    page.click('#set-import button[type="submit"]')
    report = page.locator("#import-report")
    report.wait_for(state="visible")
    assert report.locator("tbody tr").count() == 1
    assert report.locator("tbody tr").first.get_attribute("data-row") == "2"
    assert "nothing was imported" in page.locator("#set-error").inner_text()
    page.reload()  # what is stored, not what the page kept
    page.locator("#set-items tbody tr", has_text="alice").wait_for()
    assert [r for r in rows(page) if "bob" in r] == []

    # a good file is imported whole
    csv_good = f"kind,number,name,password\nuser,{good},bob,{ACCOUNT_PASSWORD}\n"
    page.set_input_files(
        '#set-import input[name="file"]',
        files=[{"name": "b.csv", "mimeType": "text/csv", "buffer": csv_good.encode()}],
    )
    page.click('#set-import button[type="submit"]')
    page.locator("#set-items tbody tr", has_text="bob").wait_for()

    # filter by number or name
    page.fill("#set-filter", "bo")
    page.wait_for_function("() => document.querySelectorAll('#set-items tbody tr').length === 1")
    assert "bob" in rows(page)[0]
    page.fill("#set-filter", good)
    page.wait_for_function("() => document.querySelectorAll('#set-items tbody tr').length === 1")
    page.fill("#set-filter", "")
    page.wait_for_function("() => document.querySelectorAll('#set-items tbody tr').length === 2")
    shoot(page, "data")

    # export: a CSV of the rows, without secrets
    with page.expect_download() as dl:
        page.click("#set-export")
    text = Path(dl.value.path()).read_text(encoding="utf-8")
    lines = text.strip().splitlines()
    assert lines[0] == "kind,number,name,display_name"
    assert any(line.startswith(f"user,{first},alice,Alice Liddell") for line in lines)
    assert any(f",{good},bob," in line for line in lines)
    assert "password" not in text and ACCOUNT_PASSWORD not in text

    # delete
    bob = page.locator("#set-items tbody tr", has_text="bob")
    bob.get_by_role("button", name="Delete").click()
    # asked on the row; Escape takes it back, focus returns to the Delete button
    bob.locator('[role="alert"]', has_text="Delete").wait_for()
    page.keyboard.press("Escape")
    bob.locator('[role="alert"]').wait_for(state="detached")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')").startswith("Delete")
    bob.get_by_role("button", name="Delete").click()
    bob.locator('button[data-role="confirm"]').click()
    page.wait_for_function(
        "() => ![...document.querySelectorAll('#set-items tbody tr')].some(r => r.textContent.includes('bob'))"
    )
    assert len(rows(page)) == 1
    assert f"/data/{city}" in page.url


def _sync_cell(page, dataset: str, field: str) -> str:
    return page.locator(
        f'#sync-status tr[data-dataset="{dataset}"] td[data-field="{field}"]'
    ).inner_text()


def test_sync_now_dry_run_unsynced_and_single_sign_on(page, fed):
    city1, city2 = fed.ids["city1"], fed.ids["city2"]
    with httpx.Client(base_url=fed.base + "/api/v1") as c:
        r = c.post("/auth/login", json={"username": "admin", "password": NEW_PASSWORD})
        c.headers["x-csrf-token"] = r.json()["csrf_token"]
        for key, name in (("city1", "dave"), ("city2", "erin")):
            number = fed.specs[key].range_of("system_account").number(3)
            body = {"kind": "user", "number": number, "name": name, "password": ACCOUNT_PASSWORD}
            r = c.post(f"/members/{fed.ids[key]}/accounts", json=body)
            assert r.status_code == 201, r.text

    # the city whose server never answers is pointed out, on the page and in the tree
    open_data(page, fed, "city2", "?set=sync")
    note = page.locator("#unsynced")
    note.wait_for(state="visible")
    assert fed.specs["city2"].display_name in note.inner_text()
    assert page.locator(f'#data-tree [data-member="{city2}"] .badge').count() == 1
    page.locator("#sync-note").wait_for(state="visible")
    assert "missing from federation conferences" in page.locator("#sync-note").inner_text()

    # dry run of the chosen data set: what would change, and nothing changes
    row = page.locator('#sync-status tr[data-dataset="user_accounts"]')
    row.wait_for()
    before = page.locator("#sync-status tbody").inner_text()
    assert _sync_cell(page, "user_accounts", "acked_version") == "0"
    row.locator('input[type="checkbox"]').check()
    page.click("#sync-dry")
    result = row.locator('td[data-field="result"]')
    result.filter(has_text="everything").wait_for()
    assert "1 in all" in result.inner_text() and "0 → 1" in result.inner_text(), result.inner_text()
    # only the chosen data set was asked about
    assert _sync_cell(page, "rooms", "result") == ""
    page.click("#tab-accounts")  # away and back: the status is read again from the hub
    page.click("#tab-sync")
    page.locator('#sync-status[aria-busy="false"]').wait_for()
    assert page.locator("#sync-status tbody").inner_text() == before
    # sync now cannot reach it: said so per data set
    row.locator('input[type="checkbox"]').check()
    page.click("#sync-now")
    result.filter(has_text="link down").wait_for()

    # the bound, reachable city: sync now, the status follows until the server acknowledged
    page.locator(f'#data-tree [data-member="{city1}"] .row').click()
    page.locator("#data-member", has_text=fed.specs["city1"].display_name).wait_for()
    assert f"/data/{city1}?set=sync" in page.url
    page.click("#sync-now")
    page.wait_for_function(
        """() => { const r = document.querySelector('#sync-status tr[data-dataset="user_accounts"]');
                   return r && r.dataset.state === 'in_step'
                     && r.querySelector('[data-field="result"]').textContent !== ''; }""",
        timeout=30_000,
    )
    version = _sync_cell(page, "user_accounts", "version")
    assert version != "0" and _sync_cell(page, "user_accounts", "acked_version") == version
    assert _sync_cell(page, "user_accounts", "result") in (
        "sent",
        "in step",
        "waiting for the acknowledgement",
    )
    assert "dave" in fed.held("city1")
    # in step now: no longer pointed out, the other city still is
    page.wait_for_function(
        "name => !document.querySelector('#unsynced').textContent.includes(name)",
        arg=fed.specs["city1"].display_name,
    )
    assert fed.specs["city2"].display_name in note.inner_text()
    assert page.locator(f'#data-tree [data-member="{city1}"] .badge').count() == 0
    shoot(page, "data-sync")

    # single sign-on: the member server's admin page opens in a new tab, signed in
    with page.context.expect_page() as opened:
        page.click("#sso")
    member_page = opened.value
    member_page.wait_for_load_state()
    assert member_page.url.startswith("http://127.0.0.1:")
    assert "Signed in from the federation hub as" in member_page.inner_text("body")
    assert member_page.evaluate("window.opener") is None  # noopener
    assert fed.running.federation.members["city1"].sso_signed_in == ["admin"]
    member_page.close()


def _root_api(fed: Fed) -> httpx.Client:
    """The default admin's API session (the caller closes it)."""
    c = httpx.Client(base_url=fed.base + "/api/v1")
    r = c.post("/auth/login", json={"username": "admin", "password": NEW_PASSWORD})
    c.headers["x-csrf-token"] = r.json()["csrf_token"]
    return c


def fill_form(page, values: dict[str, str]) -> None:
    form = page.locator("#item-form")
    for name, value in values.items():
        form.locator(f'[name="{name}"]').fill(value)
    form.locator('button[type="submit"]').click()


def test_rooms_page_vmrs_and_routes_the_same_way(page, fed):
    """The other data sets through the same page: paging, VMRs, routes and their clashes."""
    open_data(page, fed, "city1", "?set=rooms")
    assert page.locator("#tab-rooms").get_attribute("aria-selected") == "true"
    assert page.locator("#kind-filter-label").is_hidden()
    page.locator("#set-items tbody td", has_text="Nothing here yet.").wait_for()
    rooms = "name,location,capacity\n" + "".join(f"room{i},floor {i % 5},{i}\n" for i in range(120))
    page.set_input_files(
        '#set-import input[name="file"]',
        files=[{"name": "rooms.csv", "mimeType": "text/csv", "buffer": rooms.encode()}],
    )
    page.click('#set-import button[type="submit"]')
    page.locator("#set-range", has_text="1–50 of 120").wait_for()
    assert len(rows(page)) == 50
    page.click("#set-next")
    page.locator("#set-range", has_text="51–100 of 120").wait_for()
    page.click("#set-next")
    page.locator("#set-range", has_text="101–120 of 120").wait_for()
    assert page.locator("#set-next").is_disabled()
    page.fill("#set-filter", "room11")  # room11, room110 … room119
    page.locator("#set-range", has_text="1–11 of 11").wait_for()
    page.fill("#set-filter", "floor 3")  # the location is searched too
    page.locator("#set-range", has_text="1–24 of 24").wait_for()
    # a value the API's schema refuses: the field by its label, marked
    page.errors.expected.add(422)
    page.click("#set-add")
    fill_form(page, {"name": "Hall", "capacity": "-5"})
    error = page.locator("#item-form .error")
    error.wait_for(state="visible")
    assert error.inner_text().startswith("Capacity: "), error.inner_text()
    assert page.locator('#item-form input[name="capacity"]').get_attribute("aria-invalid") == "true"
    page.keyboard.press("Escape")

    page.click("#tab-vmrs")
    assert "set=vmrs" in page.url
    page.locator("#set-items thead th", has_text="Number").wait_for()
    page.locator("#set-items tbody td", has_text="Nothing here yet.").wait_for()
    page.click("#set-add")
    vmr = fed.specs["city1"].range_of("vmr").number(5)
    fill_form(page, {"number": vmr, "name": "Weekly"})
    page.locator("#set-items tbody tr", has_text="Weekly").wait_for()

    page.click("#tab-routes")
    page.locator("#set-items tbody td", has_text="Nothing here yet.").wait_for()
    page.click("#set-add")
    fill_form(page, {"prefix": "0086", "destination": "gw.example", "priority": "5"})
    page.locator("#set-items tbody tr", has_text="gw.example").wait_for()
    page.errors.expected.add(409)
    page.click("#set-add")
    fill_form(page, {"prefix": "0086", "destination": "other.example"})
    error = page.locator("#item-form .error")
    error.wait_for(state="visible")
    assert "0086" in error.inner_text() and fed.specs["city1"].display_name in error.inner_text()
    assert page.locator('#item-form input[name="prefix"]').get_attribute("aria-invalid") == "true"


def test_a_city_admin_sees_only_its_subtree(page, fed):
    c = _root_api(fed)
    try:  # an account name held outside the city admin's scope
        body = {
            "kind": "user",
            "number": fed.specs["city2"].range_of("system_account").number(1),
            "name": "erin",
            "password": ACCOUNT_PASSWORD,
        }
        assert c.post(f"/members/{fed.ids['city2']}/accounts", json=body).status_code == 201
    finally:
        c.close()
    make_city_admin(fed.data_dir, "cityadmin", fed.ids["city1"])
    login(page, "cityadmin", CITY_ADMIN_PASSWORD)
    page.wait_for_url("**/topology")
    page.goto("/data")
    page.locator("#data-member", has_text=fed.specs["city1"].display_name).wait_for()
    tree = page.locator("#data-tree").inner_text()
    assert fed.specs["city1"].display_name in tree
    assert fed.specs["prov"].display_name not in tree
    assert fed.specs["city2"].display_name not in tree
    # a name taken outside its scope: only "taken", nothing about who holds it
    page.errors.expected.add(409)
    page.locator("#set-items tbody td", has_text="Nothing here yet.").wait_for()
    add_account(page, fed.specs["city1"].range_of("system_account").number(1), "erin")
    error = page.locator("#item-form .error")
    error.wait_for(state="visible")
    assert error.inner_text() == "erin is already taken."
    page.keyboard.press("Escape")
    # the province's data by URL: the refusal page, nothing of the province's
    page.errors.expected.add(404)
    resp = page.goto(f"/data/{fed.ids['prov']}")
    assert resp is not None and resp.status == 404
    assert page.locator("h1").inner_text() == "Not allowed"
    assert page.locator("#data-root").count() == 0
    # from the member's details on the federation page to its data
    page.goto("/federation")
    page.locator("#member-detail h2", has_text=fed.specs["city1"].display_name).wait_for()
    page.click("text=Its data and sync")
    page.wait_for_url(f"**/data/{fed.ids['city1']}?set=accounts")
    page.locator("#data-member", has_text=fed.specs["city1"].display_name).wait_for()
    # the tabs are reachable with the keyboard
    page.locator("#tab-accounts").focus()
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.id") == "tab-rooms"
    assert page.locator("#tab-rooms").get_attribute("aria-selected") == "true"
    assert "set=rooms" in page.url
    # every control has a label, the dialog's too
    unlabeled = """() => [...document.querySelectorAll('input, select, textarea')]
        .filter(el => el.type !== 'hidden' && !el.closest('template'))
        .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
        .map(el => el.name || el.id)"""
    assert page.evaluate(unlabeled) == []
    page.click("#set-add")
    page.locator("#item-dialog[open]").wait_for()
    assert page.evaluate(unlabeled) == []
    assert page.evaluate("document.activeElement.name") == "name"  # rooms: the first field
    page.keyboard.press("Escape")
    page.locator("#item-dialog[open]").wait_for(state="detached")
    # in Chinese
    page.select_option("#fh-lang", "zh-CN")
    page.locator('html[lang="zh-CN"]').wait_for()
    assert page.locator("h1").inner_text() == "联盟数据"
    page.locator("#data-member", has_text=fed.specs["city1"].display_name).wait_for()
    page.locator("#tab-sync").click()
    page.locator('#sync-status[aria-busy="false"]').wait_for()
    assert "用户账号" in page.locator("#sync-status").inner_text()


def test_the_conference_page_points_out_members_not_in_step(page, fed):
    """City 2's server never answers: its data is not in step, so it may be missing from
    City 1's conference; the control page names it and links to its sync status."""
    login(page, "admin", NEW_PASSWORD)
    page.wait_for_url("**/topology")
    page.goto(f"/conferences/{fed.ids['city1']}/{fed.specs['city1'].meeting}")
    note = page.locator("#unsynced")
    link = note.locator(f'a[data-member="{fed.ids["city2"]}"]')
    link.wait_for()
    assert link.inner_text() == fed.specs["city2"].display_name
    assert link.get_attribute("href") == f"/data/{fed.ids['city2']}?set=sync"
    assert note.locator(f'a[data-member="{fed.ids["city1"]}"]').count() == 0
