"""The federation tree: members, their levels, domains and the scopes admins work in.

Pure: the storage layer loads members into a :class:`Federation` and freezes it as part of
a snapshot; to change it, storage takes a ``copy()``, asks the copy to check a change
(``check_add``/``check_update``/``check_remove``), writes the change, applies it to the
copy and publishes the copy frozen once the write is committed. Every refusal is a
:class:`FederationError` whose message says exactly why.

A member's *scope* is its subtree: an admin created for a member sees and changes that
member and everything below it, nothing else. ``None`` as a scope means the whole
federation (the platform's own administrators).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

MAX_LEVEL = 5
"""Province = 1, city = 2, county = 3, township = 4, village = 5."""

LEVEL_NAMES = {1: "province", 2: "city", 3: "county", 4: "township", 5: "village"}

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MAX_DISPLAY_NAME = 128
MAX_REMARK = 512


class FederationError(Exception):
    """A refused change to the federation tree; ``code`` is machine-readable."""

    def __init__(self, code: str, message: str, details: dict[str, object] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: dict[str, object] = details or {}


class UnknownMember(FederationError):
    """The member id does not exist (or is outside the caller's scope)."""

    def __init__(self, member_id: int):
        super().__init__("unknown_member", f"member {member_id} does not exist", {"id": member_id})


class OutsideScope(FederationError):
    """The target member is not in the caller's subtree."""


class FrozenFederation(RuntimeError):
    """A published federation was asked to change: change a ``copy()`` instead."""


def normalize_domain(domain: str) -> str:
    """Return ``domain`` lower-cased if it is a valid RFC 1035 host name, else raise.

    Labels of letters, digits and hyphens (not at either end), 1–63 characters each, at
    least two labels, 253 characters at most; the last label is not all digits.
    """
    if not isinstance(domain, str):
        raise FederationError("invalid_domain", "domain must be a string")
    d = domain.strip().lower().rstrip(".")
    if not d or len(d) > 253:
        raise FederationError(
            "invalid_domain", f"domain {domain!r} must be 1 to 253 characters", {"domain": domain}
        )
    labels = d.split(".")
    if len(labels) < 2:
        raise FederationError(
            "invalid_domain",
            f"domain {domain!r} needs at least two labels, e.g. city1.example.gov",
            {"domain": domain},
        )
    for label in labels:
        if not _LABEL.match(label):
            raise FederationError(
                "invalid_domain",
                f"domain {domain!r}: label {label!r} must be 1-63 letters, digits or "
                "hyphens, not starting or ending with a hyphen",
                {"domain": domain, "label": label},
            )
    if labels[-1].isdigit():
        raise FederationError(
            "invalid_domain",
            f"domain {domain!r}: the top-level label cannot be numeric",
            {"domain": domain},
        )
    return d


def validate_username(username: str) -> str:
    """Return ``username`` if it is 1–64 characters of letters, digits and ``_.@-``."""
    if not isinstance(username, str) or not _USERNAME.match(username):
        raise FederationError(
            "invalid_username",
            "username must be 1-64 characters: letters, digits, '_', '.', '@', '-', "
            "starting with a letter or digit",
            {"username": username},
        )
    return username


@dataclass(frozen=True, slots=True)
class Member:
    """One federation member: a level of the network running its own conference server."""

    id: int
    parent_id: int | None
    level: int
    domain: str
    display_name: str
    username: str
    remark: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "domain", normalize_domain(self.domain))
        validate_username(self.username)
        if not (1 <= self.level <= MAX_LEVEL):
            raise FederationError(
                "too_deep",
                f"level {self.level} is outside 1..{MAX_LEVEL}: the federation has at most "
                f"{MAX_LEVEL} levels (province, city, county, township, village)",
                {"level": self.level, "max_level": MAX_LEVEL},
            )
        if not self.display_name.strip() or len(self.display_name) > MAX_DISPLAY_NAME:
            raise FederationError(
                "invalid_display_name",
                f"display name must be 1-{MAX_DISPLAY_NAME} characters",
            )
        if len(self.remark) > MAX_REMARK:
            raise FederationError("invalid_remark", f"remark is limited to {MAX_REMARK} characters")
        if (self.parent_id is None) != (self.level == 1):
            raise FederationError(
                "invalid_level", "only the province (level 1) has no parent", {"level": self.level}
            )


