"""Password reset by mail, the settings sections, the admins' reset dialog, a polling
page idling out and the language of a shared machine — in a real browser against a
live hub (and a real SMTP server for the mail)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from dashboards.services import HubConfig
from ops.hub import create_hub_app
from tests.browser.conftest import shoot
from tests.browser.test_pages_attacks import make_account
from tests.browser.test_pages_browser import NEW_PASSWORD, first_login, login
from tests.support.live_server import live_hub
from tests.support.smtp import smtp_server

RESET_PASSWORD = "Reset-By-Mail7"


def api(page, method: str, path: str, body: object = None) -> dict:
    """Call the API from the page, as its scripts do (session cookie + CSRF token)."""
    return page.evaluate(
        """async ([method, path, body]) => {
             const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
             const r = await fetch('/api/v1' + path, {method, headers: {'content-type':
               'application/json', 'x-csrf-token': csrf}, body: body === null ? undefined :
               JSON.stringify(body)});
             return {status: r.status, body: r.status === 204 ? null : await r.json()};
           }""",
        [method, path, body],
    )


def logout(page) -> None:
    # a refresh still in flight when the session ends would be answered 401
    page.wait_for_load_state("networkidle")
    page.click("#fh-logout")
    page.locator("#login-form").wait_for()
    page.wait_for_load_state("load")  # the login script listens (the chooser reloads)


def open_settings(page) -> None:
    """/settings with every section filled from the hub (typing earlier gets overwritten)."""
    page.goto("/settings")
    for form in page.locator("form.section-form").all():
        expect(form).to_have_attribute("data-state", "ready")


def save(form) -> None:
    """Submit and wait until the page has shown the answer (the button is disabled from
    the submit until then)."""
    button = form.locator('button[type="submit"]')
    button.click()
    expect(button).to_be_enabled()


UNLABELED = """() => [...document.querySelectorAll('input, select, textarea')]
    .filter(el => el.type !== 'hidden' && !el.closest('template'))
    .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
    .map(el => el.name || el.id)"""


# --- password reset by mail ------------------------------------------------------------


def test_forgot_and_reset_password_by_mail_end_to_end(page, hub, tmp_path):
    page.errors.expected.update({400, 422, 429})
    with smtp_server(tmp_path, login=False) as smtp:
        first_login(page)
        # no mail yet: the login page offers no "forgot password"
        open_settings(page)
        mail = page.locator("#mail-form")
        mail.locator('input[name="host"]').fill(smtp.host)
        mail.locator('input[name="port"]').fill(str(smtp.port + 1))  # the wrong port first
        mail.locator('select[name="security"]').select_option("none")
        mail.locator('input[name="sender"]').fill("hub@prov.example")
        save(mail)
        page.locator("#mail-password-state", has_text="No password is stored").wait_for()
        test = page.locator("#mail-test-form")
        test.locator('input[name="to"]').fill("ops@prov.example")
        save(test)
        failure = test.locator(".error")
        failure.wait_for(state="visible")
        assert "Test failed" in failure.inner_text()
        assert str(smtp.port + 1) in failure.inner_text() or "refused" in failure.inner_text()
        mail.locator('input[name="port"]').fill(str(smtp.port))
        save(mail)
        page.locator("#fh-toast", has_text="Saved").wait_for()
        save(test)
        assert test.locator(".error").is_hidden(), test.locator(".error").inner_text()
        page.locator("#mail-test-result", has_text="Test succeeded").wait_for()
        smtp.inbox.wait(1)
        assert smtp.inbox.messages[0]["To"] == "ops@prov.example"
        # the link in reset mails is built from the access URL: this hub's address
        access = page.locator("#access-form")
        access.locator('input[name="intranet_url"]').fill(hub)
        save(access)
        page.locator("#fh-toast", has_text="Saved").wait_for()
        page.locator("#mail").evaluate("el => el.scrollIntoView()")
        shoot(page, "settings-mail")
        # the admin's own mail address, on the password page (asks the password)
        page.goto("/password")
        expect(page.locator("#email-form")).to_have_attribute("data-state", "ready")
        page.fill("#email", "root@prov.example")
        page.fill("#email_password", NEW_PASSWORD)
        page.click('#email-form button[type="submit"]')
        page.locator("#fh-toast", has_text="Saved").wait_for()
        logout(page)

        # forgot: the link is there now; the answer is the same for anyone named
        page.click("#forgot-link")
        page.wait_for_url("**/forgot")
        shoot(page, "forgot")
        answers = []
        for name in ("ghost", "admin"):
            page.fill("#username", name)
            page.click('#forgot-form button[type="submit"]')
            done = page.locator("#forgot-done")
            done.wait_for(state="visible")
            answers.append(done.inner_text())
            page.evaluate("document.getElementById('forgot-done').hidden = true")
        assert answers[0] == answers[1] and "If this account exists" in answers[0]
        smtp.inbox.wait(2)
        msg = smtp.inbox.messages[1]
        assert msg["To"] == "root@prov.example"
        body = msg.get_payload(decode=True).decode()
        link = re.search(r"(http://\S+/reset-password#token=\S+)", body)
        assert link, body
        url = link.group(1)
        assert url.startswith(hub)

        # the reset page: the token leaves the address bar; rules are enforced
        page.goto(url)
        page.locator("#new_password").wait_for()
        assert "token" not in page.url
        shoot(page, "reset-password")
        page.fill("#new_password", RESET_PASSWORD)
        page.fill("#new_password2", RESET_PASSWORD + "x")
        page.click('#reset-form button[type="submit"]')
        assert "differ" in page.locator("#reset-error").inner_text()
        page.fill("#new_password", "admin")
        page.fill("#new_password2", "admin")
        page.click('#reset-form button[type="submit"]')
        page.locator("#reset-error", has_text="does not meet the rules").wait_for()
        page.fill("#new_password", RESET_PASSWORD)
        page.fill("#new_password2", RESET_PASSWORD)
        page.click('#reset-form button[type="submit"]')
        page.locator("#reset-done").wait_for(state="visible")

        # log in with it (the old one is gone)
        page.errors.expected.add(401)
        login(page, "admin", NEW_PASSWORD)
        page.locator("#login-error").wait_for(state="visible")
        login(page, "admin", RESET_PASSWORD)
        page.wait_for_url("**/topology")
        logout(page)

        # the used link is refused, clearly
        page.goto(url)
        page.fill("#new_password", RESET_PASSWORD + "2")
        page.fill("#new_password2", RESET_PASSWORD + "2")
        page.click('#reset-form button[type="submit"]')
        err = page.locator("#reset-error")
        err.wait_for(state="visible")
        assert "already used or expired" in err.inner_text()
        assert page.locator("#reset-form").is_hidden()
        # a link without its token says so
        page.goto("/reset-password")
        page.locator("#reset-missing").wait_for(state="visible")

        # asking again and again from one address: told how long to wait
        page.goto("/forgot")
        for _ in range(8):
            page.fill("#username", "ghost")
            page.click('#forgot-form button[type="submit"]')
            page.wait_for_function(
                "() => !document.querySelector('#forgot-form button[type=submit]').disabled"
            )
            if page.locator("#forgot-error").is_visible():
                break
        assert re.search(r"try again in \d+ s", page.locator("#forgot-error").inner_text())


# --- settings sections -----------------------------------------------------------------


def test_settings_sections_save_and_backups_are_made_downloaded_and_deleted(page):
    first_login(page)
    open_settings(page)
    for section in ("redirect", "mail", "quotas", "backups", "sync", "numbering", "access", "live"):
        assert page.locator(f"#{section} h2").is_visible(), section
        assert page.locator(f"#{section} .error").first.is_hidden(), section
    assert page.evaluate(UNLABELED) == []
    # the SMTP password is stored, never shown again
    mail = page.locator("#mail-form")
    mail.locator('input[name="host"]').fill("smtp.prov.example")
    mail.locator('input[name="port"]').fill("587")
    mail.locator('input[name="username"]').fill("mailer")
    mail.locator('input[name="password"]').fill("Sm7p-Secret-Value")
    save(mail)
    page.locator("#mail-password-state", has_text="A password is stored").wait_for()
    assert mail.locator('input[name="password"]').input_value() == ""
    stored = api(page, "GET", "/settings/mail")
    assert stored["body"]["settings"]["password_set"] is True
    assert "Sm7p-Secret-Value" not in str(stored) and "Sm7p-Secret-Value" not in page.content()
    # quotas: current use and the audit note
    assert re.search(r"Logs: [\d.,]+ MiB used of [\d,]+ MiB", page.inner_text("#logs-usage"))
    assert "180 days" in page.inner_text("#quotas .notice")
    quotas = page.locator("#quotas-form")
    quotas.locator('input[name="logs_mib"]').fill("2048")
    save(quotas)
    page.locator("#fh-toast", has_text="Saved").wait_for()
    page.errors.expected.add(422)
    quotas.locator('input[name="audit_days"]').fill("30")  # below 180: refused, said why
    save(quotas)
    quotas.locator(".error").wait_for(state="visible")
    assert "180" in quotas.locator(".error").inner_text()
    # sync, live, numbering, schedule
    sync = page.locator("#sync-form")
    sync.locator('input[name="interval_s"]').fill("900")
    save(sync)
    live = page.locator("#live-form")
    live.locator('input[name="journal_max_age_days"]').fill("14")
    save(live)
    schedule = page.locator("#schedule-form")
    schedule.locator('input[name="enabled"]').check()
    schedule.locator('input[name="at"]').fill("03:15")
    schedule.locator('input[name="keep"]').fill("5")
    save(schedule)
    numbering = page.locator("#numbering-form")
    numbering.locator('input[name="max_scoped_range"]').fill("5000")
    save(numbering)
    page.wait_for_load_state("networkidle")
    page.reload()
    for form in page.locator("form.section-form").all():
        expect(form).to_have_attribute("data-state", "ready")
    assert mail.locator('input[name="password"]').input_value() == ""
    page.locator("#mail-password-state", has_text="A password is stored").wait_for()
    assert quotas.locator('input[name="logs_mib"]').input_value() == "2048"
    assert sync.locator('input[name="interval_s"]').input_value() == "900"
    assert live.locator('input[name="journal_max_age_days"]').input_value() == "14"
    assert schedule.locator('input[name="at"]').input_value() == "03:15"
    assert schedule.locator('input[name="enabled"]').is_checked()
    assert numbering.locator('input[name="max_scoped_range"]').input_value() == "5000"
    # a backup with a name: listed, downloaded, deleted after a confirmation
    backup = page.locator("#backup-form")
    backup.locator('input[name="name"]').fill("before-upgrade")
    save(backup)
    row = page.locator('#backup-list tr[data-backup="before-upgrade"]')
    row.wait_for()
    page.locator("#backups").evaluate("el => el.scrollIntoView()")
    shoot(page, "settings-backups")
    with page.expect_download() as dl:
        row.locator('[data-action="download"]').click()
    path = dl.value.path()
    assert path is not None and Path(path).stat().st_size > 0
    row.locator('[data-action="delete"]').click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    dialog.get_by_role("button", name="Cancel").click()
    assert row.is_visible()
    row.locator('[data-action="delete"]').click()
    page.get_by_role("dialog").locator('[data-role="confirm"]').click()
    row.wait_for(state="detached")


# --- the admins' reset dialog ------------------------------------------------------------


def test_security_admin_resets_a_password_in_a_dialog_never_a_prompt(page, hub, tmp_path):
    make_account(tmp_path, "sec1", "security", "Secur1ty-Pass")
    make_account(tmp_path, "sec2", "security", "Secur1ty-Pass2")
    make_account(tmp_path, "op1", "admin", "Operat0r-Pass")
    native: list[str] = []
    page.on("dialog", lambda d: (native.append(d.type), d.dismiss()))
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    login(page, "sec1", "Secur1ty-Pass")
    page.wait_for_url("**/admins")
    row = page.locator("#admins tbody tr", has_text="op1")
    row.wait_for()
    reset = row.locator('[data-action="reset"]')
    reset.click()
    dialog = page.get_by_role("dialog", name="Reset the password of op1")
    dialog.wait_for()
    # keyboard: Esc closes it and the focus goes back to the button that opened it
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")
    assert page.evaluate("document.activeElement.dataset.action") == "reset"
    # typed twice, and they differ: said so, nothing sent
    reset.click()
    dialog.get_by_label("Type one").check()
    dialog.get_by_label("New password", exact=True).fill("Typed-Pass1")
    dialog.get_by_label("New password again").fill("Typed-Pass2")
    dialog.get_by_role("button", name="Reset password").click()
    assert "differ" in dialog.locator(".error").inner_text()
    dialog.get_by_role("button", name="Cancel").click()
    dialog.wait_for(state="detached")
    # generated: shown once, with a copy button
    reset.click()
    dialog.get_by_role("button", name="Reset password").click()
    shown = dialog.get_by_label("Generated password")
    shown.wait_for()
    password = shown.input_value()
    assert len(password) == 16
    shoot(page, "admins-reset")
    dialog.get_by_role("button", name="Copy").click()
    page.locator("#fh-toast", has_text=re.compile("Copied|copy it")).wait_for()
    dialog.get_by_role("button", name="Done").click()
    dialog.wait_for(state="detached")
    row.locator("td", has_text="approval").wait_for()
    # the one who set it cannot approve it; a second security admin can
    page.errors.expected.add(403)
    row.get_by_role("button", name="Approve").click()
    page.locator("#fh-toast", has_text="another security admin").wait_for()
    logout(page)
    login(page, "sec2", "Secur1ty-Pass2")
    page.wait_for_url("**/admins")
    row = page.locator("#admins tbody tr", has_text="op1")
    row.get_by_role("button", name="Approve").click()
    row.locator("td", has_text="must change password").wait_for()
    logout(page)
    # the operator logs in with the generated password and must change it
    login(page, "op1", password)
    page.wait_for_url("**/password")
    assert native == [], native


# --- a polling page idles out --------------------------------------------------------------


def polled_members(response) -> bool:
    return response.url.endswith("/api/v1/members")


class Clock:
    """The hub's session clock, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime.now().astimezone()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def clocked_hub(tmp_path: Path) -> Iterator[tuple[str, Clock]]:
    app = create_hub_app(HubConfig(data_dir=tmp_path, ip_failures_per_window=100))
    clock = Clock()
    app.state.services.sessions.clock = clock
    with live_hub(HubConfig(), app) as base:
        yield base, clock


