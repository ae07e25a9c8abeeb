"""Wire form of the live-state records (hub.cascade) on the federation link.

Role: turn ``Conference``/``Venue``/``CallStats``/``Snapshot``/``Event`` into plain
JSON-able dicts and back. Decoding checks every type and raises ``WireError`` with the
field at fault; the records' own constructors then check their invariants (their
``InvalidRecord`` is re-raised as ``WireError``), so whatever decodes is valid.
``x == from_wire(to_wire(x))`` for every record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hub.conference import (
    CHANGE_TYPES,
    CallStats,
    CameraChanged,
    CascadeRef,
    Change,
    Conference,
    ConferenceEnded,
    ConferenceStarted,
    Event,
    InvalidRecord,
    LayoutChanged,
    MuteChanged,
    Snapshot,
    StatsUpdated,
    Venue,
    VenueFailed,
    VenueJoined,
    VenueLeft,
    VenueRinging,
)

Wire = dict[str, Any]


class WireError(ValueError):
    """A message or record on the link is malformed; the text says which field and why."""


class FrameTooLarge(WireError):
    """A frame is larger than the receiver accepts (close code 1009, not 1007)."""


def field(d: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    """``d[key]`` checked to be of ``kind`` (bools are not ints here)."""
    try:
        value = d[key]
    except KeyError:
        raise WireError(f"missing field '{key}'") from None
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise WireError(f"field '{key}' must be a number, not a boolean")
    if not isinstance(value, kind):
        raise WireError(f"field '{key}' has the wrong type ({type(value).__name__})")
    return value


def optional(d: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any) -> Any:
    return field(d, key, kind) if key in d and d[key] is not None else default


def record(d: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(d, dict):
        raise WireError(f"{what} must be an object")
    return d


# --- records ------------------------------------------------------------------------


def stats_to_wire(s: CallStats) -> Wire:
    return {
        "tx_kbps": s.tx_kbps,
        "rx_kbps": s.rx_kbps,
        "loss_pct": s.loss_pct,
        "jitter_ms": s.jitter_ms,
        "rtt_ms": s.rtt_ms,
        "width": s.width,
        "height": s.height,
        "fps": s.fps,
    }


def stats_from_wire(d: Any) -> CallStats:
    d = record(d, "stats")
    num = (int, float)
    return CallStats(
        tx_kbps=field(d, "tx_kbps", int),
        rx_kbps=field(d, "rx_kbps", int),
        loss_pct=field(d, "loss_pct", num),
        jitter_ms=field(d, "jitter_ms", num),
        rtt_ms=field(d, "rtt_ms", num),
        width=field(d, "width", int),
        height=field(d, "height", int),
        fps=field(d, "fps", num),
    )


def venue_to_wire(v: Venue) -> Wire:
    out: Wire = {
        "id": v.id,
        "name": v.name,
        "status": v.status.value,
        "muted": v.muted,
        "camera_on": v.camera_on,
        "role": v.role.value,
    }
    if v.cascade is not None:
        out["cascade"] = {"member": v.cascade.member, "conference": v.cascade.conference}
    if v.stats is not None:
        out["stats"] = stats_to_wire(v.stats)
    if v.reason:
        out["reason"] = v.reason
    return out


def venue_from_wire(d: Any) -> Venue:
    d = record(d, "venue")
    cascade = None
    if d.get("cascade") is not None:
        c = record(d["cascade"], "cascade")
        cascade = CascadeRef(field(c, "member", str), field(c, "conference", str))
    stats = stats_from_wire(d["stats"]) if d.get("stats") is not None else None
    return Venue(
        id=field(d, "id", str),
        name=field(d, "name", str),
        status=field(d, "status", str),
        muted=field(d, "muted", bool),
        camera_on=field(d, "camera_on", bool),
        role=optional(d, "role", str, "interactive"),
        cascade=cascade,
        stats=stats,
        reason=optional(d, "reason", str, ""),
    )


def conference_to_wire(c: Conference) -> Wire:
    return {
        "number": c.number,
        "name": c.name,
        "kind": c.kind.value,
        "layout": c.layout,
        "started_at": c.started_at,
        "venues": [venue_to_wire(v) for v in c.venues],
    }


def conference_from_wire(d: Any) -> Conference:
    d = record(d, "conference")
    return Conference(
        number=field(d, "number", str),
        name=field(d, "name", str),
        kind=field(d, "kind", str),
        layout=field(d, "layout", str),
        started_at=float(field(d, "started_at", (int, float))),
        venues=tuple(venue_from_wire(v) for v in optional(d, "venues", list, [])),
    )


def snapshot_to_wire(s: Snapshot) -> Wire:
    return {
        "epoch": s.epoch,
        "seq": s.seq,
        "conferences": [conference_to_wire(c) for c in s.conferences],
    }


def snapshot_from_wire(d: Mapping[str, Any]) -> Snapshot:
    return Snapshot(
        epoch=field(d, "epoch", int),
        seq=field(d, "seq", int),
        conferences=tuple(conference_from_wire(c) for c in field(d, "conferences", list)),
    )


# --- changes and events ---------------------------------------------------------------

CHANGE_KINDS: dict[str, type[Change]] = {t.KIND: t for t in CHANGE_TYPES}


def change_to_wire(c: Change) -> Wire:
    out: Wire = {"kind": c.KIND}
    if isinstance(c, ConferenceStarted):
        out["conference"] = conference_to_wire(c.conference)
        return out
    out["conference"] = c.conference
    if isinstance(c, VenueJoined | VenueRinging):
        out["venue"] = venue_to_wire(c.venue)
    elif isinstance(c, LayoutChanged):
        out["layout"] = c.layout
    elif not isinstance(c, ConferenceEnded):
        out["venue"] = c.venue
        if isinstance(c, VenueLeft | VenueFailed):
            out["reason"] = c.reason
        elif isinstance(c, MuteChanged):
            out["muted"] = c.muted
        elif isinstance(c, CameraChanged):
            out["camera_on"] = c.camera_on
        elif isinstance(c, StatsUpdated):
            out["stats"] = stats_to_wire(c.stats)
    return out


def _conf(d: Mapping[str, Any]) -> str:
    return field(d, "conference", str)  # type: ignore[no-any-return]


def _venue_id(d: Mapping[str, Any]) -> str:
    return field(d, "venue", str)  # type: ignore[no-any-return]


_CHANGE_DECODERS: dict[str, Callable[[Mapping[str, Any]], Change]] = {
    "conference_started": lambda d: ConferenceStarted(conference_from_wire(d.get("conference"))),
    "conference_ended": lambda d: ConferenceEnded(_conf(d)),
    "venue_joined": lambda d: VenueJoined(_conf(d), venue_from_wire(d.get("venue"))),
    "venue_ringing": lambda d: VenueRinging(_conf(d), venue_from_wire(d.get("venue"))),
    "venue_left": lambda d: VenueLeft(_conf(d), _venue_id(d), optional(d, "reason", str, "")),
    "venue_failed": lambda d: VenueFailed(_conf(d), _venue_id(d), field(d, "reason", str)),
    "mute_changed": lambda d: MuteChanged(_conf(d), _venue_id(d), field(d, "muted", bool)),
    "camera_changed": lambda d: CameraChanged(_conf(d), _venue_id(d), field(d, "camera_on", bool)),
    "layout_changed": lambda d: LayoutChanged(_conf(d), field(d, "layout", str)),
    "call_stats": lambda d: StatsUpdated(_conf(d), _venue_id(d), stats_from_wire(d.get("stats"))),
}
assert set(_CHANGE_DECODERS) == set(CHANGE_KINDS), "every change kind needs a decoder"


def change_from_wire(d: Mapping[str, Any]) -> Change:
    kind = field(d, "kind", str)
    decoder = _CHANGE_DECODERS.get(kind)
    if decoder is None:
        raise WireError(f"unknown event kind '{kind}'")
    return decoder(d)


def event_to_wire(e: Event) -> Wire:
    out = change_to_wire(e.change)
    out["epoch"] = e.epoch
    out["seq"] = e.seq
    return out


def event_from_wire(d: Mapping[str, Any]) -> Event:
    return Event(field(d, "epoch", int), field(d, "seq", int), change_from_wire(d))


def checked(decode: Callable[[Any], Any], d: Any) -> Any:
    """Run a decoder, turning record invariant failures into ``WireError``."""
    try:
        return decode(d)
    except InvalidRecord as exc:
        raise WireError(str(exc)) from None
    except ValueError as exc:  # enum coercion of an unknown status/kind/role
        if isinstance(exc, WireError):
            raise
        raise WireError(str(exc)) from None
