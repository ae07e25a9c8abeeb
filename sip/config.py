"""Settings and routes for the stand-alone redirector (`python -m sip`), from JSON.

The hub feeds `RedirectService` from storage; the stand-alone process (benchmarks,
a sidecar on its own host) reads one JSON file instead:

    {"settings": {"host": "127.0.0.1", "udp_port": 5060, "rate": 50, ...},
     "servers": [{"member_id": 1, "domain": "a.example", "host": "10.0.0.1",
                  "port": 5060, "tls_port": 5061}],
     "ranges": [{"member_id": 1, "start": "1000", "end": "1999"}]}

`load_config(path)` returns the settings and the routing table, or raises
`ValueError` naming what is wrong. Numbers match a range of the same length,
as in the hub's numbering plan.
"""

from __future__ import annotations

import bisect
import itertools
import json
from collections.abc import Iterable
from dataclasses import fields
from pathlib import Path
from typing import Any

from sip.redirect import MAX_NUMBER_DIGITS, MemberServer, RoutingTable
from sip.service import RedirectSettings


class RangeResolver:
    """number → member_id over inclusive (start, end, member_id) digit ranges."""

    def __init__(self, ranges: Iterable[tuple[str, str, int]]) -> None:
        rows: list[tuple[int, int, int, int]] = []
        for start, end, member_id in ranges:
            ok = all(s.isascii() and s.isdigit() for s in (start, end))
            if not ok or len(start) != len(end) or not 0 < len(start) <= MAX_NUMBER_DIGITS:
                raise ValueError(f"range {start}-{end}: 1-15 digits, same length at both ends")
            if int(start) > int(end):
                raise ValueError(f"range {start}-{end}: start after end")
            rows.append((len(start), int(start), int(end), member_id))
        rows.sort()
        for a, b in itertools.pairwise(rows):
            if a[0] == b[0] and b[1] <= a[2]:
                raise ValueError("number ranges overlap")
        self._keys = [(r[0], r[1]) for r in rows]
        self._rows = rows

    def __call__(self, number: str) -> int | None:
        key = (len(number), int(number))
        i = bisect.bisect_right(self._keys, key) - 1
        if i < 0:
            return None
        length, _, end, member_id = self._rows[i]
        return member_id if length == key[0] and key[1] <= end else None


def _settings(raw: dict[str, Any]) -> RedirectSettings:
    known = {f.name for f in fields(RedirectSettings)}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"unknown settings: {sorted(unknown)}")
    values = dict(raw)
    if values.get("cert_dir") is not None:
        values["cert_dir"] = Path(values["cert_dir"])
    return RedirectSettings(**values)


def parse_config(data: dict[str, Any]) -> tuple[RedirectSettings, RoutingTable]:
    try:
        settings = _settings(data.get("settings", {}))
        servers = [MemberServer(**s) for s in data.get("servers", [])]
        ranges = [(r["start"], r["end"], r["member_id"]) for r in data.get("ranges", [])]
        table = RoutingTable.of(servers, RangeResolver(ranges))
    except (TypeError, KeyError) as exc:
        raise ValueError(f"bad redirect config: {exc}") from None
    return settings, table


def load_config(path: Path) -> tuple[RedirectSettings, RoutingTable]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the top level must be an object")
    return parse_config(data)
