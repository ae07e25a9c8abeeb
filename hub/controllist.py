"""The control list of a federation conference: every venue an operator can act on.

Role: for one federation conference — a member conference (the *root*) and every
member conference cascaded below it — keep the flat list of venues an operator sees
on the federation conference-control page, and turn deltas of the cascade state into
changes of that list. Pure: it reads the cascade state through ``LiveReader`` and is
fed the same ``Delta`` batches every other reader gets.

What the list holds (FEATURES.md §5, docs/live-api.md):

* every venue of the root conference and of each conference cascaded below it over
  joined cascade links (a link hung up, ringing or failed takes its branch out; the
  ``tree`` still shows it, with the link's status);
* cascade-link venues are excluded (they are the tree's edges, shown in ``tree``);
* audience venues of subordinate conferences are hidden when the federation
  conference or that subordinate conference is broadcast-interactive (the root's own
  audience stays visible: it is that level's meeting);
* venues of a member whose link is down keep their last state, marked ``stale``.

Outputs are ``ListChange(key, old, new)``: ``old``/``new`` are the list's entry
before and after (None = absent). Callers (``hub.fanout``) coalesce and filter them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from hub.cascade import CascadeNode, ConferenceDelta, Delta, VenueDelta
from hub.conference import (
    CallStats,
    CascadeRef,
    Conference,
    ConferenceKind,
    Venue,
    VenueRole,
    VenueStatus,
)
from hub.federation import Federation, FederationError

VenueKey = tuple[int, str, str]
"""(member id, conference number, venue id): a venue's identity in every list."""

NodeKey = tuple[int, str]
"""(member id, conference number): one member conference."""


class LiveReader(Protocol):
    """What the control list reads of the live state (``hub.cascade.CascadeState``).

    Guarantees expected: answers reflect every delta already handed to the list's
    ``apply`` (the reader is updated before the deltas are published).
    """

    def cascade_tree(self, member_id: int, number: str) -> CascadeNode | None: ...

    def conference(self, member_id: int, number: str) -> Conference | None: ...


@dataclass(frozen=True, slots=True)
class ControlVenue:
    """One row of the control list; the fields are the wire object ``V`` (in order)."""

    member_id: int
    conference: str
    id: str
    name: str
    status: VenueStatus
    muted: bool
    camera_on: bool
    role: VenueRole
    stats: CallStats | None
    reason: str
    stale: bool

    @property
    def key(self) -> VenueKey:
        return (self.member_id, self.conference, self.id)

    def same_but_stats(self, other: ControlVenue) -> bool:
        """True when only the call statistics differ (throttled apart from the rest)."""
        return (
            self.status == other.status
            and self.muted == other.muted
            and self.camera_on == other.camera_on
            and self.name == other.name
            and self.reason == other.reason
            and self.stale == other.stale
            and self.role == other.role
        )


@dataclass(frozen=True, slots=True)
class ListChange:
    """An entry appeared (old None), changed, or left the list (new None)."""

    key: VenueKey
    old: ControlVenue | None
    new: ControlVenue | None

    @property
    def stats_only(self) -> bool:
        return self.old is not None and self.new is not None and self.new.same_but_stats(self.old)


@dataclass(slots=True)
class _Node:
    """One member conference in the list, as last built, and the ids of its venues
    listed now (``apply`` keeps them). A rebuild that finds the same conference record
    (records are immutable; the reader builds a new one on a change), audience rule
    and staleness keeps the node and its entries as they are."""

    kind: ConferenceKind
    hide_audience: bool
    refs: dict[str, tuple[CascadeRef, bool]]  # cascade venues by id: (child, joined)
    conf: Conference | None = None
    stale: bool = False
    ids: set[str] = field(default_factory=set)


def control_venue(member_id: int, number: str, v: Venue, stale: bool) -> ControlVenue:
    return ControlVenue(
        member_id,
        number,
        v.id,
        v.name,
        v.status,
        v.muted,
        v.camera_on,
        v.role,
        v.stats,
        v.reason,
        stale,
    )


