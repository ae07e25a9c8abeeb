"""The installed fedhub version, for every process and the API (one truth)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def fedhub_version() -> str:
    """The distribution's version, or ``0.0.0+source`` when run from a source tree."""
    try:
        return version("fedhub")
    except PackageNotFoundError:  # running from a source tree
        return "0.0.0+source"
