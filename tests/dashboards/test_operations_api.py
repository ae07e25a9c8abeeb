"""Backups, logs, quotas and version through /api/v1 (every hub has its operations side).

Only the federation-wide ``admin`` touches backups and quotas; every backup call that
makes, downloads or deletes something is in the audit log.
"""

from __future__ import annotations

import io
import logging
import zipfile
from datetime import UTC, datetime

import pytest
from starlette.testclient import TestClient

from ops.logs import ModuleFiles
from ops.quota import DEFAULTS
from tests.dashboards.conftest import NEW_ADMIN_PASSWORD, Api, make_admin

_AUDITORS: dict[int, Api] = {}


def _audit(root: Api, action: str) -> list[dict]:
    key = id(root.c)
    if key not in _AUDITORS:
        _AUDITORS[key] = make_admin(root.c, f"auditor{len(_AUDITORS)}", "auditor", None)
    return _AUDITORS[key].get(f"/audit?action={action}").json()["entries"]


def made(root: Api, body: dict) -> dict:
    """Start a backup (202, a job) and wait for its end through the job's location."""
    r = root.post("/backups", body)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["state"] == "running" and r.headers["location"] == job["location"]
    assert job["location"] == f"/api/v1/jobs/{job['id']}"
    done = root.get(job["location"][len("/api/v1") :] + "?wait=60").json()
    assert done["state"] == "done", done
    return done["result"]