def test_topology_left_polling_still_idles_out(browser, clocked_hub):
    base, clock = clocked_hub
    context = browser.new_context(base_url=base, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on(
        "console",
        lambda m: (
            errors.append(m.text) if m.type == "error" and "status of 401" not in m.text else None
        ),
    )
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.clock.install()  # the page's timers move when the test says
        first_login(page)
        page.locator("#topo-updated", has_text="Updated").wait_for()
        marked: list[str] = []
        page.on(
            "request",
            lambda r: marked.append(r.url) if r.headers.get("x-fedhub-background") == "1" else None,
        )

        def poll() -> int:
            """Let the page's 5 s timer fire once; the status /members answered. A cycle
            is over when the page shows its new time (then the next timer is set)."""
            before = page.inner_text("#topo-updated")
            with page.expect_response(polled_members) as polled:
                page.clock.run_for(5_000)
            status = polled.value.status
            if status == 200:
                page.wait_for_function(
                    "t => document.getElementById('topo-updated').textContent !== t", arg=before
                )
            return status

        # 20 minutes later the page refreshes itself: still logged in...
        clock.advance(minutes=20)
        assert poll() == 200
        assert any(u.endswith("/api/v1/members") for u in marked), marked
        clock.advance(minutes=5, seconds=30)
        assert poll() == 200
        # ...and 31 minutes after the admin's last act (polls in between) it is over
        clock.advance(minutes=5, seconds=30)
        assert poll() == 401
        page.locator('input[name="username"]').wait_for()  # sent to the login
        assert page.url.endswith("/?next=%2Ftopology"), page.url
        assert errors == [], errors
    finally:
        context.close()


# --- the language of a shared machine --------------------------------------------------------


def test_the_previous_admins_language_does_not_overwrite_the_next_admins(page, tmp_path):
    make_account(tmp_path, "ops", "admin", "Operat0r-Pass")
    first_login(page)
    page.select_option("#fh-lang", "zh-CN")  # the admin's own choice, stored
    page.locator('html[lang="zh-CN"]').wait_for()
    logout(page)
    # the next person at this machine chooses English on the login page, explicitly
    assert page.locator("html").get_attribute("lang") == "zh-CN"  # the cookie
    page.select_option("#lang", "en")
    page.locator('html[lang="en"]').wait_for()
    login(page, "ops", "Operat0r-Pass")
    page.wait_for_url("**/topology")
    assert page.locator("html").get_attribute("lang") == "en"
    assert api(page, "GET", "/preferences")["body"] == {"locale": "en"}
    logout(page)
    # the admin logs in after them without touching the chooser: its own language wins,
    # and its stored choice is not overwritten by the cookie the other one left
    assert page.locator("html").get_attribute("lang") == "en"
    login(page, "admin", NEW_PASSWORD)
    page.wait_for_url("**/topology")
    page.locator('html[lang="zh-CN"]').wait_for()
    assert api(page, "GET", "/preferences")["body"] == {"locale": "zh-CN"}
    # link states are translated through the catalog on its pages
    labels = page.evaluate(
        """async () => {
             const m = await import('/static/js/linkstate.js');
             return ['up', 'connecting', 'syncing', 'down', 'stopped', 'misconfigured', null]
               .map((s) => m.linkStateLabel(s));
           }"""
    )
    assert labels == ["链路正常", "连接中", "同步中", "链路中断", "已停止", "配置错误", "未绑定"], (
        labels
    )


# --- accessibility of the public pages --------------------------------------------------------


def test_forgot_and_reset_pages_are_labelled_and_reached_by_keyboard(page, hub):
    first_login(page)
    assert (
        api(page, "PATCH", "/settings/mail", {"host": "127.0.0.1", "port": 2525})["status"] == 200
    )
    assert api(page, "PATCH", "/settings/access", {"intranet_url": hub})["status"] == 200
    page.goto("/password")
    assert page.evaluate(UNLABELED) == []
    logout(page)
    # the login's "forgot password?" comes after the submit button in the tab order
    page.focus("#username")
    order = []
    for _ in range(4):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id || document.activeElement.type"))
    assert order == ["password", "lang", "submit", "forgot-link"], order
    page.keyboard.press("Enter")
    page.wait_for_url("**/forgot")
    assert page.evaluate("document.activeElement.id") == "username"  # autofocus
    assert page.evaluate(UNLABELED) == []
    page.goto("/reset-password#token=abc")
    assert page.evaluate(UNLABELED) == []
    assert page.evaluate("document.activeElement.id") == "new_password"
    assert page.get_attribute("#new_password", "aria-describedby") == "pw-rules"
    assert page.evaluate("location.hash") == ""  # the token left the address bar
