"""The pages read as an attacker would: hostile redirects and hostile names in a real
browser, and what a newcomer using only the keyboard meets."""

from __future__ import annotations

import re

from tests.browser.test_pages_browser import NEW_PASSWORD, first_login

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
