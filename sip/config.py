"""Settings and routes for the stand-alone redirector (`python -m sip`), from JSON.

The hub feeds `RedirectService` from storage; the stand-alone process (benchmarks,
a sidecar on its own host) reads one JSON file instead:

    {"settings": {"host": "127.0.0.1", "udp_port": 5060, "rate": 50, ...},
     "servers": [{"member_id": 1, "domain": "a.example", "host": "10.0.0.1",
                  "port": 5060, "tls_port": 5061}],
     "ranges": [{"member_id": 1, "start": "1000", "end": "1999", "type": "vmr"}]}

`load_config(path)` returns the settings and the routing table, or raises
`ValueError` naming what is wrong. The ranges make a hub `NumberPlan` (the same
rules and lookup as the hub's own routing: no two ranges overlap, a number matches
a range of its own length); `type` is optional.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from hub.numbering import NumberPlan, NumberPlanError, NumberRange, RangeType
from sip.redirect import MemberServer, RoutingTable
from sip.service import RedirectSettings


def number_plan(ranges: Iterable[Mapping[str, Any]]) -> NumberPlan:
    """The hub's :class:`NumberPlan` of the config's ranges (``type`` defaults to
    ``general_meeting``); raises ValueError naming the bad or overlapping range."""
    try:
        return NumberPlan(
            NumberRange(
                id=i,
                member_id=r["member_id"],
                type=r.get("type", RangeType.GENERAL_MEETING),
                start=r["start"],
                end=r["end"],
            )
            for i, r in enumerate(ranges, start=1)
        ).freeze()
    except NumberPlanError as exc:
        raise ValueError(f"bad number range: {exc.message}") from None


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
        plan = number_plan(data.get("ranges", []))
        table = RoutingTable.of(servers, plan.resolve)
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
