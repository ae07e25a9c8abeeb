"""POST /api/v1/upgrade refusals: nothing is installed, switched or restarted.

Uploads here are small made-up wheels (a zip with a METADATA); the real wheel of this
project, a real new virtual environment and the switch/restart/rollback on a real
``fedhub serve`` are in tests/ops/test_upgrade.py.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from ops.hub import create_hub_app
from tests.dashboards.conftest import NEW_ADMIN_PASSWORD, Api, make_admin


def wheel(name: str = "fedhub", version: str = "9.0.0", meta_name: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(
            f"{name}-{version}.dist-info/METADATA",
            f"Metadata-Version: 2.1\nName: {meta_name or name}\nVersion: {version}\n",
        )
        z.writestr(f"{name}-{version}.dist-info/WHEEL", "Wheel-Version: 1.0\n")
    return buf.getvalue()


@pytest.fixture
def root_at(hub_config, tmp_path: Path, monkeypatch) -> Any:
    monkeypatch.setenv("FEDHUB_INSTALL_ROOT", str(tmp_path / "opt"))
    with TestClient(create_hub_app(hub_config)) as c:
        a = Api(c)
        a.login("admin", "123456")
        a.post("/auth/password", {"old_password": "123456", "new_password": NEW_ADMIN_PASSWORD})
        yield a


def upload(a: Api, data: bytes, filename: str, sha256: str | None = None) -> Any:
    sha = sha256 if sha256 is not None else hashlib.sha256(data).hexdigest()
    return a.request(
        "POST",
        f"/upgrade?filename={filename}&sha256={sha}",
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )


def failed(a: Api, r: Any) -> dict:
    assert r.status_code == 202, r.text
    job = a.get(f"/jobs/{r.json()['id']}?wait=60").json()
    assert job["state"] == "failed" and job["kind"] == "upgrade", job
    return job["error"]


def test_each_bad_upload_is_refused_and_nothing_changes(root_at: Api, tmp_path: Path):
    a = root_at
    good = wheel()
    name = "fedhub-9.0.0-py3-none-any.whl"
    r = upload(a, good, name, sha256="abc")
    assert (r.status_code, r.json()["error"]["code"]) == (422, "bad_checksum")
    r = upload(a, good, "fedhub.tar.gz")
    assert (r.status_code, r.json()["error"]["code"]) == (422, "not_a_wheel")
    assert failed(a, upload(a, good, name, sha256="0" * 64))["code"] == "checksum_mismatch"
    assert failed(a, upload(a, b"PK\x03\x04 not really", name))["code"] == "not_a_wheel"
    other = wheel("othertool")
    err = failed(a, upload(a, other, "othertool-9.0.0-py3-none-any.whl"))
    assert err["code"] == "wrong_package"
    err = failed(a, upload(a, wheel(meta_name="othertool"), name))
    assert err["code"] == "wrong_package"
    older = wheel(version="0.0.1")
    err = failed(a, upload(a, older, "fedhub-0.0.1-py3-none-any.whl"))
    assert err["code"] == "not_newer" and "is not newer" in err["message"]
    opt = tmp_path / "opt"
    assert not (opt / "current").exists() and not list((opt / "releases").iterdir())
    assert not list((opt / "incoming").iterdir()), "uploads are removed"
    assert a.get("/upgrade").json()["upgradable"] is True
    assert [b["kind"] for b in a.get("/backups").json()["backups"]] == []  # none made


def test_a_wheel_over_the_limit_is_refused_while_it_streams(root_at: Api, monkeypatch):
    import ops.upgrade

    monkeypatch.setattr(ops.upgrade, "MAX_WHEEL", 1000)
    r = upload(root_at, b"x" * 5000, "fedhub-9.0.0-py3-none-any.whl")
    assert (r.status_code, r.json()["error"]["code"]) == (413, "body_too_large"), r.text


def test_only_the_federation_wide_admin_and_only_an_upgradable_install(root, client: TestClient):
    prov = root.create_member(None, "prov").json()
    for who in (
        make_admin(client, "provops", "admin", prov["id"]),
        make_admin(client, "sec", "security", None),
    ):
        assert upload(who, wheel(), "fedhub-9.0.0-py3-none-any.whl").status_code == 403
    r = upload(root, wheel(), "fedhub-9.0.0-py3-none-any.whl")  # no FEDHUB_INSTALL_ROOT
    assert (r.status_code, r.json()["error"]["code"]) == (409, "not_upgradable"), r.text
    assert root.get("/upgrade").json()["upgradable"] is False
