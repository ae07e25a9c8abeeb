"""`fedhub backup …`, `fedhub logs export` and `fedhub --version`, run as a user would."""

from __future__ import annotations

import asyncio
import logging
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from ops.logs import ModuleFiles
from ops.presence import Presence
from tests.ops.test_cli import fedhub


def test_version_names_the_schema_revision():
    r = fedhub("--version")
    assert r.returncode == 0
    assert r.stdout.startswith("fedhub ") and "schema revision 0" in r.stdout


def test_backup_create_list_restore_from_the_shell(tmp_path: Path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert fedhub("db", "upgrade", "--data", str(a)).returncode == 0
    (a / "certs").mkdir()
    (a / "certs" / "web.pem").write_text("cert\n")
    r = fedhub(
        "backup",
        "create",
        "--name",
        "nightly",
        "--passphrase-stdin",
        "--data",
        str(a),
        stdin="a long passphrase\n",
    )
    assert r.returncode == 0, r.stderr
    archive = a / "backups" / "nightly.fedhub-backup"
    assert archive.is_file() and str(archive) in r.stdout
    r = fedhub("backup", "create", "--name", "../evil", "--data", str(a))
    assert r.returncode == 1 and "backup name" in r.stderr
    r = fedhub("backup", "list", "--data", str(a))
    assert r.returncode == 0 and "nightly" in r.stdout and "encrypted" in r.stdout

    r = fedhub("backup", "restore", str(archive), "--data", str(b))
    assert r.returncode == 1 and "passphrase" in r.stderr and "nothing was changed" in r.stderr
    assert not (b / "fedhub.db").exists()
    r = fedhub(
        "backup",
        "restore",
        str(archive),
        "--passphrase-stdin",
        "--data",
        str(b),
        stdin="a long passphrase\n",
    )
    assert r.returncode == 0, r.stderr
    assert "start the hub now" in r.stdout
    assert (b / "certs" / "web.pem").read_text() == "cert\n"
    assert "revision 0" in fedhub("db", "upgrade", "--data", str(b)).stdout


def test_restore_refused_from_the_shell_while_a_hub_runs(tmp_path: Path):
    data = tmp_path / "data"
    assert fedhub("db", "upgrade", "--data", str(data)).returncode == 0
    assert fedhub("backup", "create", "--name", "b", "--data", str(data)).returncode == 0
    before = (data / "fedhub.db").read_bytes()

    async def hold_and_try() -> tuple[int, str]:
        hub = Presence(data, None, exclusive=False)
        await hub.start()
        try:
            r = await asyncio.to_thread(
                fedhub,
                "backup",
                "restore",
                str(data / "backups" / "b.fedhub-backup"),
                "--data",
                str(data),
            )
        finally:
            await hub.stop()
        return r.returncode, r.stderr

    code, err = asyncio.run(hold_and_try())
    assert code == 1 and "a hub is running" in err and "systemctl stop fedhub" in err
    assert (data / "fedhub.db").read_bytes() == before


def test_damaged_backup_refused_from_the_shell(tmp_path: Path):
    data = tmp_path / "data"
    assert fedhub("backup", "create", "--name", "b", "--data", str(data)).returncode == 0
    archive = data / "backups" / "b.fedhub-backup"
    cut = tmp_path / "cut.fedhub-backup"
    cut.write_bytes(archive.read_bytes()[:-100])
    r = fedhub("backup", "restore", str(cut), "--data", str(tmp_path / "other"))
    assert r.returncode == 1 and "(truncated)" in r.stderr
    assert not (tmp_path / "other" / "fedhub.db").exists()


def test_logs_export_from_the_shell(tmp_path: Path):
    h = ModuleFiles(tmp_path / "logs", "n1")
    for hour, name in ((1, "fedhub.api"), (2, "sip.service"), (3, "fedhub.api")):
        rec = logging.LogRecord(name, logging.INFO, __file__, 1, f"event {hour}", None, None)
        rec.created = datetime(2026, 11, 30, hour, tzinfo=UTC).timestamp()
        h.handle(rec)
    h.close()
    out = tmp_path / "out.zip"
    r = fedhub(
        "logs",
        "export",
        "--module",
        "api",
        "--until",
        "2026-11-30T02:00:00+00:00",
        "-o",
        str(out),
        "--data",
        str(tmp_path),
    )
    assert r.returncode == 0, r.stderr
    z = zipfile.ZipFile(out)
    assert z.namelist() == ["api.log"]
    assert z.read("api.log").decode().splitlines()[0].endswith("event 1")
    assert len(z.read("api.log").decode().splitlines()) == 1
    r = fedhub("logs", "export", "--since", "2026-11-30", "--data", str(tmp_path))
    assert r.returncode == 2 and "time zone" in r.stderr
