"""Federation data sets: what the platform owns and pushes to every member server.

Role: the nine data sets and their rules, pure. Six are stored per member (three kinds
of accounts, physical rooms, virtual meeting rooms, call routes); three are derived
from the federation itself (the member list, primary domains, number resources).
``check_*`` functions decide whether a record may exist given the number plan;
storage calls them inside its write transaction and raises what they raise.
Every refusal is a ``DataError(code, message, details)``.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from hub.federation import Federation
from hub.numbering import NumberPlan, NumberPlanError, RangeType, validate_number

MAX_NAME = 64
MAX_DISPLAY = 128
MAX_REMARK = 512
_ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class Dataset(StrEnum):
    """The nine data sets a member server receives, each versioned on its own."""

    USER_ACCOUNTS = "user_accounts"
    ROOM_ACCOUNTS = "room_accounts"
    OTHER_ACCOUNTS = "other_accounts"
    ROOMS = "rooms"
    VMRS = "vmrs"
    ROUTES = "routes"
    FEDERATION = "federation"
    DOMAINS = "domains"
    NUMBERS = "numbers"


DERIVED: frozenset[Dataset] = frozenset({Dataset.FEDERATION, Dataset.DOMAINS, Dataset.NUMBERS})
"""Computed from the federation (members, domains, ranges) and the same for every member:
each item is stamped with the federation revision at which it last changed, so these
go as deltas too (storage/datasets.py ``DataStore.derive``)."""
STORED: tuple[Dataset, ...] = tuple(d for d in Dataset if d not in DERIVED)


class AccountKind(StrEnum):
    USER = "user"
    ROOM_DEVICE = "room_device"
    OTHER = "other"


ACCOUNT_DATASET: dict[AccountKind, Dataset] = {
    AccountKind.USER: Dataset.USER_ACCOUNTS,
    AccountKind.ROOM_DEVICE: Dataset.ROOM_ACCOUNTS,
    AccountKind.OTHER: Dataset.OTHER_ACCOUNTS,
}


class DataError(Exception):
    """A refused data change; ``code`` is machine-readable, ``details`` JSON-able."""

    def __init__(self, code: str, message: str, details: dict[str, object] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: dict[str, object] = details or {}


def check_account_name(name: str) -> str:
    if not isinstance(name, str) or not _ACCOUNT_NAME.match(name):
        raise DataError(
            "invalid_name",
            "an account name is 1-64 letters, digits, '_', '.', '@' or '-', "
            "starting with a letter or digit",
            {"name": name if isinstance(name, str) else repr(name)},
        )
    return name


def _number(number: str) -> str:
    try:
        return validate_number(number)
    except NumberPlanError as exc:
        raise DataError(exc.code, exc.message, exc.details) from None


def check_number_in(
    plan: NumberPlan, member_id: int, number: str, types: tuple[RangeType, ...]
) -> str:
    """``number`` if it lies in one of ``member_id``'s ranges of ``types``, else refuse."""
    _number(number)
    rng = plan.range_for(number)
    if rng is None or rng.member_id != member_id or rng.type not in types:
        kinds = " or ".join(str(t) for t in types)
        raise DataError(
            "number_outside_ranges",
            f"number {number} is not in one of member {member_id}'s {kinds} ranges",
            {"number": number, "member_id": member_id, "range_types": [str(t) for t in types]},
        )
    return number


ACCOUNT_RANGES: tuple[RangeType, ...] = (RangeType.SYSTEM_ACCOUNT,)
"""Accounts take numbers from their member's ``system_account`` ranges."""
VMR_RANGES: tuple[RangeType, ...] = (RangeType.VMR, RangeType.GENERAL_MEETING)
"""Virtual meeting rooms take numbers from ``vmr`` (or ``general_meeting``) ranges."""


def check_route_prefix(prefix: str) -> str:
    """A call route matches dialled numbers by a 1-15 digit prefix."""
    return _number(prefix)


def derived_items(
    federation: Federation, plan: NumberPlan, dataset: Dataset
) -> list[dict[str, Any]]:
    """The federation list, primary domains or number resources, as sync items."""
    members = list(federation.subtree(None))
    if dataset is Dataset.FEDERATION:
        return [
            {
                "key": str(m.id),
                "parent": None if m.parent_id is None else str(m.parent_id),
                "level": m.level,
                "display_name": m.display_name,
                "domain": m.domain,
            }
            for m in members
        ]
    if dataset is Dataset.DOMAINS:
        return [{"key": m.domain, "member": str(m.id)} for m in members]
    if dataset is Dataset.NUMBERS:
        return [
            {
                "key": str(r.id),
                "member": str(r.member_id),
                "type": str(r.type),
                "start": r.start,
                "end": r.end,
            }
            for m in members
            for r in plan.ranges_of(m.id)
        ]
    raise ValueError(f"{dataset} is not derived")
