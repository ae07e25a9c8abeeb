"""The upgrade of a node as a plan: what a release must be, the steps, the decisions.

Pure (no files, no processes): ``ops/upgrade.py`` feeds it what it found and does what
it says. The steps, in order, and where each may go::

    received ──check──▶ verified ──▶ installed ──▶ backed_up ──▶ switched ──▶ ready
        │                  │             │              │            │
        └─ refused         └─ failed ◀───┴──────────────┘            └─▶ rolled_back

Until ``switched`` nothing the running node uses has changed: a failure removes the
new environment and the node keeps serving. From ``switched`` the node restarts into
the new version, which confirms (``ready``) once it serves; if it does not within the
deadline, or its process ends first, the guard switches back, restores the backup
made before the switch (the new version may have migrated the database) and starts
the previous version again (``rolled_back``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from packaging.version import InvalidVersion, Version

PACKAGE = "fedhub"
MAX_WHEEL = 64 * 1024 * 1024
READY_WITHIN = timedelta(seconds=120)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# {distribution}-{version}(-{build})?-{python}-{abi}-{platform}.whl (PEP 427)
_WHEEL = re.compile(
    r"^(?P<dist>[A-Za-z0-9_.]+)-(?P<version>[A-Za-z0-9_.!+]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$"
)

TRANSITIONS: dict[str, frozenset[str]] = {
    "received": frozenset({"verified", "refused"}),
    "verified": frozenset({"installed", "failed"}),
    "installed": frozenset({"backed_up", "failed"}),
    "backed_up": frozenset({"switched", "failed"}),
    "switched": frozenset({"ready", "rolled_back"}),
    "ready": frozenset(),
    "refused": frozenset(),
    "failed": frozenset(),
    "rolled_back": frozenset(),
}


class UpgradeRefused(Exception):
    """Why an upload is not a release this node may switch to (``code``, ``message``)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def check_sha256(given: str) -> str:
    """The expected checksum as lower-case hex; refused if it is not a SHA-256."""
    given = given.strip().lower()
    if not _SHA256.match(given):
        raise UpgradeRefused("bad_checksum", "sha256 must be 64 hexadecimal digits")
    return given


def parse_filename(filename: str) -> tuple[str, Version]:
    """The distribution name (normalised) and version a wheel's file name states."""
    m = _WHEEL.match(filename)
    if m is None:
        raise UpgradeRefused(
            "not_a_wheel", f"{filename[:100]!r} is not a wheel file name (name-version-…whl)"
        )
    try:
        return normalise(m["dist"]), Version(m["version"])
    except InvalidVersion:
        raise UpgradeRefused("not_a_wheel", f"{m['version']!r} is not a version") from None


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Release:
    """A verified release: its version and where its wheel lies."""

    version: str
    filename: str
    sha256: str


def check_release(
    *,
    filename: str,
    expected_sha256: str,
    actual_sha256: str,
    metadata_name: str | None,
    metadata_version: str | None,
    running: str,
) -> Release:
    """Accept the upload as a release of fedhub newer than ``running``, or refuse it."""
    if actual_sha256 != expected_sha256:
        raise UpgradeRefused(
            "checksum_mismatch",
            f"the upload's SHA-256 is {actual_sha256}, not the {expected_sha256} given: "
            "it is not the release you meant (or it was damaged on the way)",
        )
    dist, version = parse_filename(filename)
    if metadata_name is None or metadata_version is None:
        raise UpgradeRefused("not_a_wheel", "the upload is not a wheel (no readable METADATA)")
    if dist != PACKAGE or normalise(metadata_name) != PACKAGE:
        raise UpgradeRefused(
            "wrong_package", f"this is a wheel of {metadata_name!r}, not of {PACKAGE!r}"
        )
    if Version(metadata_version) != version:
        raise UpgradeRefused(
            "not_a_wheel", "the file name and the wheel's METADATA name different versions"
        )
    try:
        now = Version(running)
    except InvalidVersion:
        now = Version("0")
    if version <= now:
        raise UpgradeRefused(
            "not_newer",
            f"this node runs fedhub {running}; {version} is not newer (to go back, restore "
            "the backup made before the upgrade and reinstall the older version)",
        )
    return Release(str(version), filename, actual_sha256)


@dataclass(frozen=True)
class Plan:
    """An upgrade in progress (stored as ``<root>/upgrade.json`` from ``switched`` on)."""

    state: str
    release: Release
    previous_version: str
    previous_link: str | None  # where ``current`` pointed (None: it did not exist)
    command: tuple[str, ...]  # the previous version's serve command, to start it again
    data_dir: str
    db_url: str
    backup: str | None = None
    deadline: datetime | None = None
    pid: int | None = None
    reason: str = ""

    def to(self, state: str, **changes: object) -> Plan:
        if state not in TRANSITIONS[self.state]:
            raise ValueError(f"an upgrade cannot go from {self.state} to {state}")
        return replace(self, state=state, **changes)  # type: ignore[arg-type]


def decide(plan: Plan, now: datetime, *, process_alive: bool) -> str:
    """What the guard does: ``done`` (confirmed or over), ``wait`` or ``roll_back``."""
    if plan.state != "switched":
        return "done"
    assert plan.deadline is not None
    if not process_alive or now >= plan.deadline:
        return "roll_back"
    return "wait"
