"""Emulated federations: a 5-level demo tree, flat load trees, and serving them.

Role: ``build_demo_federation`` / ``build_load_federation`` describe members (pure,
reproducible from the seed); ``serve_federation`` brings them up on one loopback port
and reports each member's link URL. The caller registers the same members on the hub
(domain, username, password, ranges) and points the hub's LinkManager at the URLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import string
from collections.abc import Callable, Iterable
from ssl import SSLContext

from controllers.auth import AuthPolicy
from emulator.activity import Activity, drive
from emulator.behaviour import Behaviour
from emulator.member import EmulatedMember
from emulator.server import EmulatorServer
from emulator.spec import (
    RANGE_TYPES,
    ConferenceSpec,
    EmulatedMemberSpec,
    NumberRangeSpec,
    VenueSpec,
)
from hub.conference import CascadeRef, ConferenceKind, VenueRole, VenueStatus
from hub.federation import LEVEL_NAMES

_VENUE_KINDS = ("Hall", "Office", "Room", "Center", "Station", "Studio")


def member_ranges(index: int) -> tuple[NumberRangeSpec, ...]:
    """Member ``index``'s blocks: 9-digit ``<type digit><index:05><000-999>`` per type."""
    return tuple(
        NumberRangeSpec(t, f"{d}{index:05d}000", f"{d}{index:05d}999")
        for d, t in enumerate(RANGE_TYPES, start=1)
    )


def strong_password(rng: random.Random) -> str:
    """12 characters with all four classes (passes the project's password policy)."""
    body = "".join(rng.choices(string.ascii_letters + string.digits, k=8))
    return f"Fh{body}{rng.randrange(10)}!"


def _venue_status(rng: random.Random) -> VenueStatus:
    return rng.choices(
        (VenueStatus.JOINED, VenueStatus.NOT_JOINED, VenueStatus.RINGING, VenueStatus.FAILED),
        (70, 12, 8, 10),
    )[0]


def _member(
    rng: random.Random,
    index: int,
    key: str,
    parent: EmulatedMemberSpec | None,
    domain: str,
    display: str,
    venue_count: int,
    *,
    forced_states: bool = False,
    varied: bool = True,
) -> EmulatedMemberSpec:
    level = 1 if parent is None else parent.level + 1
    ranges = member_ranges(index)
    accounts = ranges[0]
    meeting = ranges[4].number(0)
    title = "Province-wide federation meeting" if parent is None else f"{display} federation"
    confs = [
        ConferenceSpec(
            meeting,
            title,
            ConferenceKind.VMR,
            cascade_into=None if parent is None else (parent.key, parent.meeting),
        )
    ]
    extra: ConferenceSpec | None = None
    if varied and level == 2:
        extra = ConferenceSpec(ranges[3].number(0), f"{display} weekly", ConferenceKind.SCHEDULED)
    elif varied and level == 3 and index % 2 == 0:
        extra = ConferenceSpec(
            ranges[4].number(1), f"{display} briefing", ConferenceKind.BROADCAST, "speaker"
        )
    elif varied and level == 4 and index % 3 == 0:
        extra = ConferenceSpec(ranges[2].number(0), f"{display} huddle", ConferenceKind.INSTANT)
    if extra is not None:
        confs.append(extra)
    venues = []
    for n in range(venue_count):
        status = (
            list(VenueStatus)[n] if forced_states and n < len(VenueStatus) else _venue_status(rng)
        )
        in_extra = extra is not None and n >= venue_count - 3
        role = VenueRole.INTERACTIVE
        if in_extra and extra is not None and extra.kind is ConferenceKind.BROADCAST and n % 3:
            role = VenueRole.AUDIENCE
        venues.append(
            VenueSpec(
                id=f"v{accounts.number(n)}",
                name=f"{display} {_VENUE_KINDS[n % len(_VENUE_KINDS)]} {n + 1}",
                number=accounts.number(n),
                reachable=status is not VenueStatus.FAILED,
                initial=status,
                role=role,
                muted=rng.random() < 0.3,
                camera_on=rng.random() > 0.15,
                conference=(extra.number if in_extra and extra else meeting),
            )
        )
    return EmulatedMemberSpec(
        key=key,
        parent_key=None if parent is None else parent.key,
        level=level,
        domain=domain,
        display_name=display,
        username=f"{key.replace('.', '-')}-link",
        password=strong_password(rng),
        ranges=ranges,
        venues=tuple(venues),
        conferences=tuple(confs),
    )


def build_demo_federation(
    seed: int = 1,
    cities: int = 3,
    counties: int = 2,
    townships: int = 2,
    villages: tuple[int, int] = (1, 2),
    venues: tuple[int, ...] = (12, 10, 8, 7, 6),
) -> list[EmulatedMemberSpec]:
    """Province → cities → counties → townships → villages (about 40 members, 300 venues).

    Every member runs a federation VMR cascaded into its parent's; some run a scheduled,
    broadcast-interactive or instant meeting too. Venues start in every state.
    """
    rng = random.Random(seed)
    specs: list[EmulatedMemberSpec] = []

    def add(key: str, parent: EmulatedMemberSpec | None, domain: str, display: str) -> None:
        level = 1 if parent is None else parent.level + 1
        spec = _member(
            rng,
            len(specs),
            key,
            parent,
            domain,
            display,
            venues[level - 1],
            forced_states=parent is None,
        )
        specs.append(spec)

    add("prov", None, "prov.example", "Province")
    frontier = [specs[0]]
    fanouts: list[Callable[[], int]] = [
        lambda: cities,
        lambda: counties,
        lambda: townships,
        lambda: rng.randint(*villages),
    ]
    for level, fanout in enumerate(fanouts, start=2):
        nxt = []
        for parent in frontier:
            for i in range(1, fanout() + 1):
                word = LEVEL_NAMES[level]
                short = "town" if word == "township" else word
                key = f"{parent.key}.{short}{i}" if parent.parent_key else f"{short}{i}"
                domain = f"{short}{i}.{parent.domain}"
                display = f"{parent.display_name} {word.title()} {i}".removeprefix("Province ")
                add(key, parent, domain, display)
                nxt.append(specs[-1])
        frontier = nxt
    return specs


