"""The pages over HTTP (no browser): who may open what, CSP, languages, the catalog."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import orjson
import pytest
from babel.messages.extract import extract_from_dir
from sqlalchemy import text

from dashboards.pages import PAGE_CSP, PAGES
from dashboards.pages.i18n import messages, pick
from tests.dashboards.conftest import Api, make_admin

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "dashboards" / "templates"
SCRIPTS = ROOT / "dashboards" / "static" / "js"


def _page(api: Api, path: str, **kw):
    api.c.cookies.clear()
    for k, v in api.jar.items():
        api.c.cookies.set(k, v)
    return api.c.get(path, follow_redirects=False, **kw)


def test_anonymous_gets_the_login_and_nothing_else(client):
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert 'name="username"' in r.text and 'name="password"' in r.text
    for p in PAGES:
        path = p.path.replace("{member_id:int}", "1").replace("{number}", "100")
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/?next=")


def test_pages_have_a_csp_without_inline_scripts(client, root):
    r = _page(root, "/topology")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert csp == PAGE_CSP
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers["x-frame-options"] == "DENY"
    # the only inline <script> elements are JSON data, never code
    for m in re.finditer(r"<script(?P<attrs>[^>]*)>", r.text):
        attrs = m.group("attrs")
        assert "src=" in attrs or 'type="application/json"' in attrs, attrs


def test_no_template_has_inline_code():
    for f in TEMPLATES.glob("*.html"):
        text = f.read_text()
        assert not re.search(r"\son[a-z]+=", text), f"inline event handler in {f.name}"
        assert "style=" not in text, f"inline style in {f.name}"
        for m in re.finditer(r"<script(?P<attrs>[^>]*)>", text):
            attrs = m.group("attrs")
            assert "src=" in attrs or 'type="application/json"' in attrs, f.name


def test_must_change_password_first(client):
    a = Api(client)
    assert a.login("admin", "123456").status_code == 200
    r = _page(a, "/topology")
    assert r.status_code == 303 and r.headers["location"] == "/password"
    r = _page(a, "/password")
    assert r.status_code == 200 and 'id="password-form"' in r.text
    assert 'name="csrf-token"' in r.text


def test_roles_see_their_pages_only(client, root):
    auditor = make_admin(client, "aud1", "auditor", None)
    security = make_admin(client, "sec1", "security", None)
    assert _page(auditor, "/audit").status_code == 200
    assert _page(auditor, "/federation").status_code == 403
    assert _page(auditor, "/settings").status_code == 403
    assert _page(security, "/admins").status_code == 200
    assert _page(security, "/audit").status_code == 403
    assert _page(root, "/admins").status_code == 403
    assert _page(root, "/settings").status_code == 200
    # the nav offers only what the role may open
    nav = _page(auditor, "/tokens").text
    assert 'href="/audit"' in nav and 'href="/federation"' not in nav
    # the login page sends a signed-in admin to its home page
    assert _page(auditor, "/").headers["location"] == "/audit"
    assert _page(security, "/").headers["location"] == "/admins"


def test_login_next_is_never_an_open_redirect(client, root):
    for evil in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        r = _page(root, f"/?next={evil}")
        assert r.status_code == 303
        assert r.headers["location"] == "/topology", evil
    assert _page(root, "/?next=/settings").headers["location"] == "/settings"


@pytest.mark.parametrize(
    "evil",
    [
        "/%09/evil.example/",  # a tab: the browser drops it and reads //evil.example
        "/%0a/evil.example/",
        "/%0D%0A/evil.example/",
        "/%7F/x",
        "/" + "a" * 3000,  # far longer than any path of this hub
    ],
)
def test_login_next_with_control_characters_is_dropped(client, root, evil):
    client.cookies.clear()
    login = client.get(f"/?next={evil}")
    assert login.status_code == 200
    assert 'data-next=""' in login.text, evil  # the login script gets no target at all
    r = _page(root, f"/?next={evil}")
    assert r.status_code == 303 and r.headers["location"] == "/topology", evil


def test_language_cookie_then_stored_preference(client, root):
    client.cookies.clear()  # anonymous: the login page
    r = client.get("/", cookies={"fedhub_lang": "en"})
    assert "Log in to fedhub" in r.text and 'lang="en"' in r.text
    r = client.get("/", cookies={"fedhub_lang": "zh-CN"})
    assert "登录 fedhub 联盟管理平台" in r.text and 'lang="zh-CN"' in r.text
    r = client.get("/", headers={"accept-language": "en-US,en;q=0.9"})
    assert 'lang="en"' in r.text
    # the admin's stored choice wins over the cookie and the browser
    assert root.request("PUT", "/preferences", json={"locale": "zh-CN"}).status_code == 200
    page = _page(root, "/topology", headers={"accept-language": "en"})
    assert 'lang="zh-CN"' in page.text and "拓扑" in page.text
    assert root.get("/preferences").json() == {"locale": "zh-CN"}
    assert root.request("PUT", "/preferences", json={"locale": "fr"}).status_code == 422
    assert root.request("PUT", "/preferences", json={"locale": "en"}).status_code == 200
    assert 'lang="en"' in _page(root, "/topology", cookies={"fedhub_lang": "zh-CN"}).text


def test_preferences_need_csrf(client, root):
    r = root.request("PUT", "/preferences", csrf=False, json={"locale": "en"})
    assert r.status_code == 403


@pytest.mark.parametrize(
    ("stored", "cookie", "accept", "expected"),
    [
        (None, None, None, "zh-CN"),
        (None, None, "en-GB,en;q=0.8", "en"),
        (None, "en", "zh", "en"),
        ("zh-CN", "en", "en", "zh-CN"),
        (None, "xx", "de, fr", "zh-CN"),
    ],
)
def test_pick(stored, cookie, accept, expected):
    assert pick(stored, cookie, accept) == expected


def test_every_message_is_translated_to_chinese():
    """Every string the templates, scripts and page table use has a zh-CN translation."""
    method_map = [
        ("dashboards/templates/**.html", "jinja2"),
        ("dashboards/static/js/**.js", "javascript"),
        ("dashboards/pages/**.py", "python"),
    ]
    options = {"dashboards/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    found = {
        msg
        for _f, _l, msg, _c, _ctx in extract_from_dir(
            str(ROOT), method_map, options, keywords={"t": None, "_": None, "N_": None}
        )
        if msg
    }
    assert len(found) > 100
    zh = messages("zh-CN")
    missing = sorted(m for m in found if not zh.get(m))
    assert missing == []


def _luminance(hex_colour: str) -> float:
    rgb = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def test_status_colours_have_enough_contrast():
    """WCAG AA: text and status colours at least 4.5:1 on the white page."""
    css = (ROOT / "dashboards" / "static" / "app.css").read_text()
    white = _luminance("#ffffff")
    for name in ("fg", "dim", "accent", "danger", "ok", "warn"):
        m = re.search(rf"--{name}:\s*(#[0-9a-fA-F]{{6}})", css)
        assert m, name
        ratio = (white + 0.05) / (_luminance(m.group(1)) + 0.05)
        assert ratio >= 4.5, (name, m.group(1), round(ratio, 2))


def test_a_translation_cannot_end_the_catalog_script(client, root, monkeypatch):
    """The catalog is embedded as JSON in a <script> element: a translation holding
    ``</script>`` ended it and the rest was parsed as markup."""
    import dashboards.pages as pages

    hostile = "</script><img src=x id=xss><!--"
    monkeypatch.setattr(pages, "messages", lambda locale: {"Topology": hostile})
    r = _page(root, "/topology")
    assert r.status_code == 200
    m = re.search(r'<script type="application/json" id="fh-i18n">(.*?)</script>', r.text, re.S)
    assert m is not None
    assert orjson.loads(m.group(1)) == {"Topology": hostile}
    assert "<img src=x" not in r.text


def test_two_first_language_choices_at_once_both_succeed(db_url):
    """Two tabs choosing a language at the same moment, before any was stored: both read
    "no row" and inserted; on PostgreSQL the second failed (primary key) with a 500."""
    from storage.admins import AdminStore, Role
    from storage.db import Database
    from storage.models import AdminPreferenceRow, utcnow
    from storage.preferences import PreferenceStore

    async def blocked_on_a_lock(db: Database) -> None:
        if db.dialect != "postgresql":
            return  # SQLite: the second writer waits for BEGIN IMMEDIATE; nothing to see
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while loop.time() < deadline:
            async with db.session() as s:
                waiting = (
                    await s.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                        )
                    )
                ).scalar()
            if waiting:
                return
            await asyncio.sleep(0.01)  # polling a condition, bounded by the deadline
        raise AssertionError("the second choice never waited for the first")

    async def run() -> None:
        db = Database.open(db_url)
        try:
            await db.upgrade()
            admin = await AdminStore(db).create("tabs", "x", Role.ADMIN, None)
            store = PreferenceStore(db)
            async with db.session() as s:  # the first tab's choice, not committed yet
                s.add(AdminPreferenceRow(admin_id=admin.id, locale="en", updated_at=utcnow()))
                await s.flush()
                second = asyncio.create_task(store.set_locale(admin.id, "zh-CN"))
                await blocked_on_a_lock(db)
            await second
            assert await store.locale(admin.id) == "zh-CN"
            await store.set_locale(admin.id, "en")
            assert await store.locale(admin.id) == "en"
        finally:
            await db.close()

    asyncio.run(run())


def test_conference_page_of_another_subtree_is_not_found(client, root):
    prov = root.create_member(None, "prov").json()
    city1 = root.create_member(prov["id"], "city1", domain="city1.prov.example.gov").json()
    city2 = root.create_member(prov["id"], "city2", domain="city2.prov.example.gov").json()
    city_admin = make_admin(client, "c1admin", "admin", city1["id"])
    assert _page(city_admin, f"/conferences/{city1['id']}/100").status_code == 200
    assert _page(city_admin, f"/conferences/{city2['id']}/100").status_code == 404
    assert _page(city_admin, f"/conferences/{prov['id']}/100").status_code == 404
    assert _page(city_admin, "/conferences/99999/100").status_code == 404