class ControlList:
    """The control list of the federation conference rooted at ``(member_id, number)``.

    Build it, read ``venues``/``tree``; feed every cascade delta batch to ``apply`` and
    link changes to ``set_stale``; both return the list's changes. ``exists`` is False
    while the root conference is not running (the list is then empty).
    """

    def __init__(
        self,
        reader: LiveReader,
        member_id: int,
        number: str,
        stale: Iterable[int] = (),
        *,
        lazy: bool = False,
    ) -> None:
        self.root: NodeKey = (member_id, number)
        self._lazy = lazy
        self._dirty = False
        self._reader = reader
        self._stale: set[int] = set(stale)
        self.tree: CascadeNode | None = None
        self.venues: dict[VenueKey, ControlVenue] = {}
        self._nodes: dict[NodeKey, _Node] = {}
        self._wanted: set[str] = set()  # conference numbers of not-yet-known tree nodes
        self.via: dict[tuple[str, str], str] = {}  # (domain, conference) -> cascade venue
        self.tree_version = 0
        self._rebuild()

    @property
    def exists(self) -> bool:
        return self.tree is not None

    def members(self) -> set[int]:
        """Members with a conference in this federation conference."""
        return {m for m, _ in self._nodes}

    def nodes(self) -> Iterator[NodeKey]:
        return iter(self._nodes)

    # -- inputs ----------------------------------------------------------------------

    def apply(self, deltas: Iterable[Delta]) -> list[ListChange]:
        """The list's changes for a batch of cascade deltas (already applied to the reader).

        A delta that may move the tree (a conference started or ended, a cascade venue
        appearing, going or naming another conference) rebuilds the list and diffs it;
        every other delta is one venue's change, in O(1). A *lazy* list only notes that
        the tree moved and rebuilds once, in ``settle()`` (many links of a federation
        conference coming up at once cost one rebuild per flush, not one each).
        """
        deltas = list(deltas)
        if any(self._moves_tree(d) for d in deltas):
            if not self._lazy:
                return self._rebuild()
            self._dirty = True
        out: list[ListChange] = []
        for d in deltas:
            if not isinstance(d, VenueDelta):
                continue  # a layout change of a known conference: no venue moves
            node = self._nodes.get((d.member_id, d.conference))
            if node is None:
                continue
            key = (d.member_id, d.conference, d.venue_id)
            new = self._entry(d.member_id, d.conference, node, d.venue)
            old = self.venues.get(key)
            if new == old:
                continue
            if new is None:
                del self.venues[key]
                node.ids.discard(d.venue_id)
            else:
                self.venues[key] = new
                node.ids.add(d.venue_id)
            out.append(ListChange(key, old, new))
        return out

    def settle(self) -> list[ListChange]:
        """Rebuild if the tree moved since the last call (lazy lists); the changes."""
        if not self._dirty:
            return []
        self._dirty = False
        return self._rebuild()

    def set_stale(self, member_id: int, stale: bool) -> list[ListChange]:
        """Mark (or unmark) a member's venues stale: its link is down (or back up)."""
        if (member_id in self._stale) == stale:
            return []
        if stale:
            self._stale.add(member_id)
        else:
            self._stale.discard(member_id)
        if member_id not in self.members():
            return []
        out: list[ListChange] = []
        for key, old in list(self.venues.items()):
            if key[0] == member_id:
                new = _restaled(old, stale)
                self.venues[key] = new
                out.append(ListChange(key, old, new))
        self.tree_version += 1  # the tree shows which members are stale
        return out

    def is_stale(self, member_id: int) -> bool:
        return member_id in self._stale

    # -- internals -------------------------------------------------------------------

    def _moves_tree(self, d: Delta) -> bool:
        if isinstance(d, ConferenceDelta):
            key = (d.member_id, d.number)
            node = self._nodes.get(key)
            if node is None:
                return d.conference is not None and (d.number in self._wanted or key == self.root)
            return d.conference is None or d.conference.kind is not node.kind
        node = self._nodes.get((d.member_id, d.conference))
        if node is None:
            return False
        link = None if d.venue is None or d.venue.cascade is None else _link(d.venue)
        return node.refs.get(d.venue_id) != link

    def _entry(
        self, member_id: int, number: str, node: _Node, venue: Venue | None
    ) -> ControlVenue | None:
        if venue is None or venue.cascade is not None:
            return None
        if node.hide_audience and venue.role is VenueRole.AUDIENCE:
            return None
        return control_venue(member_id, number, venue, member_id in self._stale)

    def _rebuild(self) -> list[ListChange]:
        """Recompute the tree and the entries of every node that changed since the last
        build (its conference, audience rule or staleness); return the difference.

        A node whose conference record is the one it was built from keeps its entries:
        a rebuild while thousands of cascade links come up costs the tree and the
        conferences that moved, not every venue of the federation conference again.
        """
        member_id, number = self.root
        tree = self._reader.cascade_tree(member_id, number)
        nodes: dict[NodeKey, _Node] = {}
        via: dict[tuple[str, str], str] = {}
        wanted: set[str] = set()
        venues = self.venues
        out: list[ListChange] = []
        if tree is not None:
            root_conf = self._reader.conference(member_id, number)
            root_kind = root_conf.kind if root_conf is not None else ConferenceKind.VMR
            for n in _joined(tree):
                conf = None
                if n.member_id is not None and n.known:
                    conf = self._reader.conference(n.member_id, n.conference)
                if conf is None or n.member_id is None:
                    wanted.add(n.conference)
                    continue
                key = (n.member_id, n.conference)
                if key in nodes:
                    continue
                is_root = key == self.root
                hide = not is_root and ConferenceKind.BROADCAST in (root_kind, conf.kind)
                stale = n.member_id in self._stale
                node = self._nodes.get(key)
                if node is None or not (
                    node.conf is conf and node.hide_audience == hide and node.stale == stale
                ):
                    node = self._built(key, conf, hide, stale, node, out)
                nodes[key] = node
                for vid, (ref, _) in node.refs.items():
                    via.setdefault((ref.member, ref.conference), vid)
        for key, gone in self._nodes.items():
            if key not in nodes:
                for vid in gone.ids:
                    old = venues.pop((*key, vid), None)
                    if old is not None:
                        out.append(ListChange((*key, vid), old, None))
        if tree != self.tree:
            self.tree_version += 1
        self.tree, self._nodes, self._wanted = tree, nodes, wanted
        self.via = via
        return out

    def _built(
        self,
        key: NodeKey,
        conf: Conference,
        hide: bool,
        stale: bool,
        before: _Node | None,
        out: list[ListChange],
    ) -> _Node:
        """A node (re)built from ``conf``: its entries set in ``venues``, the changes
        to what it listed ``before`` appended to ``out``."""
        refs = {v.id: _link(v) for v in conf.venues if v.cascade is not None}
        node = _Node(conf.kind, hide, refs, conf, stale)
        mid, num = key
        venues = self.venues
        fresh: dict[str, ControlVenue] = {}
        for v in conf.venues:
            entry = self._entry(mid, num, node, v)
            if entry is not None:
                fresh[v.id] = entry
        if before is not None:
            for vid in before.ids:
                if vid not in fresh:
                    old = venues.pop((mid, num, vid), None)
                    if old is not None:
                        out.append(ListChange((mid, num, vid), old, None))
        for vid, entry in fresh.items():
            vkey = (mid, num, vid)
            old = venues.get(vkey)
            if old != entry:
                venues[vkey] = entry
                out.append(ListChange(vkey, old, entry))
        node.ids = set(fresh)
        return node


