"""The guard of an upgrade: a small process of the *previous* version that rolls back.

Started by ``ops/upgrade.py`` right after the switch, in its own session, with the
previous version's interpreter (so a new version that cannot even import does not
take its guard down). It reads ``<root>/upgrade.json`` every half second and asks
the plan (``upgrade_plan.decide``): once the new version has confirmed (``ready``) it
ends; if the deadline passes first, or the node's process ends before confirming, it
rolls back — stages the ``pre-upgrade`` backup for restore (the new version may have
migrated the database), points ``current`` back, records ``rolled_back``, stops the
new process (SIGTERM, then SIGKILL) and, when not run by systemd, starts the previous
version's ``fedhub serve`` in its place (under systemd, ``Restart=always`` does,
through ``current``; the guard would be stopped with the unit anyway).

    python -m ops.upgrade_guard ROOT [--detach]
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from hub.logtext import LOG_FORMAT
from ops.upgrade import load_plan, save_plan, switch
from ops.upgrade_plan import Plan, decide

log = logging.getLogger("fedhub.ops")

LOOK_EVERY = 0.5
STOP_WITHIN = 30.0


def alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (our parent's child that ended) counts as ended
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def roll_back(root: Path, plan: Plan, reason: str) -> Plan:
    """Stage the backup, point ``current`` back, record it; the new process still runs."""
    from ops.backup import SUFFIX, Target
    from ops.staged_restore import stage

    target = Target(Path(plan.data_dir), plan.db_url)
    if plan.backup is not None:
        archive = target.backups_dir / (plan.backup + SUFFIX)
        asyncio.run(stage(archive, target, None, by="(upgrade rollback)"))
    switch(root, plan.previous_link)
    plan = plan.to("rolled_back", reason=reason)
    save_plan(root, plan)
    log.error(
        "upgrade to fedhub %s rolled back to %s: %s",
        plan.release.version,
        plan.previous_version,
        reason,
    )
    return plan


def stop(pid: int | None) -> None:
    if pid is None or not alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_WITHIN
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)


def guard(root: Path) -> int:
    while True:
        plan = load_plan(root)
        if plan is None:
            return 0
        now = datetime.now(UTC)
        action = decide(plan, now, process_alive=alive(plan.pid))
        if action == "done":
            return 0
        if action == "wait":
            time.sleep(LOOK_EVERY)
            continue
        reason = (
            "the new version did not become ready in time"
            if alive(plan.pid)
            else "the new version's process ended before it was ready"
        )
        plan = roll_back(root, plan, reason)
        stop(plan.pid)
        if os.environ.get("INVOCATION_ID"):  # systemd: Restart=always starts `current`
            return 0
        logging.shutdown()
        os.execv(plan.command[0], list(plan.command))  # noqa: S606  (the previous serve)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    if "--detach" in sys.argv[2:] and os.fork() > 0:
        return 0  # the starter waits for this one only; the guard runs in the child
    return guard(Path(sys.argv[1]))


if __name__ == "__main__":
    raise SystemExit(main())
