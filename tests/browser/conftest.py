"""Browser fixtures: Debian's Chromium driven by Playwright against a live hub.

Chromium comes from apt (`.ci/run` installs it); Playwright cannot download a browser
here, so it is launched with ``executable_path=shutil.which("chromium")``. Without
Chromium the browser tests are skipped, unless ``FEDHUB_REQUIRE_BROWSER=1`` (CI sets
it) turns that into a failure. Every page a test opens is checked for console errors
and failed requests when the test ends.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboards.services import HubConfig
from tests.support.live_server import live_hub

SCREENSHOTS = os.environ.get("FEDHUB_SCREENSHOTS")  # a folder: save the main pages there


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module. Playwright's sync API keeps an event loop running on
    this thread while it is open, and every later ``asyncio.run`` (the PostgreSQL
    fixtures, the storage tests) then fails: a session-wide browser broke every test that
    ran after the browser tests in one pytest run."""
    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("FEDHUB_REQUIRE_BROWSER"):
            pytest.fail("FEDHUB_REQUIRE_BROWSER is set but chromium is not installed")
        pytest.skip("no chromium: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[str]:
    """A hub on a loopback port with its own SQLite data directory; yields its URL."""
    config = HubConfig(data_dir=tmp_path, ip_failures_per_window=100)
    with live_hub(config) as base:
        yield base


class PageErrors(list[str]):
    """Console errors, uncaught exceptions and failed requests seen by one page.

    Chromium logs every HTTP error answer of a fetch as a console error; a test that
    provokes one on purpose (a refused login, a conflicting range) names its status in
    ``expected`` and only those are let through.
    """

    def __init__(self) -> None:
        super().__init__()
        self.expected: set[int] = set()

    def console(self, text: str) -> None:
        for status in self.expected:
            if f"the server responded with a status of {status}" in text:
                return
        self.append(f"console error: {text}")


@pytest.fixture
def page(browser, hub):
    context = browser.new_context(
        base_url=hub, locale="en-US", viewport={"width": 1280, "height": 800}
    )
    pg = context.new_page()
    errors = PageErrors()
    pg.on("console", lambda m: errors.console(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    # a navigation cancels the page's fetches in flight (ERR_ABORTED): not a failure
    pg.on(
        "requestfailed",
        lambda r: (
            None
            if "ERR_ABORTED" in str(r.failure)
            else errors.append(f"request failed: {r.url} {r.failure}")
        ),
    )
    pg.errors = errors  # type: ignore[attr-defined]
    pg.set_default_timeout(15_000)
    yield pg
    context.close()
    assert list(errors) == [], errors


def shoot(page, name: str) -> None:
    """Save a screenshot of the page for the docs when FEDHUB_SCREENSHOTS names a folder."""
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=False)
