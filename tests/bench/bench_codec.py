"""Benchmark of the link codec: encode and decode of event and snapshot frames.

Run from the project root: ``python tests/bench/bench_codec.py [--quick]``. Figures
are microseconds per frame (best of several repeats, one core): ``event_encode_us``
/ ``event_decode_us`` over a mix of mute, stats and join events, ``snapshot_*`` for
a snapshot of 20 conferences with 10 venues each. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from controllers.messages import EventMessage, SnapshotMessage, decode, encode  # noqa: E402
from hub.conference import (  # noqa: E402
    CallStats,
    Conference,
    ConferenceKind,
    Event,
    MuteChanged,
    Snapshot,
    StatsUpdated,
    Venue,
    VenueJoined,
    VenueStatus,
)

STATS = CallStats(4096, 3900, 0.25, 7.5, 41.0, 1920, 1080, 30.0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    quick = parser.parse_args().quick
    events = [
        EventMessage(Event(3, 5, MuteChanged("500", "v1", True))),
        EventMessage(Event(3, 6, StatsUpdated("500", "v1", STATS))),
        EventMessage(
            Event(3, 7, VenueJoined("500", Venue("v1", "Hall 1", VenueStatus.JOINED, stats=STATS)))
        ),
    ]
    venues = tuple(Venue(f"v{j}", "Hall", VenueStatus.JOINED, stats=STATS) for j in range(10))
    confs = tuple(
        Conference(str(500 + i), "Conf", ConferenceKind.VMR, venues=venues) for i in range(20)
    )
    snapshot = SnapshotMessage(Snapshot(1, 2, confs))
    frames = [encode(m) for m in events]
    snap_frame = encode(snapshot)
    n, repeat = (5000, 3) if quick else (20000, 7)

    def per_call(fn: object, number: int, per: int = 1) -> float:
        best = min(timeit.repeat(fn, number=number, repeat=repeat))  # type: ignore[arg-type]
        return round(best / number / per * 1e6, 2)

    result = {
        "bench": "codec",
        "event_encode_us": per_call(lambda: [encode(m) for m in events], n, len(events)),
        "event_decode_us": per_call(lambda: [decode(f) for f in frames], n, len(frames)),
        "snapshot_encode_us": per_call(lambda: encode(snapshot), n // 50),
        "snapshot_decode_us": per_call(lambda: decode(snap_frame), n // 50),
        "snapshot_bytes": len(snap_frame),
        "python": sys.version.split()[0],
        "quick": quick,
    }
    for key, value in result.items():
        print(f"{key:>20}: {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
