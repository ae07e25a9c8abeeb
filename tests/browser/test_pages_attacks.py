"""The pages read as an attacker would: hostile redirects and hostile names in a real
browser, and what a newcomer using only the keyboard meets."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from storage.admins import AdminStore, Role
from storage.db import Database, sqlite_url_for
from storage.passwords import hash_password
from tests.browser.test_pages_browser import NEW_PASSWORD, first_login, login

EVIL = "http://evil.example/"


def _trap_evil(page) -> list[str]:
    """Answer every request to evil.example locally and note it (a redirect that leaves)."""
    hits: list[str] = []

    def fulfil(route):
        hits.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<h1>evil</h1>")

    page.route(re.compile(r"^https?://evil\.example/.*"), fulfil)
    return hits


def test_login_next_with_a_tab_does_not_leave_the_hub(page, hub):
    """``/?next=/%09/evil.example/`` once navigated to ``//evil.example/`` after login."""
    first_login(page)
    hits = _trap_evil(page)
    for evil in ("/%09/evil.example/x", "/%0A/evil.example/x", "/%0d/evil.example/x"):
        page.goto("about:blank")
        page.context.clear_cookies()  # a fresh visitor (the logout has its own test)
        page.goto(f"/?next={evil}")
        page.fill('input[name="username"]', "admin")
        page.fill('input[name="password"]', NEW_PASSWORD)
        page.click('button[type="submit"]')
        page.wait_for_url(re.compile(r".*/(topology|x)$"))
        assert page.url.startswith(hub), (evil, page.url)
        assert hits == [], hits


def make_account(data_dir: Path, username: str, role: str, password: str) -> None:
    """Create an account in the live hub's database, as ``fedhub admin create`` does."""

    async def run() -> None:
        db = Database.open(sqlite_url_for(data_dir))
        try:
            await AdminStore(db).create(
                username, hash_password(password), Role(role), None, password_change_required=False
            )
        finally:
            await db.close()

    # Playwright's sync API keeps an event loop on this thread: run the store on another
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


def test_security_and_auditor_pages_ask_only_what_their_role_may_read(page, hub, tmp_path):
    """A security admin's topology asked /links every 5 s: 403, a console error each time."""
    make_account(tmp_path, "sec1", "security", "Secur1ty-Pass")
    make_account(tmp_path, "aud1", "auditor", "Aud1tor-Pass!")
    refused: list[str] = []
    page.on("response", lambda r: refused.append(r.url) if r.status == 403 else None)
    login(page, "sec1", "Secur1ty-Pass")
    page.wait_for_url("**/admins")
    for path in ("/topology", "/federation", "/admins", "/tokens"):
        page.goto(path)
        page.wait_for_load_state("networkidle")
    page.goto("/topology")
    page.locator("#topo-updated", has_text="Updated").wait_for()
    page.click("#fh-logout")
    page.locator('input[name="username"]').wait_for()
    login(page, "aud1", "Aud1tor-Pass!")
    page.wait_for_url("**/audit")
    for path in ("/audit", "/tokens"):
        page.goto(path)
        page.wait_for_load_state("networkidle")
    assert refused == []


def admin_client(hub: str) -> httpx.Client:
    """The default admin over the API (its password already changed in the browser)."""
    c = httpx.Client(base_url=hub + "/api/v1")
    r = c.post("/auth/login", json={"username": "admin", "password": NEW_PASSWORD})
    assert r.status_code == 200, r.text
    c.headers["x-csrf-token"] = r.json()["csrf_token"]
    return c


def add_member(c: httpx.Client, parent_id: int | None, name: str, domain: str, **extra) -> int:
    body = {
        "parent_id": parent_id,
        "domain": domain,
        "display_name": name,
        "username": domain.split(".")[0],
        "password": "Member-Pass1",
        **extra,
    }
    r = c.post("/members", json=body)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _tree(c: httpx.Client) -> dict[str, int]:
    prov = add_member(c, None, "Province", "prov.example.gov")
    city1 = add_member(c, prov, "City One", "city1.prov.example.gov")
    city2 = add_member(c, prov, "City Two", "city2.prov.example.gov")
    county = add_member(c, city1, "County", "county.city1.prov.example.gov")
    return {"prov": prov, "city1": city1, "city2": city2, "county": county}