def build_load_federation(
    seed: int = 1, members: int = 2000, venues: int = 10_000
) -> list[EmulatedMemberSpec]:
    """A province and ``members - 1`` cities, ``venues`` spread evenly, all joined."""
    rng = random.Random(seed)
    specs: list[EmulatedMemberSpec] = []
    for i in range(members):
        count = venues // members + (1 if i < venues % members else 0)
        parent = specs[0] if specs else None
        key, domain = ("prov", "prov.example") if i == 0 else (f"m{i}", f"m{i}.prov.example")
        spec = _member(rng, i, key, parent, domain, key.title(), count, varied=False)
        joined = tuple(_all_joined(v) for v in spec.venues)
        specs.append(_replace_venues(spec, joined))
    return specs


def _all_joined(v: VenueSpec) -> VenueSpec:
    return VenueSpec(
        v.id, v.name, v.number, True, VenueStatus.JOINED, v.role, v.muted, v.camera_on, v.conference
    )


def _replace_venues(spec: EmulatedMemberSpec, venues: tuple[VenueSpec, ...]) -> EmulatedMemberSpec:
    s = spec
    return EmulatedMemberSpec(
        s.key,
        s.parent_key,
        s.level,
        s.domain,
        s.display_name,
        s.username,
        s.password,
        s.ranges,
        venues,
        s.conferences,
        s.auto_call,
    )


class EmulatedFederation:
    """The members of one emulator process, and what lies between them (cascades)."""

    def __init__(
        self,
        specs: Iterable[EmulatedMemberSpec],
        *,
        seed: int = 0,
        behaviour: Behaviour | None = None,
        policy: AuthPolicy | None = None,
    ) -> None:
        self.members: dict[str, EmulatedMember] = {}
        for spec in specs:
            self.members[spec.key] = EmulatedMember(
                spec, seed=seed, behaviour=behaviour, policy=policy, federation=self
            )
        self._by_domain = {m.spec.domain: m for m in self.members.values()}

    def setup(self) -> None:
        """Start every member's conferences, then join each into its parent's."""
        for member in self.members.values():
            member.setup()
        for member in self.members.values():
            for conf in member.spec.conferences:
                if conf.cascade_into is not None:
                    parent_key, parent_conf = conf.cascade_into
                    self.members[parent_key].attach_cascade(parent_conf, member, conf.number)

    def by_domain(self, domain: str) -> EmulatedMember | None:
        return self._by_domain.get(domain)

    def meeting_owner(self, number: str) -> EmulatedMember | None:
        """The member whose meeting ranges hold ``number``."""
        for member in self.members.values():
            if any(r.type != "system_account" and r.contains(number) for r in member.spec.ranges):
                return member
        return None

    def open_meeting(self, ref: CascadeRef) -> bool:
        """Can ``ref`` be cascaded in? A VMR that is not running starts (and auto-calls)."""
        member = self._by_domain.get(ref.member)
        if member is None or member.frozen:
            return False
        if member.world.running(ref.conference):
            return True
        if not member.spec.range_of("vmr").contains(ref.conference):
            return False
        member.publish(
            member.world.start_conference(
                ref.conference, f"{member.spec.display_name} VMR", ConferenceKind.VMR, member.wall()
            )
        )
        member.auto_call(ref.conference)
        return True

    def cascade_dropped(self, ref: CascadeRef) -> None:
        """A parent hung up a cascade link; the child's meeting simply goes on."""


class RunningFederation:
    """A served federation: ``urls[key]`` is each member's link URL; ``close()`` stops it."""

    def __init__(self, federation: EmulatedFederation, server: EmulatorServer) -> None:
        self.federation, self.server = federation, server
        self.urls = {k: server.url_for(m.spec.domain) for k, m in federation.members.items()}
        self._activity: asyncio.Task[None] | None = None

    def start_activity(self, activity: Activity, seed: int = 0) -> None:
        """Run ``activity`` until ``close()`` (a second call is ignored)."""
        if self._activity is not None:
            return
        members = list(self.federation.members.values())
        self._activity = asyncio.create_task(drive(members, activity, seed), name="activity")

    async def close(self) -> None:
        if self._activity is not None:
            self._activity.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._activity
        await self.server.stop()

    async def __aenter__(self) -> RunningFederation:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def serve_federation(
    specs: Iterable[EmulatedMemberSpec],
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    seed: int = 0,
    behaviour: Behaviour | None = None,
    policy: AuthPolicy | None = None,
    activity: Activity | None = None,
    idle_timeout: float = 30.0,
    ssl: SSLContext | None = None,
) -> RunningFederation:
    """Set the members up and serve them all on one loopback port (0 = any free port).

    Links are at ``ws://HOST:PORT/fed/link/<member-domain>``. Use the result as an async
    context manager, or call ``close()``.
    """
    federation = EmulatedFederation(specs, seed=seed, behaviour=behaviour, policy=policy)
    federation.setup()
    server = EmulatorServer(
        federation.members.values(), host, port, idle_timeout=idle_timeout, ssl=ssl
    )
    await server.start()
    running = RunningFederation(federation, server)
    if activity is not None:
        running.start_activity(activity, seed)
    return running
