"""API fixtures: a running app (lifespan included) and logged-in clients."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from ops.hub import create_hub_app

NEW_ADMIN_PASSWORD = "Pr0vince-Hub!"
MEMBER_PASSWORD = "Member-Pass1"


class Api:
    """A TestClient that remembers its CSRF token and speaks JSON."""

    def __init__(self, client: TestClient):
        self.c = client
        self.csrf = ""
        self.jar: dict[str, str] = {}  # each Api is its own browser on the shared client

    def request(self, method: str, path: str, csrf: bool = True, **kw: Any) -> Any:
        headers = dict(kw.pop("headers", {}))
        if csrf and self.csrf and method != "GET":
            headers.setdefault("X-CSRF-Token", self.csrf)
        self.c.cookies.clear()
        for k, v in self.jar.items():
            self.c.cookies.set(k, v)
        r = self.c.request(method, "/api/v1" + path, headers=headers, **kw)
        self.jar = dict(self.c.cookies.items())
        return r

    def login(self, username: str, password: str) -> Any:
        r = self.request("POST", "/auth/login", json={"username": username, "password": password})
        if r.status_code == 200:
            self.csrf = r.json()["csrf_token"]
        return r

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, json=json, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.request("PATCH", path, json=json, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)

    def create_member(self, parent_id: int | None, name: str, **extra: Any) -> Any:
        body = {
            "parent_id": parent_id,
            "domain": f"{name}.example.gov",
            "display_name": name.title(),
            "username": name,
            "password": MEMBER_PASSWORD,
            **extra,
        }
        return self.post("/members", body)


@pytest.fixture
def app(hub_config):
    return create_hub_app(hub_config)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def root(client: TestClient) -> Api:
    """The default admin, logged in, password already changed."""
    a = Api(client)
    assert a.login("admin", "123456").status_code == 200
    r = a.post("/auth/password", {"old_password": "123456", "new_password": NEW_ADMIN_PASSWORD})
    assert r.status_code == 204, r.text
    return a


def make_admin(
    client: TestClient,
    username: str,
    role: str,
    member_id: int | None,
    password: str = "Secur1ty-Pass",
) -> Api:
    """Create an account directly in storage (as the CLI does) and log it in."""
    from storage.admins import Role
    from storage.passwords import hash_password

    services = client.app.state.services  # type: ignore[attr-defined]
    client.portal.call(  # type: ignore[union-attr]
        lambda: services.admins.create(
            username, hash_password(password), Role(role), member_id, password_change_required=False
        )
    )
    a = Api(client)
    r = a.login(username, password)
    assert r.status_code == 200, r.text
    return a
