"""Benchmark of hub.numbering: building, resolving and refusing on a 100k-range plan.

Run from the project root: ``python tests/bench/bench_numbering.py [--quick]``.
Prints human-readable lines, then one JSON object with all figures (medians) as the
last line. Not a timed test: the figures are for the report and for spotting regressions.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from hub.numbering import NumberPlan, NumberRange, RangeConflict, RangeType

N_RANGES = 100_000
N_MEMBERS = 2_000
LENGTHS = range(6, 13)

Row = tuple[int, int, int, int, RangeType]  # (length, lo, hi, member, type)


def make_ranges(rng: random.Random) -> list[NumberRange]:
    """Random non-overlapping ranges: pairs of sorted distinct points per length."""
    per_len = [N_RANGES // len(LENGTHS)] * len(LENGTHS)
    per_len[0] += N_RANGES - sum(per_len)
    types = list(RangeType)
    out: list[NumberRange] = []
    for length, k in zip(LENGTHS, per_len, strict=True):
        points = sorted(rng.sample(range(10**length), 2 * k))
        for i in range(k):
            lo, hi = points[2 * i], points[2 * i + 1]
            # Short ranges mostly (realistic), some wide ones.
            if rng.random() < 0.9:
                hi = min(hi, lo + rng.choice([0, 9, 99, 999]))
            out.append(
                NumberRange(
                    id=len(out) + 1,
                    member_id=rng.randrange(1, N_MEMBERS + 1),
                    type=rng.choice(types),
                    start=str(lo).zfill(length),
                    end=str(hi).zfill(length),
                )
            )
    rng.shuffle(out)
    return out


def make_lookups(rng: random.Random, ranges: list[NumberRange], n: int) -> list[str]:
    """Half numbers inside a random range, half in the gap after one (guaranteed misses)."""
    ordered = sorted(ranges, key=lambda r: (len(r.start), int(r.start)))
    out: list[str] = []
    while len(out) < n:
        i = rng.randrange(len(ordered))
        r = ordered[i]
        length = len(r.start)
        if len(out) % 2 == 0:
            out.append(str(rng.randint(int(r.start), int(r.end))).zfill(length))
            continue
        nxt = ordered[i + 1] if i + 1 < len(ordered) else None
        gap_end = int(nxt.start) - 1 if nxt and len(nxt.start) == length else 10**length - 1
        if int(r.end) < gap_end:
            out.append(str(rng.randint(int(r.end) + 1, gap_end)).zfill(length))
    rng.shuffle(out)
    return out


def make_conflicting(rng: random.Random, ranges: list[NumberRange], n: int) -> list[NumberRange]:
    """Ranges overlapping an existing one (shifted, inside, around), new ids."""
    out: list[NumberRange] = []
    for k in range(n):
        r = rng.choice(ranges)
        length = len(r.start)
        lo, hi = int(r.start), int(r.end)
        a = max(0, lo - rng.randint(0, 50))
        b = rng.randint(lo, hi)
        out.append(
            NumberRange(
                id=N_RANGES + 1 + k,
                member_id=rng.randrange(1, N_MEMBERS + 1),
                type=rng.choice(list(RangeType)),
                start=str(a).zfill(length),
                end=str(b).zfill(length),
            )
        )
    return out


def make_fresh(rng: random.Random, plan: NumberPlan, n: int) -> list[NumberRange]:
    """``n`` new 13-digit ranges that overlap nothing (no plan range has 13 digits)."""
    points = sorted(rng.sample(range(10**13), 2 * n))
    return [
        NumberRange(
            id=2 * N_RANGES + k,
            member_id=rng.randrange(1, N_MEMBERS + 1),
            type=RangeType.VMR,
            start=str(points[2 * k]).zfill(13),
            end=str(points[2 * k + 1]).zfill(13),
        )
        for k in range(n)
    ]


class BenchTree:
    """A member tree for the nested benchmark: parents and levels by member id."""

    def __init__(self) -> None:
        self.parent: dict[int, int | None] = {}
        self.level: dict[int, int] = {}

    def add(self, member_id: int, parent: int | None) -> None:
        self.parent[member_id] = parent
        self.level[member_id] = 1 if parent is None else self.level[parent] + 1

    def level_of(self, member_id: int) -> int:
        return self.level[member_id]

    def is_within(self, scope: int | None, member_id: int) -> bool:
        m: int | None = member_id
        while m is not None:
            if m == scope:
                return True
            m = self.parent[m]
        return scope is None


def make_nested(rng: random.Random) -> tuple[BenchTree, list[NumberRange]]:
    """About 100k ranges delegated down 5 levels (12-digit numbers): the province holds 10
    blocks; 20 cities, 10 counties per city, 10 townships per county and 10 villages per
    township each hold a few blocks carved from their parent's (disjoint among siblings)."""
    tree = BenchTree()
    out: list[NumberRange] = []
    fanout = {1: 20, 2: 10, 3: 10, 4: 10}
    blocks = {1: 10, 2: 5, 3: 5, 4: 5, 5: 4}

    def hold(member: int, spans: list[tuple[int, int]]) -> None:
        for a, b in spans:
            out.append(
                NumberRange(
                    len(out) + 1,
                    member,
                    RangeType.GENERAL_MEETING,
                    str(a).zfill(12),
                    str(b).zfill(12),
                )
            )

    def carve(member: int, level: int, spans: list[tuple[int, int]]) -> None:
        hold(member, spans)
        if level not in fanout:
            return
        kids, each = fanout[level], blocks[level + 1]
        per_span = -(-2 * kids * each // len(spans))  # half the slots stay the parent's
        slots = [
            (lo + k * ((hi - lo + 1) // per_span), lo + (k + 1) * ((hi - lo + 1) // per_span) - 1)
            for lo, hi in spans
            for k in range(per_span)
        ]
        rng.shuffle(slots)
        for i in range(kids):
            child = len(tree.parent) + 1
            tree.add(child, member)
            carve(child, level + 1, sorted(slots[i * each : (i + 1) * each]))

    tree.add(1, None)
    width = 10**12 // 20
    carve(1, 1, [(k * 2 * width, k * 2 * width + width - 1) for k in range(blocks[1])])
    return tree, out


def linear_deepest(rows: list[tuple[int, int, int, int]], number: str) -> int | None:
    """The nested baseline: scan everything, keep the deepest holder."""
    value, best, best_level = int(number), None, 0
    for lo, hi, member, level in rows:
        if lo <= value <= hi and level > best_level:
            best, best_level = member, level
    return best


def linear_resolve(rows: list[Row], number: str) -> int | None:
    """The baseline: a straight scan, as a naive implementation would do."""
    length, value = len(number), int(number)
    for n, lo, hi, member, _type in rows:
        if n == length and lo <= value <= hi:
            return member
    return None


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs, well under a minute")
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()
    quick: bool = args.quick
    build_runs, resolve_runs, linear_runs, refuse_runs = (1, 3, 1, 3) if quick else (3, 7, 3, 7)
    n_lookups = 100_000
    n_linear = 100 if quick else 300
    n_conflicts = 20_000

    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    ranges = make_ranges(rng)
    lookups = make_lookups(rng, ranges, n_lookups)
    conflicting = make_conflicting(rng, ranges, n_conflicts)
    print(
        f"data: {len(ranges):,} ranges over {N_MEMBERS:,} members, lengths "
        f"{LENGTHS.start}-{LENGTHS.stop - 1}, generated in {time.perf_counter() - t0:.1f} s"
    )

    # (1) add() one by one from empty, with conflict checking.
    def build() -> NumberPlan:
        plan = NumberPlan()
        for r in ranges:
            plan.add(r)
        return plan

    add_times = [timed(build) for _ in range(build_runs)]
    plan = build()
    adds_per_s = len(ranges) / statistics.median(add_times)
    print(f"add() from empty: {adds_per_s:,.0f} ranges/s (median of {build_runs})")

    load_times = [timed(lambda: NumberPlan(ranges)) for _ in range(build_runs)]
    load_per_s = len(ranges) / statistics.median(load_times)
    print(f"NumberPlan(ranges) bulk load: {load_per_s:,.0f} ranges/s")

    copy_ms = statistics.median(timed(plan.copy) for _ in range(build_runs)) * 1000
    print(f"copy(): {copy_ms:.3f} ms for {len(plan):,} ranges")

    # One stored change as the store makes it: draft = copy of the published snapshot,
    # check + add one range, freeze and publish; the next change starts from that one.
    snapshot = plan.freeze()
    extra = make_fresh(rng, plan, 2_000)

    def changes() -> None:
        nonlocal snapshot
        for r in extra:
            draft = snapshot.copy()
            draft.add(r)
            snapshot = draft.freeze()

    cow_ms = timed(changes) / len(extra) * 1000
    print(f"copy-on-write change (copy + add + freeze): {cow_ms:.3f} ms on {len(plan):,} ranges")

    # (2) resolve() on half hits, half misses.
    resolve = plan.resolve

    def resolve_all() -> int:
        hits = 0
        for number in lookups:
            if resolve(number) is not None:
                hits += 1
        return hits

    hits = resolve_all()
    resolve_per_s = len(lookups) / statistics.median(
        [timed(resolve_all) for _ in range(resolve_runs)]
    )
    print(
        f"resolve(): {resolve_per_s:,.0f} lookups/s (median of {resolve_runs}, "
        f"{hits / len(lookups):.0%} hits)"
    )

    # (3) the same lookups by linear scan over the same data.
    rows: list[Row] = [
        (len(r.start), int(r.start), int(r.end), r.member_id, r.type) for r in ranges
    ]
    sample = lookups[:n_linear]
    assert [linear_resolve(rows, x) for x in sample] == [resolve(x) for x in sample]
    linear_per_s = n_linear / statistics.median(
        [timed(lambda: [linear_resolve(rows, x) for x in sample]) for _ in range(linear_runs)]
    )
    ratio = resolve_per_s / linear_per_s
    print(
        f"linear scan: {linear_per_s:,.0f} lookups/s (median of {linear_runs}, "
        f"{n_linear} lookups); resolve() is {ratio:,.0f}x faster"
    )

    # Conflict-check refusals.
    check_add = plan.check_add

    def refuse_all() -> int:
        refused = 0
        for r in conflicting:
            try:
                check_add(r)
            except RangeConflict:
                refused += 1
        return refused

    assert refuse_all() == len(conflicting)
    refusals_per_s = len(conflicting) / statistics.median(
        [timed(refuse_all) for _ in range(refuse_runs)]
    )
    print(f"check_add() refusals: {refusals_per_s:,.0f}/s (median of {refuse_runs})")

    # next_free on a member with some used numbers.
    member = plan.get(1).member_id
    used = {plan.get(1).start}
    nf_n = 10_000
    nf_s = statistics.median(
        [
            timed(lambda: [plan.next_free(member, RangeType.VMR, used) for _ in range(nf_n)])
            for _ in range(resolve_runs)
        ]
    )
    next_free_per_s = nf_n / nf_s
    print(f"next_free(): {next_free_per_s:,.0f} calls/s")

    # Nested delegation: a number answers to its deepest holder (one bisect per level).
    tree, nested = make_nested(rng)
    t_load = timed(lambda: NumberPlan(nested, lineage=tree))
    nplan = NumberPlan(nested, lineage=tree).freeze()
    top = [r for r in nested if r.member_id == 1]
    nlookups = [
        str(rng.randint(int(r.start), int(r.end))).zfill(12)
        for r in (rng.choice(top) for _ in range(n_lookups))
    ]
    nresolve = nplan.resolve

    def nested_all() -> None:
        for number in nlookups:
            nresolve(number)

    nested_per_s = len(nlookups) / statistics.median(
        [timed(nested_all) for _ in range(resolve_runs)]
    )
    deep = sum(1 for x in nlookups[:2000] if tree.level_of(nresolve(x) or 1) >= 3) / 2000
    nrows = [(int(r.start), int(r.end), r.member_id, tree.level_of(r.member_id)) for r in nested]
    nsample = nlookups[:n_linear]
    assert [linear_deepest(nrows, x) for x in nsample] == [nresolve(x) for x in nsample]
    nested_linear_per_s = n_linear / statistics.median(
        [timed(lambda: [linear_deepest(nrows, x) for x in nsample]) for _ in range(linear_runs)]
    )
    nested_ratio = nested_per_s / nested_linear_per_s
    print(
        f"nested plan: {len(nested):,} ranges over {len(tree.level):,} members on 5 levels, "
        f"loaded in {t_load:.2f} s; resolve(): {nested_per_s:,.0f} lookups/s "
        f"({deep:.0%} answered at level 3 or deeper); linear deepest-holder scan: "
        f"{nested_linear_per_s:,.1f}/s; {nested_ratio:,.0f}x faster"
    )

    print(
        json.dumps(
            {
                "bench": "numbering",
                "quick": quick,
                "python": platform.python_version(),
                "ranges": len(ranges),
                "members": N_MEMBERS,
                "adds_per_s": round(adds_per_s),
                "bulk_load_per_s": round(load_per_s),
                "copy_ms": round(copy_ms, 3),
                "cow_change_ms": round(cow_ms, 3),
                "resolve_per_s": round(resolve_per_s),
                "resolve_hit_ratio": round(hits / len(lookups), 3),
                "linear_resolve_per_s": round(linear_per_s, 1),
                "resolve_vs_linear": round(ratio),
                "refusals_per_s": round(refusals_per_s),
                "next_free_per_s": round(next_free_per_s),
                "nested_ranges": len(nested),
                "nested_load_s": round(t_load, 2),
                "nested_resolve_per_s": round(nested_per_s),
                "nested_linear_per_s": round(nested_linear_per_s, 1),
                "nested_resolve_vs_linear": round(nested_ratio),
                "runs": {
                    "build": build_runs,
                    "resolve": resolve_runs,
                    "linear": linear_runs,
                    "refuse": refuse_runs,
                },
            }
        )
    )


if __name__ == "__main__":
    main()
