"""The public pages of password reset over HTTP (the browser test drives them end to
end): the login's "forgot password" link shows only when a reset mail can be sent."""

from __future__ import annotations

import re
from pathlib import Path

from dashboards.pages import PAGE_CSP
from tests.dashboards.conftest import Api, make_admin

FORGOT_LINK = 'href="/forgot"'


def _anonymous(client, path: str):
    client.cookies.clear()
    client.cookies.set("fedhub_lang", "en")
    return client.get(path, follow_redirects=False)


def test_forgot_link_only_once_mail_and_an_access_url_are_set(client, root: Api):
    assert FORGOT_LINK not in _anonymous(client, "/").text
    forgot = _anonymous(client, "/forgot")
    assert forgot.status_code == 200
    assert 'id="forgot-form"' not in forgot.text and "not set up" in forgot.text
    assert "forgot.js" not in forgot.text
    r = root.patch("/settings/mail", {"host": "127.0.0.1", "port": 2525, "security": "none"})
    assert r.status_code == 200, r.text
    # SMTP alone is not enough: the link in the mail is built from a center access URL
    assert FORGOT_LINK not in _anonymous(client, "/").text
    r = root.patch("/settings/access", {"extranet_url": "https://hub.prov.example"})
    assert r.status_code == 200, r.text
    login = _anonymous(client, "/")
    assert FORGOT_LINK in login.text and "Forgot password?" in login.text
    forgot = _anonymous(client, "/forgot")
    assert 'id="forgot-form"' in forgot.text and "/static/js/forgot.js" in forgot.text


def test_public_pages_have_the_page_csp_and_no_session_data(client, root: Api):
    for path, script in (("/forgot", None), ("/reset-password", "/static/js/reset.js")):
        r = _anonymous(client, path)
        assert r.status_code == 200, path
        assert r.headers["content-security-policy"] == PAGE_CSP
        assert 'name="csrf-token"' not in r.text  # nobody's session is rendered
        assert "<nav" not in r.text
        if script:
            assert script in r.text
    reset = _anonymous(client, "/reset-password")
    # the password rules are shown next to the field that must meet them
    assert re.search(r'aria-describedby="pw-rules"', reset.text)
    assert "At least 8 characters" in reset.text


def test_public_pages_speak_chinese(client):
    client.cookies.clear()
    client.cookies.set("fedhub_lang", "zh-CN")
    r = client.get("/reset-password")
    assert 'lang="zh-CN"' in r.text and "设置新密码" in r.text


def test_no_browser_prompt_alert_or_confirm_in_the_pages_scripts():
    """Secrets typed into window.prompt() show in clear and cannot be labelled; every
    question is an accessible <dialog> (dialog.js)."""
    scripts = Path(__file__).resolve().parents[2] / "dashboards" / "static" / "js"
    allowed: set[tuple[str, str]] = set()
    found = sorted(
        (f.name, m.group(1))
        for f in scripts.glob("*.js")
        for m in re.finditer(r"(?<![\w.])(?:window\.)?(prompt|alert|confirm)\s*\(", f.read_text())
        if (f.name, m.group(1)) not in allowed
    )
    assert found == []


def test_a_scoped_admin_sees_only_the_numbering_rules(client, root: Api):
    prov = root.create_member(None, "prov").json()
    city_admin = make_admin(client, "cityops", "admin", prov["id"])
    client.cookies.clear()
    for k, v in city_admin.jar.items():
        client.cookies.set(k, v)
    r = client.get("/settings", follow_redirects=False)
    assert r.status_code == 200
    assert 'id="numbering-form"' in r.text and "disabled" in r.text
    for other in ("mail-form", "quotas-form", "backup-form", "access-form", "redirect-form"):
        assert f'id="{other}"' not in r.text, other
