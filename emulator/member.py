"""One emulated member server: its world, its hub links, and how it reacts.

Role: the asyncio glue around ``MemberWorld`` (state), ``behaviour`` (decisions) and
the connections the server hands it. Every change goes out as one event to every
authenticated hub link; every command gets exactly one result (idempotent by id: a
repeated id gets the same answer). Call ``setup()`` once before serving; the server
calls ``tick_stats()`` periodically and ``on_command``/``on_sync`` as hubs ask.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from types import MappingProxyType
from typing import Protocol

from controllers.auth import AuthPolicy, MemberAuthenticator
from controllers.messages import (
    Command,
    CommandKind,
    EventMessage,
    Message,
    Result,
    Sync,
    encode,
)
from controllers.sso import SsoVerifier
from emulator.behaviour import (
    Behaviour,
    CallOutcome,
    call_outcome,
    command_fails,
    command_latency,
    evolve_stats,
    initial_stats,
)
from emulator.spec import EmulatedMemberSpec, VenueSpec
from emulator.sync import Held, MemberData
from emulator.world import MemberWorld
from hub.conference import CascadeRef, Event, Venue, VenueStatus


class Outlet(Protocol):
    """What a member needs of one hub connection (see emulator.server)."""

    @property
    def up(self) -> bool: ...

    @property
    def backlog(self) -> int: ...

    def enqueue(self, data: bytes) -> None: ...


class Peers(Protocol):
    """What a member asks of the federation around it (``EmulatedFederation`` answers).

    A Protocol, so that the member does not import the federation that imports it.
    """

    def meeting_owner(self, number: str) -> EmulatedMember | None:
        """The member whose VMR range holds ``number`` (None: no member)."""
        ...

    def open_meeting(self, ref: CascadeRef) -> bool:
        """Can ``ref`` be cascaded in (its VMR starts if it was not running)?"""
        ...

    def by_domain(self, domain: str) -> EmulatedMember | None:
        """The member with this primary domain (None: not in this federation)."""
        ...

    def cascade_dropped(self, ref: CascadeRef) -> None:
        """A cascade link to ``ref`` was hung up by this member."""
        ...


def local_accounts(spec: EmulatedMemberSpec) -> Held:
    """Accounts a server had before it was bound to the hub (binding wipes them)."""
    try:
        number = spec.range_of("system_account").number(0)
    except KeyError:
        number = "0"
    item = {"key": "local-admin", "number": number, "name": f"local-{spec.key}"}
    return Held(0, MappingProxyType({"local-admin": MappingProxyType(item)}))


def new_epoch() -> int:
    return time.time_ns() // 1000


def cascade_venue_id(number: str) -> str:
    """Conference numbers are unique federation-wide, so they name cascade venues."""
    return f"cascade-{number}"


class EmulatedMember:
    """A member server good enough that the hub cannot tell it from a real one."""

    def __init__(
        self,
        spec: EmulatedMemberSpec,
        *,
        seed: int = 0,
        behaviour: Behaviour | None = None,
        policy: AuthPolicy | None = None,
        federation: Peers | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.spec = spec
        self.behaviour = behaviour or Behaviour()
        self.rng = random.Random(f"{seed}:{spec.key}")
        self.world = MemberWorld(spec.domain, new_epoch())
        self.authenticator = MemberAuthenticator(spec.username, spec.password, policy)
        self.sso = SsoVerifier(spec.domain, spec.password, policy)
        self.sso_signed_in: list[str] = []  # admins signed in from the hub
        self.sso_refused = 0
        self.federation = federation
        self.wall = wall
        self.outlets: set[Outlet] = set()
        self.frozen = False  # fault injection: a hung server answers nothing
        self.data = MemberData()  # what the hub pushed (emulator/sync.py)
        self.data.held["user_accounts"] = local_accounts(spec)  # wiped by the first push
        self.call_answer: CallOutcome | None = None  # fault injection: its meeting answers so
        self.events_sent = 0
        self._contacts = {v.id: v for v in spec.venues}
        self._by_number = {v.number: v for v in spec.venues}
        self._results: OrderedDict[str, Result | None] = OrderedDict()

    # -- set-up ----------------------------------------------------------------------

    def setup(self) -> None:
        """Start the spec's conferences with their contacts in their initial states."""
        for conf in self.spec.conferences:
            venues = tuple(
                self._venue(v, v.initial) for v in self.spec.venues if v.conference == conf.number
            )
            self.publish(
                self.world.start_conference(
                    conf.number, conf.name, conf.kind, self.wall(), conf.layout, venues
                )
            )

    def _venue(self, v: VenueSpec, status: VenueStatus) -> Venue:
        joined = status is VenueStatus.JOINED
        reason = "venue offline" if status is VenueStatus.FAILED else ""
        stats = initial_stats(self.rng) if joined else None
        return Venue(v.id, v.name, status, v.muted, v.camera_on, v.role, None, stats, reason)

    def attach_cascade(self, number: str, child: EmulatedMember, child_number: str) -> None:
        """Join ``child``'s conference into ours as a cascade venue (joined)."""
        name = f"{child.spec.display_name} meeting"[:128]
        ref = CascadeRef(child.spec.domain, child_number)
        venue = Venue(cascade_venue_id(child_number), name, VenueStatus.JOINED, cascade=ref)
        self.publish(self.world.join(number, venue, initial_stats(self.rng)))

    # -- output ----------------------------------------------------------------------

    def publish(self, event: Event | None) -> None:
        """Send one event to every authenticated hub link (nothing if None)."""
        if event is None or self.frozen:
            return
        self.broadcast(encode(EventMessage(event)))

    def broadcast(self, data: bytes) -> None:
        for outlet in self.outlets:
            if outlet.up:
                outlet.enqueue(data)
                self.events_sent += 1

    def _answer(self, message: Message) -> None:
        if not self.frozen:
            self.broadcast(encode(message))

    # -- commands --------------------------------------------------------------------

    def on_command(self, cmd: Command) -> None:
        """Act on a command after a realistic delay; answer exactly once per id."""
        if cmd.id in self._results:
            done = self._results[cmd.id]
            if done is not None:  # a hub resent it after a reconnect: same answer
                self._answer(done)
            return
        self._results[cmd.id] = None
        while len(self._results) > 4096:
            self._results.popitem(last=False)
        loop = asyncio.get_running_loop()
        delay = command_latency(self.rng, self.behaviour)
        if cmd.kind is CommandKind.CALL:
            loop.call_later(delay, self._call, cmd)
        else:
            loop.call_later(delay, self._act, cmd)

    def _finish(self, cmd: Command, reason: str = "") -> None:
        result = Result(cmd.id, ok=not reason, reason=reason)
        self._results[cmd.id] = result
        self._answer(result)

    def _act(self, cmd: Command) -> None:
        w, conf = self.world, cmd.conference
        if not w.running(conf):
            return self._finish(cmd, f"no conference {conf}")
        if cmd.kind is CommandKind.LAYOUT:
            layout = cmd.args.get("layout")
            if not isinstance(layout, str) or not layout:
                return self._finish(cmd, "layout needs args.layout")
            self.publish(w.set_layout(conf, layout[:64]))
            return self._finish(cmd)
        venue = w.venue(conf, cmd.venue)
        if venue is None:
            return self._finish(cmd, f"no venue {cmd.venue!r} in conference {conf}")
        if venue.status is not VenueStatus.JOINED:
            return self._finish(cmd, f"venue {venue.name} is not in the call ({venue.status})")
        if command_fails(self.rng, self.behaviour):
            return self._finish(cmd, f"venue {venue.name} did not respond")
        if cmd.kind in (CommandKind.MUTE, CommandKind.UNMUTE):
            self.publish(w.set_muted(conf, venue.id, cmd.kind is CommandKind.MUTE))
        elif cmd.kind in (CommandKind.CAMERA_ON, CommandKind.CAMERA_OFF):
            self.publish(w.set_camera(conf, venue.id, cmd.kind is CommandKind.CAMERA_ON))
        elif cmd.kind is CommandKind.HANG_UP:
            self.publish(w.leave(conf, venue.id, "hung up by operator"))
            if venue.cascade is not None and self.federation is not None:
                self.federation.cascade_dropped(venue.cascade)
        return self._finish(cmd)

    def _call(self, cmd: Command) -> None:
        conf = cmd.conference
        if not self.world.running(conf):
            return self._finish(cmd, f"no conference {conf}")
        target = self._call_target(cmd)
        if isinstance(target, str):
            return self._finish(cmd, target)
        venue, reachable = target
        current = self.world.venue(conf, venue.id)
        if current is not None and current.status is VenueStatus.JOINED:
            return self._finish(cmd)  # already there: the call is a success
        elsewhere = self.world.find_venue(venue.id)
        if elsewhere is not None and elsewhere[0] != conf:
            if elsewhere[1].status in (VenueStatus.JOINED, VenueStatus.RINGING):
                return self._finish(cmd, CallOutcome.BUSY.value)
        self.ring(conf, venue, reachable, lambda reason: self._finish(cmd, reason))

    def _call_target(self, cmd: Command) -> tuple[Venue, bool] | str:
        """The venue a call command means, and whether it can answer; or why not."""
        conf = cmd.conference
        if cmd.venue:
            known = self.world.venue(conf, cmd.venue)
            if known is not None:
                reachable = True
                if known.cascade is not None:
                    reachable = self._cascade_reachable(known.cascade)
                elif cmd.venue in self._contacts:
                    reachable = self._contacts[cmd.venue].reachable
                return known, reachable
            spec = self._contacts.get(cmd.venue)
        else:
            number = cmd.args.get("number")
            if not isinstance(number, str):
                return "call needs a venue id or args.number"
            spec = self._by_number.get(number)
            if spec is None and self.federation is not None:
                child = self.federation.meeting_owner(number)
                if child is not None and child is not self:
                    ref = CascadeRef(child.spec.domain, number)
                    name = f"{child.spec.display_name} meeting"[:128]
                    cascade = Venue(
                        cascade_venue_id(number), name, VenueStatus.RINGING, cascade=ref
                    )
                    return cascade, self._cascade_reachable(ref)
        if spec is None:
            return "no such contact"
        return self._venue(spec, VenueStatus.RINGING), spec.reachable

    def _cascade_reachable(self, ref: CascadeRef) -> bool:
        return self.federation is not None and self.federation.open_meeting(ref)

    def ring(
        self, conf: str, venue: Venue, reachable: bool, done: Callable[[str], None] | None = None
    ) -> None:
        """Ring a venue now; it joins or fails later, then ``done(reason or "")`` runs."""
        self.publish(self.world.ring(conf, venue))
        ring_s, outcome = call_outcome(self.rng, self.behaviour, reachable)
        if venue.cascade is not None and reachable:
            ring_s, outcome = self._meeting_answer(venue.cascade, ring_s)

        def settle() -> None:
            if self.world.venue(conf, venue.id) is None:  # conference ended meanwhile
                return done("conference ended") if done else None
            if outcome is CallOutcome.ANSWER:
                self.publish(self.world.join(conf, venue, initial_stats(self.rng)))
                reason = ""
            else:
                reason = outcome.value
                self.publish(self.world.fail(conf, venue.id, reason))
            if done is not None:
                done(reason)

        asyncio.get_running_loop().call_later(ring_s, settle)

    def _meeting_answer(self, ref: CascadeRef, ring_s: float) -> tuple[float, CallOutcome]:
        """A member's meeting answers a cascade call as a machine does (after the command
        latency), unless that member is set to fail it (``call_answer``)."""
        child = self.federation.by_domain(ref.member) if self.federation is not None else None
        seeded = None if child is None else child.call_answer
        if seeded is None or seeded is CallOutcome.ANSWER:
            return command_latency(self.rng, self.behaviour), CallOutcome.ANSWER
        if seeded is CallOutcome.NO_ANSWER:
            return self.behaviour.ring[1] * 2, seeded
        return min(ring_s, 0.5), seeded

    def auto_call(self, conf: str) -> None:
        """The auto-call policy: ring every contact assigned to ``conf``."""
        if not self.spec.auto_call:
            return
        for spec in self.spec.venues:
            if spec.conference == conf:
                self.ring(conf, self._venue(spec, VenueStatus.RINGING), spec.reachable)

    def on_sync(self, sync: Sync) -> None:
        """Apply a pushed data set whole or not at all, keep it, and acknowledge it (a
        chunked push once its last frame is in)."""
        ack = self.data.apply(sync)
        if ack is not None:
            self._answer(ack)

    # -- statistics and scripted activity -----------------------------------------------

    def tick_stats(self, dip_chance: float = 0.02) -> None:
        """Every joined venue reports fresh call statistics; a few dip in quality."""
        w = self.world
        for conf in w.conference_numbers():
            for venue_id in w.venue_ids(conf):
                venue = w.venue(conf, venue_id)
                if venue is None or venue.status is not VenueStatus.JOINED:
                    continue
                prev = venue.stats or initial_stats(self.rng)
                dip = self.rng.random() < dip_chance
                self.publish(w.set_stats(conf, venue_id, evolve_stats(prev, self.rng, dip)))

    def random_action(self, kind: str) -> None:
        """One scripted action: "join_leave", "mute", "camera" or "dip"."""
        w = self.world
        confs = w.conference_numbers()
        if not confs:
            return
        conf = self.rng.choice(confs)
        ids = [i for i in w.venue_ids(conf) if i in self._contacts]
        if not ids:
            return
        venue = w.venue(conf, self.rng.choice(ids))
        assert venue is not None
        joined = venue.status is VenueStatus.JOINED
        if venue.status is VenueStatus.RINGING:  # someone finally answers
            self.publish(w.join(conf, venue, initial_stats(self.rng)))
        elif kind == "join_leave":
            if joined:
                self.publish(w.leave(conf, venue.id, "left"))
            else:
                self.ring(conf, venue, self._contacts[venue.id].reachable)
        elif kind == "mute" and joined:
            self.publish(w.set_muted(conf, venue.id, not venue.muted))
        elif kind == "camera" and joined:
            self.publish(w.set_camera(conf, venue.id, not venue.camera_on))
        elif kind == "dip" and joined:
            prev = venue.stats or initial_stats(self.rng)
            self.publish(w.set_stats(conf, venue.id, evolve_stats(prev, self.rng, dip=True)))

    # -- fault injection (tests, demos) --------------------------------------------------

    def inject_raw(self, data: bytes | str) -> None:
        """Send an arbitrary frame to every linked hub (malformed, oversized, …)."""
        self.broadcast(data.encode() if isinstance(data, str) else data)

    def restart_epoch(self) -> None:
        """Behave as if restarted with the same state: later events carry a new epoch."""
        self.world.new_epoch(new_epoch())
