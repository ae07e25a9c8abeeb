"""The fail2ban filter documented in docs/sip.md, read out of the doc (so the doc is
what the tests check), and fail2ban's way of applying it to one log line."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "sip.md"


def filter_conf() -> str:
    """The ``[Definition]`` block of the documented filter, as written in the doc."""
    m = re.search(r"```ini\n(\[Definition\]\n.*?)```", DOC.read_text(), re.DOTALL)
    assert m, "docs/sip.md has no ```ini [Definition] block"
    return m.group(1)


def _option(name: str) -> str:
    """One option of the filter ("" when the doc leaves it out)."""
    m = re.search(rf"^{name} = (.*)$", filter_conf(), re.MULTILINE)
    return m.group(1) if m else ""


FAILREGEX = _option("failregex")
DATEPATTERN = _option("datepattern")
HOST_RE = re.compile(FAILREGEX.replace("<HOST>", r"(?P<host>[0-9a-fA-F.:]+)"))
# The time stamp of LOG_FORMAT (logging's asctime) or of ops/logs.py (ISO 8601), found where the
# datepattern lets fail2ban look for it: {^LN-BEG} means at the start of the line.
_STAMP = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"


def banned_host(line: str) -> str | None:
    """The host fail2ban would ban for ``line``: it finds the time stamp (only at the
    line start with ``{^LN-BEG}``), cuts it off, and searches the failregex in the
    rest (a ``^`` meaning right after the stamp, as in fail2ban 1.0)."""
    assert FAILREGEX, "docs/sip.md filter has no failregex"
    anchored = DATEPATTERN.startswith("{^LN-BEG}")  # else fail2ban looks anywhere
    stamp = re.match(_STAMP, line) if anchored else re.search(_STAMP, line)
    if stamp is None:
        return None
    m = HOST_RE.search(line[: stamp.start()] + line[stamp.end() :])
    return m.group("host") if m else None