@dataclass
class Federation:
    """The member tree with indexes for children, domains and usernames.

    A draft is changed only through ``add``/``update``/``remove`` (each checks first and
    raises :class:`FederationError` leaving the tree unchanged). Once published as part
    of a snapshot it is frozen: it never changes again and those methods raise
    :class:`FrozenFederation`; a writer changes a ``copy()`` instead.
    """

    _members: dict[int, Member] = field(default_factory=dict)
    _children: dict[int | None, frozenset[int]] = field(default_factory=dict)
    _by_domain: dict[str, int] = field(default_factory=dict)
    _by_username: dict[str, int] = field(default_factory=dict)
    _frozen: bool = False

    @classmethod
    def of(cls, members: Iterable[Member]) -> Federation:
        """Build a tree from stored members (parents before or after children)."""
        fed = cls()
        pending = sorted(members, key=lambda m: m.level)
        for m in pending:
            fed.add(m)
        return fed

    # -- queries ---------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._members)

    def __iter__(self) -> Iterator[Member]:
        return iter(self._members.values())

    def __contains__(self, member_id: object) -> bool:
        return member_id in self._members

    def get(self, member_id: int) -> Member:
        """The member, or :class:`UnknownMember`."""
        try:
            return self._members[member_id]
        except KeyError:
            raise UnknownMember(member_id) from None

    def level_of(self, member_id: int) -> int:
        """The member's level (1 = province), or :class:`UnknownMember`."""
        return self.get(member_id).level

    def by_domain(self, domain: str) -> Member | None:
        """The member whose primary domain is ``domain`` (case-insensitive)."""
        mid = self._by_domain.get(domain.strip().lower().rstrip("."))
        return None if mid is None else self._members[mid]

    def by_username(self, username: str) -> Member | None:
        mid = self._by_username.get(username.lower())
        return None if mid is None else self._members[mid]

    def root(self) -> Member | None:
        """The province, if it has been created."""
        roots = self._children.get(None, frozenset())
        return self._members[min(roots)] if roots else None

    def children(self, member_id: int | None) -> list[Member]:
        """Direct children, by id; ``None`` gives the root(s)."""
        return [self._members[c] for c in sorted(self._children.get(member_id, ()))]

    def ancestors(self, member_id: int) -> list[Member]:
        """Parent, grandparent, … up to the province (nearest first)."""
        out: list[Member] = []
        m = self.get(member_id)
        while m.parent_id is not None:
            m = self._members[m.parent_id]
            out.append(m)
        return out

    def subtree(self, member_id: int | None) -> list[Member]:
        """The member and everything below it, parents before children.

        ``None`` is the whole federation.
        """
        if member_id is not None:
            self.get(member_id)
        start = [member_id] if member_id is not None else sorted(self._children.get(None, ()))
        out: list[Member] = []
        stack = list(reversed(start))
        while stack:
            mid = stack.pop()
            if mid is None:
                continue
            out.append(self._members[mid])
            stack.extend(sorted(self._children.get(mid, ()), reverse=True))
        return out

    def subtree_ids(self, member_id: int | None) -> set[int]:
        return {m.id for m in self.subtree(member_id)}

    def is_within(self, scope: int | None, member_id: int) -> bool:
        """True when ``member_id`` is ``scope`` or below it (``None`` = everything)."""
        if member_id not in self._members:
            return False
        if scope is None or scope == member_id:
            return True
        return any(a.id == scope for a in self.ancestors(member_id))

    def require_within(self, scope: int | None, member_id: int) -> Member:
        """The member if it is in ``scope``; :class:`UnknownMember` or :class:`OutsideScope`."""
        m = self.get(member_id)
        if not self.is_within(scope, member_id):
            raise OutsideScope(
                "outside_scope",
                f"member {member_id} is outside your scope (member {scope} and below)",
                {"id": member_id, "scope": scope},
            )
        return m

    def height_below(self, member_id: int) -> int:
        """How many levels exist below the member (0 for a leaf)."""
        kids = self._children.get(member_id, ())
        return 1 + max((self.height_below(k) for k in kids), default=-1) if kids else 0

    # -- checks ----------------------------------------------------------------
    def level_for_parent(self, parent_id: int | None) -> int:
        """The level a new child of ``parent_id`` gets, or refuse when too deep."""
        if parent_id is None:
            return 1
        parent = self.get(parent_id)
        if parent.level >= MAX_LEVEL:
            raise FederationError(
                "too_deep",
                f"member {parent.id} ({parent.display_name}) is at level {parent.level}: "
                f"the federation has at most {MAX_LEVEL} levels",
                {"parent_id": parent.id, "max_level": MAX_LEVEL},
            )
        return parent.level + 1

    def check_add(self, m: Member, scope: int | None = None) -> None:
        """Raise :class:`FederationError` if ``m`` cannot join the tree as it is.

        ``scope`` is the caller's: refusals about members outside it name nothing there.
        """
        if m.id in self._members:
            raise FederationError("duplicate_id", f"member {m.id} exists already")
        if m.parent_id is None:
            if self._children.get(None):
                root = self.root()
                raise FederationError(
                    "root_exists",
                    f"the federation already has its province: member {root.id if root else '?'}"
                    "; every other member needs a parent",
                )
        else:
            expected = self.level_for_parent(m.parent_id)
            if m.level != expected:
                raise FederationError(
                    "invalid_level", f"a child of member {m.parent_id} is at level {expected}"
                )
        self._check_unique(m, exclude=None, scope=scope)

    def check_domain(self, scope: int | None, domain: str) -> None:
        """Domains follow the tree: an admin of member S may give a member (S itself
        included) only a domain under S's own (a subdomain of it); the federation-wide
        admin (``scope`` None) any domain. Raises ``domain_outside_scope``."""
        if scope is None:
            return
        base = self.get(scope).domain
        if not normalize_domain(domain).endswith("." + base):
            raise FederationError(
                "domain_outside_scope",
                f"domain {domain!r} must be a subdomain of your member's domain {base!r}",
                {"domain": domain, "under": base},
            )

    def _check_unique(self, m: Member, exclude: int | None, scope: int | None = None) -> None:
        other = self._by_domain.get(m.domain)
        if other is not None and other != exclude:
            if self.is_within(scope, other):
                message = (
                    f"domain {m.domain!r} is already the primary domain of member {other} "
                    f"({self._members[other].display_name})"
                )
                details: dict[str, object] = {"domain": m.domain, "member_id": other}
            else:
                message = f"domain {m.domain!r} is already taken"
                details = {"domain": m.domain}
            raise FederationError("domain_taken", message, details)
        other = self._by_username.get(m.username.lower())
        if other is not None and other != exclude:
            if self.is_within(scope, other):
                message = f"username {m.username!r} is already used by member {other}"
                details = {"username": m.username, "member_id": other}
            else:
                message = f"username {m.username!r} is already taken"
                details = {"username": m.username}
            raise FederationError("username_taken", message, details)

    def check_update(self, m: Member, scope: int | None = None) -> None:
        """Refuse an update that moves the member, changes its level or collides."""
        old = self.get(m.id)
        if old.parent_id != m.parent_id or old.level != m.level:
            raise FederationError(
                "immutable_parent", "a member cannot be moved to another parent; delete and re-add"
            )
        self._check_unique(m, exclude=m.id, scope=scope)

    def check_remove(self, member_id: int, cascade: bool = False) -> list[Member]:
        """The members a removal takes away (children first), or refuse.

        Without ``cascade`` a member that has children is refused and the message says so.
        """
        self.get(member_id)
        kids = self._children.get(member_id, frozenset())
        if kids and not cascade:
            raise FederationError(
                "has_children",
                f"member {member_id} has {len(kids)} child member(s); delete them first or "
                "ask to cascade",
                {"children": sorted(kids)},
            )
        return list(reversed(self.subtree(member_id)))

    # -- mutations -------------------------------------------------------------
    def _writable(self) -> None:
        if self._frozen:
            raise FrozenFederation("a published federation never changes: change a copy()")

    def add(self, m: Member) -> None:
        self._writable()
        self.check_add(m)
        self._members[m.id] = m
        # Sets are shared with copies: replace, never change in place.
        self._children[m.parent_id] = self._children.get(m.parent_id, frozenset()) | {m.id}
        self._by_domain[m.domain] = m.id
        self._by_username[m.username.lower()] = m.id

    def update(self, m: Member) -> None:
        self._writable()
        self.check_update(m)
        old = self._members[m.id]
        del self._by_domain[old.domain]
        del self._by_username[old.username.lower()]
        self._members[m.id] = m
        self._by_domain[m.domain] = m.id
        self._by_username[m.username.lower()] = m.id

    def remove(self, member_id: int, cascade: bool = False) -> list[Member]:
        """Remove the member (and, with ``cascade``, its subtree); return what went."""
        self._writable()
        gone = self.check_remove(member_id, cascade)
        for m in gone:
            del self._members[m.id]
            del self._by_domain[m.domain]
            del self._by_username[m.username.lower()]
            siblings = self._children.get(m.parent_id, frozenset()) - {m.id}
            if siblings:
                self._children[m.parent_id] = siblings
            else:
                self._children.pop(m.parent_id, None)
            self._children.pop(m.id, None)
        return gone

    # -- snapshots -------------------------------------------------------------
    def copy(self) -> Federation:
        """A draft with the same members: shallow copies of the indexes (sets are shared)."""
        return Federation(
            dict(self._members),
            dict(self._children),
            dict(self._by_domain),
            dict(self._by_username),
        )

    def freeze(self) -> Federation:
        """Make this tree read-only for good (it is being published); returns it."""
        self._frozen = True
        return self

    @property
    def frozen(self) -> bool:
        return self._frozen
