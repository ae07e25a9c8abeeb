"""Restoring a backup through /api/v1: verified at once, applied at the next start.

Every refusal leaves the live data as it was and nothing staged; a verified backup is
staged, and the next start of the hub puts it in place after a backup of the data it
replaces. The restart that follows the staging on a real ``fedhub serve`` is tested in
tests/ops/test_serve.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from hub.nodes import NodeInfo
from ops.hub import create_hub_app
from ops.nodes import NodeHeartbeat
from ops.staged_restore import PENDING
from tests.dashboards.conftest import NEW_ADMIN_PASSWORD, Api, make_admin
from tests.dashboards.test_operations_api import _audit, made
from tests.ops.test_backup_restore import _damaged

PASS = "a long passphrase"


def restore(root: Api, name: str, **body: Any) -> Any:
    return root.post(f"/backups/{name}/restore", {"confirm": name, **body})


def ended(root: Api, r: Any) -> dict:
    assert r.status_code == 202, r.text
    assert r.json()["kind"] == "restore" and r.headers["location"] == r.json()["location"]
    return root.get(f"/jobs/{r.json()['id']}?wait=60").json()


def members(root: Api) -> list[str]:
    return sorted(m["domain"] for m in root.get("/members?flat=true").json()["members"])


@pytest.mark.parametrize("kind", ["corrupt", "truncated", "tampered", "foreign"])
def test_a_damaged_archive_is_refused_and_nothing_changes(root: Api, hub_config, kind: str):
    prov = root.create_member(None, "prov").json()
    made(root, {"name": "good", "passphrase": PASS})
    backups = hub_config.data_dir / "backups"
    raw = (backups / "good.fedhub-backup").read_bytes()
    if kind == "tampered":  # one bit inside the sealed chunks (this archive is small)
        damaged = bytearray(raw)
        damaged[-len(raw) // 3] ^= 0x01
        (backups / "bad.fedhub-backup").write_bytes(bytes(damaged))
    else:
        (backups / "bad.fedhub-backup").write_bytes(_damaged(kind, raw))
    assert root.create_member(prov["id"], "later").status_code == 201  # data moved on
    job = ended(root, restore(root, "bad", passphrase=PASS))
    assert job["state"] == "failed", job
    assert (
        job["error"]["code"].startswith("archive_")
        and "nothing was changed" in job["error"]["message"]
    )
    assert members(root) == ["later.example.gov", "prov.example.gov"]
    assert not (hub_config.data_dir / PENDING).exists()
    assert not list(hub_config.data_dir.glob(".restore-*")), "staging left behind"
    entries = _audit(root, "backup.restore.staged")
    assert [(e["result"], e["admin"]) for e in entries] == [("failed", "admin")]


def test_refusals_before_anything_runs(root: Api, hub_config, client: TestClient):
    made(root, {"name": "b1", "passphrase": PASS})
    prov = root.create_member(None, "prov").json()
    for who in (
        make_admin(client, "provops", "admin", prov["id"]),
        make_admin(client, "sec", "security", None),
        make_admin(client, "aud", "auditor", None),
    ):
        assert restore(who, "b1").status_code == 403  # only the federation's owner
    assert restore(root, "nope").status_code == 404
    r = root.post("/backups/b1/restore", {"confirm": "b2"})
    assert (r.status_code, r.json()["error"]["code"]) == (422, "confirm_mismatch")
    assert root.post("/backups/b1/restore", {}).status_code == 422
    job = ended(root, restore(root, "b1", passphrase="not the one at all"))
    assert job["state"] == "failed" and job["error"]["code"] == "archive_passphrase", job
    job = ended(root, restore(root, "b1"))  # sealed, and no passphrase given
    assert job["state"] == "failed" and job["error"]["code"].startswith("archive_"), job

    # another node runs on the same database: a restore needs the whole cluster stopped
    services = client.app.state.services  # type: ignore[attr-defined]
    other = NodeHeartbeat(services.nodes, NodeInfo("hub-b", "secondary", "10.0.0.2"))
    client.portal.call(other.beat)  # type: ignore[union-attr]
    r = restore(root, "b1", passphrase=PASS)
    assert r.status_code == 409 and r.json()["error"]["code"] == "cluster_running", r.text
    assert "hub-b" in r.json()["error"]["message"]
    assert "fedhub backup restore" in r.json()["error"]["message"]
    assert not (hub_config.data_dir / PENDING).exists()
    refused = [e for e in _audit(root, "backup.restore") if e["result"] == "refused"]
    assert len(refused) == 3 + 1 + 2 + 1


def test_a_verified_backup_is_applied_at_the_next_start_after_a_safety_backup(
    hub_config, tmp_path: Path
):
    with TestClient(create_hub_app(hub_config)) as c:
        root = Api(c)
        root.login("admin", "123456")
        root.post("/auth/password", {"old_password": "123456", "new_password": NEW_ADMIN_PASSWORD})
        prov = root.create_member(None, "prov").json()
        made(root, {"name": "b1", "passphrase": PASS})
        assert root.create_member(prov["id"], "later").status_code == 201
        job = ended(root, restore(root, "b1", passphrase=PASS))
        assert job["state"] == "done", job
        assert job["result"]["staged"] is True
        assert job["result"]["restarting"] is False  # no server to restart here: it says so
        assert "restart" in job["result"]["next"]
        assert members(root) == ["later.example.gov", "prov.example.gov"]  # not yet
        assert (hub_config.data_dir / PENDING).is_dir()
    with TestClient(create_hub_app(hub_config)) as c:  # the next start applies it
        root = Api(c)
        assert root.login("admin", NEW_ADMIN_PASSWORD).status_code == 200
        assert members(root) == ["prov.example.gov"]
        kinds = {b["kind"]: b for b in root.get("/backups").json()["backups"]}
        assert set(kinds) == {"manual", "pre-restore"}  # the data it replaced is kept
        applied = _audit(root, "backup.restore.applied")
        assert [(e["result"], e["admin"]) for e in applied] == [("ok", "admin")]
        assert applied[0]["details"]["pre_restore_backup"] == kinds["pre-restore"]["id"]
    assert not (hub_config.data_dir / PENDING).exists()