@dataclass(frozen=True, slots=True)
class VenueFilter:
    """Which entries one reader sees: its scope and its filters, all ANDed.

    ``members`` is a set of member ids already expanded to subtrees (None: no limit);
    ``status`` a set of statuses; ``muted``/``camera_on`` exact values (None: either).
    """

    members: frozenset[int] | None = None
    status: frozenset[VenueStatus] | None = None
    muted: bool | None = None
    camera_on: bool | None = None

    def admits(self, v: ControlVenue) -> bool:
        return (
            (self.members is None or v.member_id in self.members)
            and (self.status is None or v.status in self.status)
            and (self.muted is None or v.muted is self.muted)
            and (self.camera_on is None or v.camera_on is self.camera_on)
        )

    @classmethod
    def build(
        cls,
        federation: Federation,
        scope: int | None,
        members: Iterable[int] | None = None,
        status: Iterable[str] | None = None,
        muted: bool | None = None,
        camera_on: bool | None = None,
    ) -> VenueFilter:
        """A reader in ``scope`` asking for ``members`` (each selects its subtree).

        Raises ``FederationError`` (unknown / outside_scope) for a member the reader may
        not name, with the same words the rest of the API uses.
        """
        allowed: set[int] | None = None if scope is None else federation.subtree_ids(scope)
        if members is not None:
            chosen: set[int] = set()
            for mid in members:
                federation.require_within(scope, mid)
                chosen |= federation.subtree_ids(mid)
            allowed = chosen if allowed is None else allowed & chosen
        try:
            statuses = None if status is None else frozenset(VenueStatus(s) for s in status)
        except ValueError as e:
            raise FederationError("invalid_input", f"filters.status: {e}") from None
        return cls(None if allowed is None else frozenset(allowed), statuses, muted, camera_on)


def _link(v: Venue) -> tuple[CascadeRef, bool]:
    assert v.cascade is not None
    return v.cascade, v.status is VenueStatus.JOINED


def _joined(tree: CascadeNode) -> Iterator[CascadeNode]:
    """The root and every node whose cascade link (and all above it) is joined: a link
    hung up, ringing or failed takes its branch out of the list (the tree keeps it)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(c for c in reversed(node.children) if c.link is VenueStatus.JOINED)


def _restaled(v: ControlVenue, stale: bool) -> ControlVenue:
    return ControlVenue(
        v.member_id,
        v.conference,
        v.id,
        v.name,
        v.status,
        v.muted,
        v.camera_on,
        v.role,
        v.stats,
        v.reason,
        stale,
    )


def tree_json(
    node: CascadeNode,
    allowed: frozenset[int] | None,
    stale: set[int] | frozenset[int],
    via: dict[tuple[str, str], str] | None = None,
) -> dict[str, object] | None:
    """The cascade tree as JSON, pruned to ``allowed`` members (None: everything).

    A node outside ``allowed`` is left out with everything below it, so a scoped
    reader learns nothing about members beyond its subtree. ``via`` names the cascade
    venue joining each node to its parent (``venue``: hang it up to end the branch).
    """
    if allowed is not None and (node.member_id is None or node.member_id not in allowed):
        return None
    kids = (tree_json(ch, allowed, stale, via) for ch in node.children)
    children = [c for c in kids if c]
    return {
        "member_id": node.member_id,
        "domain": node.domain,
        "conference": node.conference,
        "link": None if node.link is None else node.link.value,
        "venue": None if node.link is None else (via or {}).get((node.domain, node.conference)),
        "known": node.known,
        "stale": node.member_id in stale if node.member_id is not None else False,
        "children": children,
    }