def test_backup_create_list_download_delete(root: Api, hub_config):
    entry = made(root, {"name": "before-change"})
    assert entry["id"] == "before-change" and entry["size"] > 0 and entry["encrypted"] is False
    assert made(root, {"name": "sealed", "passphrase": "a long passphrase"})["encrypted"] is True
    r = root.post("/backups", {"name": "sealed"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "backup_exists"
    listed = root.get("/backups").json()["backups"]
    assert [b["id"] for b in listed] == ["sealed", "before-change"]
    dialect = "sqlite" if hub_config.db_url.startswith("sqlite") else "postgresql"
    assert listed[0]["schema_revision"] and listed[0]["dialect"] == dialect

    r = root.get("/backups/before-change")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/octet-stream"
    on_disk = (hub_config.data_dir / "backups" / "before-change.fedhub-backup").read_bytes()
    assert r.content == on_disk

    assert root.delete("/backups/before-change").status_code == 204
    assert root.get("/backups/before-change").status_code == 404
    assert root.delete("/backups/before-change").status_code == 404
    asked = _audit(root, "backup.create")
    assert [e["result"] for e in asked] == ["refused", "ok", "ok"]
    assert asked[-1]["target"].startswith("job:")
    made_log = _audit(root, "backup.made")  # the end of each job, with who asked
    assert [(e["result"], e["admin"]) for e in made_log] == [("ok", "admin")] * 2
    assert made_log[-1]["target"] == "backup:before-change"
    entries = _audit(root, "backup.download") + _audit(root, "backup.delete")
    assert {(e["action"], e["result"]) for e in entries} >= {
        ("backup.download", "ok"),
        ("backup.delete", "ok"),
        ("backup.delete", "refused"),
    }
    assert all("passphrase" not in str(e["details"]) for e in _audit(root, "backup.create"))


@pytest.mark.parametrize(
    "body",
    [
        {"name": "../../etc/passwd"},
        {"name": "x" * 65},
        {"name": "名字"},
        {"passphrase": "short"},
        {"name": "ok", "extra": 1},
    ],
)
def test_bad_backup_requests_are_refused(root: Api, body):
    r = root.post("/backups", body)
    assert r.status_code == 422, r.text
    assert root.get("/backups").json()["backups"] == []


@pytest.mark.parametrize("name", ["%2E%2E", "..%2F..%2Ffedhub.db", "a%00b", "-x", ".staging"])
def test_download_names_outside_the_backups_are_not_found(root: Api, name):
    assert root.get(f"/backups/{name}").status_code in (404, 422)


def test_only_the_federation_wide_admin_touches_backups_and_quotas(root: Api):
    prov = root.create_member(None, "prov").json()
    scoped = make_admin(root.c, "provops", "admin", prov["id"])
    sec = make_admin(root.c, "sec", "security", None)
    aud = make_admin(root.c, "aud", "auditor", None)
    made(root, {"name": "b1"})
    for who in (scoped, sec, aud):
        assert who.get("/backups").status_code == 403
        assert who.post("/backups", {"name": "x"}).status_code == 403
        assert who.get("/backups/b1").status_code == 403
        assert who.delete("/backups/b1").status_code == 403
        assert who.get("/settings/quotas").status_code == 403
        assert who.patch("/settings/quotas", {"logs_mib": 99999}).status_code == 403
        assert who.patch("/settings/backups", {"enabled": True}).status_code == 403
    assert [b["id"] for b in root.get("/backups").json()["backups"]] == ["b1"]
    refused = [e for e in _audit(root, "backup.create") if e["result"] == "refused"]
    assert len(refused) == 3


def test_quotas_show_usage_refuse_less_than_the_defaults_and_name_the_audit_rule(root: Api):
    r = root.get("/settings/quotas")
    assert r.status_code == 200
    doc = r.json()
    assert doc["settings"] == DEFAULTS and doc["defaults"] == DEFAULTS
    assert "180 days" in doc["note"]
    assert set(doc["usage"]) >= {"logs_bytes", "backups_bytes", "audit_rows"}
    for body in (
        {"logs_mib": DEFAULTS["logs_mib"] - 1},
        {"backups_mib": 1},
        {"audit_days": 30},
        {"logs_mib": 2048.5},
        {"logs_mib": "2048"},
        {},
    ):
        assert root.patch("/settings/quotas", body).status_code == 422, body
    assert root.get("/settings/quotas").json()["settings"] == DEFAULTS
    r = root.patch("/settings/quotas", {"backups_mib": 20480, "audit_days": 365})
    assert r.status_code == 200
    assert r.json()["settings"]["backups_mib"] == 20480
    assert r.json()["usage"]["backups_quota_bytes"] == 20480 * 1024 * 1024
    assert root.get("/settings/quotas").json()["revision"] == 1


def test_backup_schedule_settings(root: Api):
    assert root.get("/settings/backups").json()["settings"] == {
        "enabled": False,
        "at": "02:30",
        "keep": 7,
    }
    for body in ({"at": "25:00"}, {"keep": 0}, {"enabled": "yes"}, {"when": "daily"}):
        assert root.patch("/settings/backups", body).status_code == 422
    r = root.patch("/settings/backups", {"enabled": True, "at": "03:15", "keep": 14})
    assert r.status_code == 200 and r.json()["settings"]["at"] == "03:15"


def test_version_and_schema_revision(root: Api, client: TestClient):
    doc = root.get("/system/version").json()
    assert doc["version"] and doc["schema"]["current"] == doc["schema"]["head"]
    assert doc["schema"]["head"].isdigit()
    assert Api(client).get("/system/version").status_code == 401


def test_log_export_through_the_api(root: Api, hub_config):
    h = ModuleFiles(hub_config.data_dir / "logs", "node-x")
    for hour, name in ((1, "fedhub.api"), (2, "sip.service"), (3, "fedhub.api")):
        r = logging.LogRecord(name, logging.INFO, __file__, 1, f"event {hour}", None, None)
        r.created = datetime(2026, 11, 30, hour, tzinfo=UTC).timestamp()
        h.handle(r)
    h.close()
    r = root.get("/logs/export?since=2026-11-30T01:30:00Z&module=api,sip&node=node-x")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(r.content))
    assert sorted(z.namelist()) == ["api.log", "sip.log"]
    assert z.read("api.log").decode().count("\n") == 1 and b"event 3" in z.read("api.log")
    for bad in (
        "?module=nope",
        "?since=yesterday",
        "?since=2026-11-30T00:00:00",  # no zone
        "?since=2026-11-30T05:00:00Z&until=2026-11-30T01:00:00Z",
        "?node=" + ",".join(f"n{i}" for i in range(40)),
    ):
        assert root.get("/logs/export" + bad).status_code == 422, bad
    aud = make_admin(root.c, "aud2", "auditor", None)
    assert aud.get("/logs/export").status_code == 200
    prov = root.create_member(None, "prov").json()
    assert make_admin(root.c, "scoped", "admin", prov["id"]).get("/logs/export").status_code == 403


def test_log_format_switches_without_restart(root: Api):
    assert root.get("/settings/logs").json()["settings"] == {"json": False}
    assert root.patch("/settings/logs", {"json": "yes"}).status_code == 422
    assert root.patch("/settings/logs", {"json": True}).json()["settings"] == {"json": True}


def test_a_restore_is_refused_while_this_hub_runs(root: Api, hub_config):
    import asyncio

    from ops.backup import Target, restore
    from ops.presence import HubRunning

    made(root, {"name": "live"})
    archive = hub_config.data_dir / "backups" / "live.fedhub-backup"
    with pytest.raises(HubRunning):
        asyncio.run(restore(archive, Target(hub_config.data_dir, hub_config.db_url)))
    assert root.get("/backups").status_code == 200


def test_new_admin_password_fixture_is_used(root: Api):
    assert NEW_ADMIN_PASSWORD  # the root fixture logged in with it
