"""The federation conference control page over the demo federation, in Chromium.

`fedhub demo --quiet` runs as a user would run it (a subprocess: hub + emulated
5-level federation, no scripted activity, so venues move only when told to). The page
must show the province conference, filter, drill down and back, mute a venue (the
row's data-* hooks follow), show a mute made through the API without a reload, and run
a one-click call with live progress — without a console error.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.browser.conftest import shoot
from tests.support.live_server import free_port

PASSWORD = "Pr0vince-Hub!"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("demo")
    port, emu = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ops.cli",
            "demo",
            "--data",
            str(data),
            "--port",
            str(port),
            "--emulator-port",
            str(emu),
            "--quiet",
            "--no-sip",
            "--cities",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 240
    for line in proc.stdout:  # the demo says when it is ready
        lines.append(line)
        if "demo is running" in line:
            break
        if time.monotonic() > deadline:
            break
    else:
        pytest.fail("demo exited:\n" + "".join(lines[-30:]))
    base = f"http://127.0.0.1:{port}"
    # drain its output from now on so it never blocks on a full pipe
    import threading

    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    try:
        with httpx.Client(base_url=base) as c:
            r = c.post("/api/v1/auth/login", json={"username": "admin", "password": "123456"})
            csrf = r.json()["csrf_token"]
            r = c.post(
                "/api/v1/auth/password",
                headers={"x-csrf-token": csrf},
                json={"old_password": "123456", "new_password": PASSWORD},
            )
            assert r.status_code == 204, r.text
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def control(browser, demo):
    """A logged-in page on the province conference's control page."""
    from tests.browser.conftest import PageErrors

    context = browser.new_context(
        base_url=demo, locale="en-US", viewport={"width": 1400, "height": 900}
    )
    pg = context.new_page()
    errors = PageErrors()
    pg.on("console", lambda m: errors.console(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    pg.set_default_timeout(30_000)
    pg.goto("/")
    pg.fill('input[name="username"]', "admin")
    pg.fill('input[name="password"]', PASSWORD)
    pg.click('button[type="submit"]')
    pg.wait_for_url("**/topology")
    roots = pg.evaluate("fetch('/api/v1/live/federation-conferences').then(r => r.json())")
    root = roots["conferences"][0]
    pg.goto(f"/conferences/{root['member_id']}/{root['conference']}")
    pg.locator(".vrow[data-venue]").first.wait_for()
    pg.locator('#conn[data-state="open"]').wait_for()
    pg.root = root  # type: ignore[attr-defined]
    yield pg
    context.close()
    assert list(errors) == [], errors


def visible_rows(pg):
    return pg.locator(".vrow[data-venue]:not([hidden])")


def test_control_list_filters_and_drill_down(control):
    pg = control
    shoot(pg, "conference")
    first = visible_rows(pg).first
    for hook in ("data-venue", "data-status", "data-muted", "data-camera"):
        assert first.get_attribute(hook) is not None, hook
    assert first.get_attribute("data-status") in ("joined", "not_joined", "ringing", "failed")
    assert first.get_attribute("data-muted") in ("true", "false")
    assert first.get_attribute("data-camera") in ("on", "off")
    # status filter: only failed venues
    for s in ("joined", "not_joined", "ringing"):
        pg.uncheck(f'#status-filter input[value="{s}"]')
    pg.wait_for_function(
        "[...document.querySelectorAll('.vrow[data-venue]:not([hidden])')].every(r => r.dataset.status === 'failed')"
    )
    for s in ("joined", "not_joined", "ringing"):
        pg.check(f'#status-filter input[value="{s}"]')
    # member filter: tick the first city; every row shown is that city or below it
    city = pg.locator("#conf-members input").nth(1)
    city_id = city.get_attribute("value")
    city.check()
    # the province's own venues are gone; the city's remain
    pg.wait_for_function(
        """([root, city]) => {
             const rows = [...document.querySelectorAll('.vrow[data-venue]:not([hidden])')];
             return rows.length > 0 && rows.every(r => !r.dataset.venue.startsWith(`${root}/`))
               && rows.some(r => r.dataset.venue.startsWith(`${city}/`)); }""",
        arg=[pg.root["member_id"], city_id],
    )
    city.uncheck()
    # drill down into a subordinate conference and back by the breadcrumb
    sub = pg.locator("#sub-conferences a").first
    sub.click()
    pg.wait_for_url("**/conferences/**trail=*")
    pg.locator('#conn[data-state="open"]').wait_for()
    pg.locator(".vrow[data-venue]").first.wait_for()
    back = pg.locator("#breadcrumb a").first
    back.click()
    pg.wait_for_url(f"**/conferences/{pg.root['member_id']}/{pg.root['conference']}")
    pg.locator('#conn[data-state="open"]').wait_for()


def _joined_unmuted(pg):
    return pg.locator('.vrow[data-status="joined"][data-muted="false"]:not([hidden])')


def test_mute_from_the_page_and_from_the_api(control):
    pg = control
    # from the page: select one joined, unmuted venue and mute it (the emulator fails 1 %
    # of commands on purpose: then the row shows the reason and we try another venue)
    for _attempt in range(3):
        row = _joined_unmuted(pg).first
        key = row.get_attribute("data-venue")
        row.locator('input[type="checkbox"]').check()
        pg.click('button[data-kind="mute"]')
        pg.wait_for_function(
            """(k) => { const r = document.querySelector(`.vrow[data-venue="${k}"]`);
                 return r && (r.dataset.muted === 'true' || r.dataset.result === 'failed'); }""",
            arg=key,
        )
        target = pg.locator(f'.vrow[data-venue="{key}"]')
        target.locator('input[type="checkbox"]').uncheck()
        if target.get_attribute("data-muted") == "true":
            break
    else:
        pytest.fail("three mutes failed")
    assert (
        "done" in target.locator(".result").inner_text()
        or target.get_attribute("data-result") == "ok"
    )
    # through the API, as another operator would: the row follows without a reload
    row = _joined_unmuted(pg).nth(1)
    key = row.get_attribute("data-venue")
    member, conference, venue = key.split("/", 2)
    for _attempt in range(3):
        res = pg.evaluate(
            """async ([m, c, v]) => {
                 const csrf = document.querySelector('meta[name="csrf-token"]').content;
                 const r = await fetch(`/api/v1/live/members/${m}/commands`, {method: 'POST',
                   headers: {'content-type': 'application/json', 'x-csrf-token': csrf},
                   body: JSON.stringify({kind: 'mute', conference: c, venue: v})});
                 return await r.json(); }""",
            [member, conference, venue],
        )
        if res.get("status") == "ok":
            break
    assert res.get("status") == "ok", res
    pg.locator(f'.vrow[data-venue="{key}"][data-muted="true"]').wait_for()


def test_hang_up_asks_in_a_dialog_first(control):
    pg = control
    for _attempt in range(3):  # the emulator fails 1 % of commands on purpose
        row = pg.locator('.vrow[data-status="joined"]:not([hidden])').first
        key = row.get_attribute("data-venue")
        before = row.get_attribute("data-result")
        row.locator('input[type="checkbox"]').check()
        pg.click('button[data-kind="hang_up"]')
        dialog = pg.locator("dialog[open]")
        dialog.wait_for()
        assert "1" in dialog.inner_text()  # "Hang up 1 venues?"
        # Cancel has the focus (a stray Enter hangs nobody up) and changes nothing
        assert dialog.locator('[data-role="cancel"]').evaluate("b => b === document.activeElement")
        dialog.locator('[data-role="cancel"]').click()
        dialog.wait_for(state="detached")
        # a command sent would mark the row pending at the next animation frame
        pg.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        target = pg.locator(f'.vrow[data-venue="{key}"]')
        assert target.get_attribute("data-status") == "joined"
        assert target.get_attribute("data-result") == before
        pg.click('button[data-kind="hang_up"]')
        pg.locator('dialog[open] [data-role="confirm"]').click()
        pg.wait_for_function(
            """(k) => { const r = document.querySelector(`.vrow[data-venue="${k}"]`);
                 return r && (r.dataset.status !== 'joined' || r.dataset.result === 'failed'); }""",
            arg=key,
        )
        target.locator('input[type="checkbox"]').uncheck()
        if target.get_attribute("data-status") != "joined":
            break
    else:
        pytest.fail("three hang-ups failed")


def test_one_click_call_shows_progress(control):
    pg = control
    pg.click("#call-all")
    dialog = pg.locator("#call-dialog")
    dialog.wait_for()
    assert dialog.locator("#call-members input").count() > 0
    pg.click("#call-start")
    rows = dialog.locator("#call-progress tbody tr")
    rows.first.wait_for()
    assert rows.count() >= 1
    statuses = {rows.nth(i).get_attribute("data-status") for i in range(rows.count())}
    assert statuses <= {"calling", "acknowledged", "failed", "timeout"}, statuses
    shoot(pg, "one-click-call")
    pg.wait_for_function("document.querySelector('#call-progress p').textContent.length > 0")
