"""The federation data page over HTTP: who may open it, for which member, and its shell."""

from __future__ import annotations

from tests.dashboards.conftest import make_admin
from tests.dashboards.test_pages import _page


def test_data_page_follows_the_scope_of_the_member_in_its_path(client, root):
    prov = root.create_member(None, "prov").json()
    city1 = root.create_member(prov["id"], "city1", domain="city1.prov.example.gov").json()
    city2 = root.create_member(prov["id"], "city2", domain="city2.prov.example.gov").json()
    city_admin = make_admin(client, "c1admin", "admin", city1["id"])
    assert _page(city_admin, "/data").status_code == 200
    own = _page(city_admin, f"/data/{city1['id']}")
    assert own.status_code == 200
    assert f'data-member="{city1["id"]}"' in own.text
    # above, beside and unknown members are all "not found", with the refusal page
    for other in (prov["id"], city2["id"], 99999):
        r = _page(city_admin, f"/data/{other}")
        assert r.status_code == 404, other
        assert 'id="data-root"' not in r.text and "Back to your start page" in r.text
    assert _page(root, f"/data/{city2['id']}").status_code == 200


def test_data_page_roles_and_nav(client, root):
    security = make_admin(client, "sec1", "security", None)
    auditor = make_admin(client, "aud1", "auditor", None)
    page = _page(security, "/data")
    assert page.status_code == 200
    # security reads: no writing controls are rendered for it
    assert 'id="set-add"' not in page.text and 'id="sync-now"' not in page.text
    assert 'id="sso"' not in page.text
    assert _page(auditor, "/data").status_code == 403
    admin_page = _page(root, "/data")
    assert 'id="set-add"' in admin_page.text and 'id="sync-now"' in admin_page.text
    assert 'href="/data" aria-current="page"' in admin_page.text
    prov = root.create_member(None, "prov").json()
    # the member's own path marks the same nav entry
    assert 'href="/data" aria-current="page"' in _page(root, f"/data/{prov['id']}").text
    assert 'href="/data"' not in _page(auditor, "/tokens").text