def _item(page, member_id: int):
    return page.locator(f'[role="treeitem"][data-member="{member_id}"]')


def test_the_tree_keeps_selection_and_keyboard_focus_across_re_renders(page, hub):
    first_login(page)
    c = admin_client(hub)
    try:
        ids = _tree(c)
    finally:
        c.close()
    page.goto("/federation")
    page.locator("#member-detail h2", has_text="Province").wait_for()
    _item(page, ids["city2"]).locator(".row").first.click()
    page.locator("#member-detail h2", has_text="City Two").wait_for()
    # opening another branch keeps City Two selected (it went back to the first selection)
    _item(page, ids["city1"]).locator("button.twisty").first.click()
    _item(page, ids["county"]).wait_for(state="hidden")
    assert _item(page, ids["city2"]).get_attribute("aria-selected") == "true"
    assert _item(page, ids["prov"]).get_attribute("aria-selected") == "false"
    # closing the branch that holds the selection leaves a row Tab can reach
    _item(page, ids["city1"]).locator("button.twisty").first.click()
    _item(page, ids["county"]).wait_for()
    _item(page, ids["county"]).locator(".row").first.click()
    page.locator("#member-detail h2", has_text="County").wait_for()
    _item(page, ids["city1"]).locator("button.twisty").first.click()
    _item(page, ids["county"]).wait_for(state="hidden")
    assert page.locator('#member-tree [role="treeitem"][tabindex="0"]').count() == 1
    # the topology re-renders every few seconds: a keyboard user's focus stays on its row
    page.goto("/topology")
    page.locator("#topo-updated", has_text="Updated").wait_for()
    _item(page, ids["prov"]).focus()
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.dataset.member") == str(ids["city1"])
    before = page.locator("#topo-updated").inner_text()
    page.wait_for_function(
        "t => document.getElementById('topo-updated').textContent !== t", arg=before, timeout=20_000
    )
    assert page.evaluate("document.activeElement.dataset.member") == str(ids["city1"])
    assert _item(page, ids["city1"]).get_attribute("tabindex") == "0"


def test_emptying_a_field_in_the_member_form_clears_it(page, hub):
    """Emptied optional fields were left out of the PATCH: "Saved." and nothing changed."""
    first_login(page)
    c = admin_client(hub)
    try:
        prov = add_member(
            c,
            None,
            "Province",
            "prov.example.gov",
            remark="old note",
            sip_host="sip.prov.example.gov",
            sip_port=5070,
        )
        page.goto(f"/federation#member-{prov}")
        page.locator("#member-detail h2", has_text="Province").wait_for()
        page.click("#member-detail >> text=Edit")
        form = page.locator("form.member-form")
        for name in ("remark", "sip_host", "sip_port"):
            form.locator(f'input[name="{name}"]').fill("")
        form.locator('button[type="submit"]').click()
        page.locator("#fh-toast", has_text="Saved.").wait_for()
        m = c.get(f"/members/{prov}").json()
        assert (m["remark"], m["sip_host"], m["sip_port"]) == ("", None, None), m
    finally:
        c.close()


HOSTILE = "<img src=x id=xss>\"'&amp;</script><b>"


