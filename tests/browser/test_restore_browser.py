"""Restoring a backup from the settings page, in Chromium, against ``fedhub serve``.

The hub runs as its own process (``tests/ops/serving.Serving``): a restore restarts the
node into the backup, which a hub on the test's own thread could not do. The page asks
for the backup's name (and refuses another), follows the verification, waits while
the node restarts and lands on the login; the data is the backup's.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.browser.conftest import shoot
from tests.browser.test_pages_auth_browser import open_settings
from tests.browser.test_pages_browser import login
from tests.dashboards.conftest import NEW_ADMIN_PASSWORD
from tests.ops.serving import Serving, audit_of, backup_then_add_a_city

PASSWORD = "Member-Pass1"
# while the node restarts, the page's follow-up requests find nobody listening
RESTART_NOISE = ("ERR_CONNECTION_REFUSED", "ERR_CONNECTION_RESET", "ERR_EMPTY_RESPONSE")


def audit(serving: Serving, action: str) -> list[tuple[str, str, str]]:
    """The hub's audit rows of ``action``, read on a thread of its own (Playwright's
    sync API keeps an event loop running on this one)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(audit_of, serving.data, action).result(30)


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[Serving]:
    hub = Serving(tmp_path / "data", timeout=120)
    try:
        hub.wait_ready()
        yield hub
    finally:
        assert hub.stop() == 0


@pytest.fixture
def hub(serving: Serving) -> str:
    """The browser fixtures' hub is the served process."""
    return serving.base


def test_restore_from_the_page_restarts_into_the_backup(page, serving: Serving) -> None:
    c = serving.admin()
    backup_then_add_a_city(c, PASSWORD)

    login(page, password=NEW_ADMIN_PASSWORD)
    page.wait_for_url("**/topology")
    open_settings(page)
    page.locator('#backup-list tr[data-backup="b1"] [data-action="restore"]').click()
    dialog = page.locator("dialog.fh-dialog")
    assert "replaces every member" in dialog.inner_text()
    # Cancel has the focus: Enter alone restores nothing
    assert page.evaluate("document.activeElement.dataset.role") == "cancel"
    dialog.locator('input[name="confirm"]').fill("b2")
    dialog.locator('button[data-role="confirm"]').click()
    dialog.locator('[role="alert"]', has_text="exactly: b1").wait_for()
    assert c.get("/members?flat=true").json()["members"][1]["domain"] == "city.prov.example.gov"
    shoot(page, "settings-restore")

    dialog.locator('input[name="confirm"]').fill("b1")
    dialog.locator('button[data-role="confirm"]').click()
    # the restarted node no longer knows the restore's job, nor (with the backup's
    # sessions) the page's session
    page.errors.expected.update({401, 404})
    serving.wait_for("restored backup b1")
    page.wait_for_url(serving.base + "/", timeout=120_000)
    page.locator('input[name="username"]').wait_for()
    page.errors[:] = [e for e in page.errors if not any(n in e for n in RESTART_NOISE)]

    again = serving.admin()
    domains = [m["domain"] for m in again.get("/members?flat=true").json()["members"]]
    assert domains == ["prov.example.gov"]
    kinds = sorted(b["kind"] for b in again.get("/backups").json()["backups"])
    assert kinds == ["manual", "pre-restore"]
    restores = audit(serving, "backup.restore")
    assert [r[0] for r in restores] == ["ok"]  # the mistyped name was never sent


def test_a_wrong_passphrase_is_said_in_the_dialog_and_nothing_restarts(
    page, serving: Serving
) -> None:
    c = serving.admin()
    job = c.post("/backups", json={"name": "sealed", "passphrase": "Backup-Pass-1"}).json()
    assert c.get(f"/jobs/{job['id']}?wait=60").json()["state"] == "done"
    login(page, password=NEW_ADMIN_PASSWORD)
    page.wait_for_url("**/topology")
    open_settings(page)
    page.locator('#backup-list tr[data-backup="sealed"] [data-action="restore"]').click()
    dialog = page.locator("dialog.fh-dialog")
    dialog.locator('input[name="confirm"]').fill("sealed")
    dialog.locator('input[name="passphrase"]').fill("Not-The-Pass-2")
    dialog.locator('button[data-role="confirm"]').click()
    alert = dialog.locator('[role="alert"]')
    alert.wait_for(state="visible", timeout=60_000)
    assert "passphrase" in alert.inner_text().lower()
    assert dialog.locator('button[data-role="confirm"]').is_enabled()  # may try again
    # the same process answers: it still knows the backup's job (a restarted one would not)
    assert c.get(f"/jobs/{job['id']}").json()["state"] == "done"
    staged = audit(serving, "backup.restore.staged")
    assert [r[0] for r in staged] == ["failed"], staged
