"""The lockout rule, without a database: counted before the check, forgotten in time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.lockout import CLEARED, Counter, LockoutPolicy, begin

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = LockoutPolicy(max_failures=5, duration=timedelta(minutes=15))


def test_the_fifth_attempt_locks_before_its_check_and_the_sixth_is_not_checked():
    state, verdicts = CLEARED, []
    for i in range(6):
        v, state = begin(POLICY, state, T0 + timedelta(seconds=i))
        verdicts.append(v)
    assert [v.may_check for v in verdicts] == [True] * 5 + [False]
    assert [v.locks for v in verdicts] == [False] * 4 + [True, False]
    assert verdicts[4].locked_until == T0 + timedelta(seconds=4, minutes=15)
    assert state.locked(T0 + timedelta(minutes=10))


def test_a_lock_runs_out_and_old_failures_are_forgotten():
    locked = Counter(0, T0, T0)
    v, after = begin(POLICY, locked, T0 + timedelta(seconds=1))
    assert v.may_check and after.failed == 1
    stale = Counter(4, None, T0)
    v, after = begin(POLICY, stale, T0 + timedelta(minutes=16))
    assert not v.locks and after.failed == 1  # the four were forgotten
    v, after = begin(POLICY, stale, T0 + timedelta(minutes=14))
    assert v.locks  # within memory: the fifth