def test_hostile_names_show_as_text_on_every_page(page, hub, tmp_path):
    """Member names, remarks, token names, audit targets and reasons are admin-chosen
    text: each page shows them literally and builds no element out of them."""
    page.errors.expected.add(401)
    login(page, HOSTILE, "wrong")  # an attacker-chosen name reaches the audit log
    page.locator("#login-error").wait_for(state="visible")
    first_login(page)
    make_account(tmp_path, "aud1", "auditor", "Aud1tor-Pass!")
    c = admin_client(hub)
    try:
        prov = add_member(c, None, HOSTILE, "prov.example.gov", remark=HOSTILE)
        r = c.post(
            f"/members/{prov}/ranges",
            json={"type": "general_meeting", "start": "1000", "end": "1999", "remark": HOSTILE},
        )
        assert r.status_code == 201, r.text
        # a refused change whose reason names the member lands in the audit log
        r = c.post(
            "/members",
            json={
                "parent_id": prov,
                "domain": "prov.example.gov",
                "display_name": HOSTILE,
                "username": "again",
                "password": "Member-Pass1",
            },
        )
        assert r.status_code in (409, 422), r.text
    finally:
        c.close()

    def check(path: str, ready: str) -> None:
        page.goto(path)
        page.locator(ready, has_text=HOSTILE).first.wait_for()
        assert page.locator("#xss").count() == 0, path
        assert page.locator("main b").count() == 0, path

    check("/topology", "#topology")
    check(f"/federation#member-{prov}", "#member-detail h2")
    page.locator("#member-detail td", has_text=HOSTILE).first.wait_for()  # the range remark
    page.goto("/tokens")
    page.fill('#token-form input[name="name"]', HOSTILE[:60])
    page.click('#token-form button[type="submit"]')
    page.locator("#tokens td", has_text=HOSTILE[:60]).wait_for()
    assert page.locator("#xss").count() == 0
    page.click("#fh-logout")
    page.locator('input[name="username"]').wait_for()
    login(page, "aud1", "Aud1tor-Pass!")
    page.wait_for_url("**/audit")
    page.locator("#audit tbody tr").first.wait_for()
    assert HOSTILE in page.locator("#audit").inner_text()
    assert page.locator("#xss").count() == 0
    assert page.locator("main b").count() == 0


def test_a_failed_logout_says_so_and_stays(page, hub):
    """A logout the hub did not confirm went to "/" anyway: the live session sent the
    admin straight back in, on a shared screen, after they believed they had left."""
    first_login(page)
    page.errors.expected.add(503)
    page.route(
        "**/api/v1/auth/logout",
        lambda route: route.fulfill(
            status=503,
            content_type="application/json",
            body='{"error": {"code": "unavailable", "message": "the hub is restarting"}}',
        ),
    )
    page.click("#fh-logout")
    page.locator("#fh-toast", has_text="the hub is restarting").wait_for()
    assert page.url.endswith("/topology")
    page.unroute("**/api/v1/auth/logout")
    page.click("#fh-logout")
    page.locator('input[name="username"]').wait_for()
    page.goto("/topology")
    assert "/?next=" in page.url  # the session really ended: back to the login


def test_a_slow_member_detail_does_not_land_under_the_next_one(page, hub):
    """Choosing City Two while the province's ranges were still loading: when they came,
    the province's bind form ("this wipes its accounts") was appended under City Two's
    details, and the tree marked the province as selected again."""
    first_login(page)
    c = admin_client(hub)
    try:
        ids = _tree(c)
    finally:
        c.close()
    held = []
    prov_ranges = f"**/api/v1/members/{ids['prov']}/ranges"
    page.route(prov_ranges, lambda route: held.append(route))
    page.goto("/federation")
    page.locator("#member-detail h2", has_text="Province").wait_for()
    _item(page, ids["city2"]).locator(".row").first.click()
    page.locator("#member-detail h2", has_text="City Two").wait_for()
    page.locator("#member-detail form.bind-form").wait_for()
    assert len(held) == 1
    with page.expect_response(lambda r: r.url.endswith(f"/members/{ids['prov']}/ranges")):
        held[0].continue_()
    # one more round trip and a frame: the late answer has been handled by then
    page.evaluate("fetch('/api/v1/auth/session').then(() => new Promise(requestAnimationFrame))")
    page.unroute(prov_ranges)
    assert page.locator("#member-detail form.bind-form").count() == 1
    assert page.locator("#member-detail h2").all_inner_texts() == ["City Two"]
    assert _item(page, ids["city2"]).get_attribute("aria-selected") == "true"
    assert _item(page, ids["prov"]).get_attribute("aria-selected") == "false"
