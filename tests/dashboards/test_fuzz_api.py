"""Schemathesis fuzzes every documented operation of a real running hub: never a 500.

It runs as a federation-wide admin through a bearer token (so it reaches the
handlers behind authentication), against the SQLite and the PostgreSQL store.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.support.live_server import live_hub


@pytest.fixture
def hub(hub_config):
    with live_hub(hub_config) as base:
        with httpx.Client(base_url=base) as c:
            r = c.post("/api/v1/auth/login", json={"username": "admin", "password": "123456"})
            csrf = {"X-CSRF-Token": r.json()["csrf_token"]}
            r = c.post(
                "/api/v1/auth/password",
                json={"old_password": "123456", "new_password": "Fuzz-Admin-1"},
                headers=csrf,
            )
            assert r.status_code == 204
            token = c.post("/api/v1/tokens", json={"name": "fuzz"}, headers=csrf).json()["token"]
            # some data so that ids and numbers sometimes hit something
            auth = {"Authorization": f"Bearer {token}"}
            prov = c.post(
                "/api/v1/members",
                headers=auth,
                json={
                    "parent_id": None,
                    "domain": "prov.example.gov",
                    "display_name": "Prov",
                    "username": "prov",
                    "password": "Member-Pass1",
                },
            ).json()
            c.post(
                f"/api/v1/members/{prov['id']}/ranges",
                headers=auth,
                json={"type": "vmr", "start": "1", "end": "5"},
            )
        yield base, token


def test_no_server_errors(hub):
    """Every operation, generated inputs (valid and not): the answer is never a 5xx."""
    base, token = hub
    schema = schemathesis.openapi.from_url(base + "/api/v1/openapi.json")
    headers = {"Authorization": f"Bearer {token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def fuzz(case) -> None:
            response = case.call(base_url=base, headers=headers)
            case.validate_response(response, checks=[not_a_server_error])

        fuzz()
