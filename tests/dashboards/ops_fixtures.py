"""Fixtures for the operations API: a whole hub app (``ops.hub.build_services``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from starlette.testclient import TestClient

from dashboards.app import create_app
from ops.hub import build_services
from tests.dashboards.conftest import NEW_ADMIN_PASSWORD, Api

__all__ = ["ops_app", "ops_client", "ops_config", "ops_root"]


def ops_app(config: Any) -> Any:
    return create_app(build_services(config))


@pytest.fixture
def ops_config(hub_config: Any) -> Any:
    # the test client's peer is "testclient": trust it to say where a request came from
    return replace(hub_config, trusted_proxies=frozenset({"testclient"}))


@pytest.fixture
def ops_client(ops_config: Any) -> Iterator[TestClient]:
    with TestClient(ops_app(ops_config)) as c:
        yield c


@pytest.fixture
def ops_root(ops_client: TestClient) -> Api:
    a = Api(ops_client)
    assert a.login("admin", "123456").status_code == 200
    r = a.post("/auth/password", {"old_password": "123456", "new_password": NEW_ADMIN_PASSWORD})
    assert r.status_code == 204, r.text
    return a
