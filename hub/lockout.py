"""Per-name login lockout, pure: the rule that storage applies under a row lock.

An attempt is *counted before the password is checked*: ``begin`` takes the name's
stored counter and answers whether the password may be checked at all and the counter
to store back in the same transaction. So N concurrent attempts against one name can
never check more than ``max_failures`` passwords before the lock, whatever the
interleaving. A right password then calls for ``cleared()``; a wrong one needs no
second write (it was counted already).

Real accounts and names that are no account run the same rule, so the answers (401,
then 423) cannot tell them apart. Failures are forgotten ``memory`` after the last one,
which is also what lets storage drop the counters of unknown names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    max_failures: int = 5
    duration: timedelta = timedelta(minutes=15)
    memory: timedelta = timedelta(minutes=15)  # failures older than this are forgotten


@dataclass(frozen=True, slots=True)
class Counter:
    """A login name's stored lockout state."""

    failed: int = 0
    locked_until: datetime | None = None
    last_failed_at: datetime | None = None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


CLEARED = Counter()


@dataclass(frozen=True, slots=True)
class Attempt:
    """The verdict on one login attempt, given before its password is checked."""

    may_check: bool  # False: the name is locked; answer 423 without checking
    locks: bool  # True: if this password is wrong, the name is now locked
    locked_until: datetime | None


def begin(policy: LockoutPolicy, state: Counter, now: datetime) -> tuple[Attempt, Counter]:
    """Count one attempt: the verdict and the counter to store back atomically."""
    if state.locked(now):
        return Attempt(False, False, state.locked_until), state
    failed = state.failed
    if state.last_failed_at is None or now - state.last_failed_at > policy.memory:
        failed = 0
    failed += 1
    if failed >= policy.max_failures:
        until = now + policy.duration
        return Attempt(True, True, until), Counter(0, until, now)
    return Attempt(True, False, None), Counter(failed, None, now)
