"""The pages read as an attacker would: hostile redirects and hostile names in a real
browser, and what a newcomer using only the keyboard meets."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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
    page.click("#fh-logout")
    page.locator('input[name="username"]').wait_for()
    hits = _trap_evil(page)
    for evil in ("/%09/evil.example/x", "/%0A/evil.example/x", "/%0d/evil.example/x"):
        page.goto(f"/?next={evil}")
        page.fill('input[name="username"]', "admin")
        page.fill('input[name="password"]', NEW_PASSWORD)
        page.click('button[type="submit"]')
        page.wait_for_url(re.compile(r".*/(topology|x)$"))
        assert page.url.startswith(hub), (evil, page.url)
        assert hits == [], hits
        page.click("#fh-logout")
        page.locator('input[name="username"]').wait_for()


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
