"""The pages in a real browser: log in, change the default password, switch language,
administer the federation (a conflicting range shows its message), keyboard and
accessibility basics, no console errors anywhere."""

from __future__ import annotations

import re

from tests.browser.conftest import shoot

NEW_PASSWORD = "Pr0vince-Hub!"


def login(page, username="admin", password="123456"):
    page.goto("/")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', password)
    page.click('button[type="submit"]')


def first_login(page):
    """The default account: log in, forced to /password, change it, land on /topology."""
    login(page)
    page.wait_for_url("**/password")
    page.fill("#old_password", "123456")
    page.fill("#new_password", NEW_PASSWORD)
    page.fill("#new_password2", NEW_PASSWORD)
    page.click('#password-form button[type="submit"]')
    page.wait_for_url("**/topology")


def test_login_change_password_and_log_out(page):
    page.goto("/")
    shoot(page, "login")
    page.errors.expected.add(401)
    login(page, "admin", "wrong-password")
    err = page.locator("#login-error")
    err.wait_for(state="visible")
    assert "Wrong username or password" in err.inner_text()
    first_login(page)
    assert page.locator("h1").inner_text() == "Topology"
    # the old password is gone for good
    page.click("#fh-logout")
    page.wait_for_url(re.compile(r"^[^?]*/(\?.*)?$"))
    page.locator('input[name="username"]').wait_for()
    login(page, "admin", "123456")
    page.locator("#login-error").wait_for(state="visible")
    login(page, "admin", NEW_PASSWORD)
    page.wait_for_url("**/topology")


def test_switch_language_to_chinese_and_it_is_remembered(page, browser, hub):
    first_login(page)
    page.select_option("#fh-lang", "zh-CN")
    page.wait_for_load_state("load")
    page.locator('html[lang="zh-CN"]').wait_for()
    nav = page.locator("header nav").inner_text()
    assert "拓扑" in nav and "联盟管理" in nav
    assert page.locator("h1").inner_text() == "拓扑"
    # a new browser (no cookie) logging in as the same admin gets Chinese: stored per admin
    other = browser.new_context(base_url=hub, locale="en-US")
    try:
        p2 = other.new_page()
        p2.goto("/")
        assert p2.locator("html").get_attribute("lang") == "en"
        p2.fill('input[name="username"]', "admin")
        p2.fill('input[name="password"]', NEW_PASSWORD)
        p2.click('button[type="submit"]')
        p2.wait_for_url("**/topology")
        assert p2.locator("html").get_attribute("lang") == "zh-CN"
    finally:
        other.close()


def test_add_members_and_a_conflicting_range_shows_its_message(page):
    first_login(page)
    page.goto("/federation")
    page.click("#add-root")
    form = page.locator("form.member-form")
    form.locator('input[name="domain"]').fill("prov.example.gov")
    form.locator('input[name="display_name"]').fill("Province")
    form.locator('input[name="username"]').fill("prov")
    form.locator('input[name="password"]').fill("Member-Pass1")
    form.locator('button[type="submit"]').click()
    page.locator("#member-detail h2", has_text="Province").wait_for()
    ranges = page.locator("form.range-form")
    ranges.locator('select[name="type"]').select_option("general_meeting")
    ranges.locator('input[name="start"]').fill("1000")
    ranges.locator('input[name="end"]').fill("1999")
    ranges.locator('button[type="submit"]').click()
    page.locator("table.list td", has_text="1999").wait_for()
    # a city under it
    page.click("text=Add a member below")
    form = page.locator("form.member-form")
    form.locator('input[name="domain"]').fill("city1.prov.example.gov")
    form.locator('input[name="display_name"]').fill("City One")
    form.locator('input[name="username"]').fill("city1")
    form.locator('input[name="password"]').fill("Member-Pass1")
    form.locator('button[type="submit"]').click()
    page.locator("#member-detail h2", has_text="City One").wait_for()
    shoot(page, "federation")
    # a range of the city overlapping the province's: refused, the message names the range
    page.errors.expected.update({409, 422})
    ranges = page.locator("form.range-form")
    ranges.locator('select[name="type"]').select_option("system_account")
    ranges.locator('input[name="start"]').fill("1500")
    ranges.locator('input[name="end"]').fill("2500")
    ranges.locator('button[type="submit"]').click()
    error = ranges.locator(".error")
    error.wait_for(state="visible")
    text = error.inner_text()
    assert "1000" in text or "1500" in text, text
    # the tree shows both, and the city can be reached with the keyboard
    tree = page.locator("#member-tree")
    assert "City One" in tree.inner_text()


def test_every_page_for_its_role_without_console_errors_and_with_labels(page):
    first_login(page)
    for path, name in (
        ("/topology", "topology"),
        ("/federation", "federation-empty"),
        ("/settings", "settings"),
        ("/tokens", "tokens"),
    ):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        if name in ("settings", "topology"):
            shoot(page, name)
        unlabeled = page.evaluate(
            """() => [...document.querySelectorAll('input, select, textarea')]
                 .filter(el => el.type !== 'hidden' && !el.closest('template'))
                 .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
                 .map(el => el.name || el.id)"""
        )
        assert unlabeled == [], (path, unlabeled)
    # tokens: make one, its secret is shown once
    page.goto("/tokens")
    page.fill('#token-form input[name="name"]', "script")
    page.click('#token-form button[type="submit"]')
    page.locator("#token-value").wait_for(state="visible")
    assert page.locator("#token-value").inner_text().startswith("fh_")
    page.locator("#tokens tbody tr", has_text="script").wait_for()


def test_keyboard_reaches_the_login_form(page):
    page.goto("/")
    assert page.evaluate("document.activeElement.name") == "username"  # autofocus
    order = []
    for _ in range(3):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.name || document.activeElement.type"))
    assert order == ["password", "lang", "submit"]
    # focus is visible
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.type("admin")
    assert page.input_value('input[name="username"]') == ""  # typed into the chooser, not the name
