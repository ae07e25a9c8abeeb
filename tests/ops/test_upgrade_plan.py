"""The upgrade plan, pure: what a release must be, the steps, the guard's decision."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from ops.upgrade_plan import (
    TRANSITIONS,
    Plan,
    Release,
    UpgradeRefused,
    check_release,
    check_sha256,
    decide,
    parse_filename,
)

SHA = hashlib.sha256(b"wheel").hexdigest()


def release(**kw: object) -> Release:
    args: dict = dict(
        filename="fedhub-0.2.0-py3-none-any.whl",
        expected_sha256=SHA,
        actual_sha256=SHA,
        metadata_name="fedhub",
        metadata_version="0.2.0",
        running="0.1.0",
    )
    return check_release(**{**args, **kw})


def refused(**kw: object) -> str:
    with pytest.raises(UpgradeRefused) as e:
        release(**kw)
    assert e.value.message
    return e.value.code


def test_a_newer_fedhub_wheel_with_its_checksum_is_a_release():
    assert release() == Release("0.2.0", "fedhub-0.2.0-py3-none-any.whl", SHA)
    assert release(filename="fedhub-0.10.0-1-py3-none-any.whl", metadata_version="0.10.0")


def test_each_refusal_has_its_reason():
    assert refused(actual_sha256="0" * 64) == "checksum_mismatch"
    assert refused(filename="fedhub.zip") == "not_a_wheel"
    assert refused(metadata_name=None, metadata_version=None) == "not_a_wheel"
    assert refused(filename="other-0.2.0-py3-none-any.whl") == "wrong_package"
    assert refused(metadata_name="other") == "wrong_package"
    assert refused(metadata_version="0.3.0") == "not_a_wheel"  # name and metadata disagree
    assert refused(running="0.2.0") == "not_newer"
    assert refused(running="1.0.0") == "not_newer"
    for bad in ("abc", "g" * 64, SHA[:-1]):
        with pytest.raises(UpgradeRefused):
            check_sha256(bad)
    assert check_sha256(SHA.upper()) == SHA
    assert parse_filename("Fedhub-1.2.3-py3-none-any.whl")[0] == "fedhub"


def test_the_steps_go_one_way():
    now = datetime(2026, 11, 30, tzinfo=UTC)
    p = Plan("received", release(), "0.1.0", None, ("python",), "/d", "sqlite:///x")
    p = p.to("verified").to("installed").to("backed_up", backup="b")
    with pytest.raises(ValueError):
        p.to("ready")  # never ready before the switch
    assert decide(p, now, process_alive=True) == "done"  # nothing switched: no guard work
    s = p.to("switched", deadline=now + timedelta(seconds=60), pid=1)
    assert decide(s, now, process_alive=True) == "wait"
    assert decide(s, now + timedelta(seconds=60), process_alive=True) == "roll_back"
    assert decide(s, now, process_alive=False) == "roll_back"  # it died before ready
    assert decide(s.to("ready"), now + timedelta(days=1), process_alive=False) == "done"
    with pytest.raises(ValueError):
        s.to("ready").to("rolled_back")
    assert all(TRANSITIONS[t] == frozenset() for t in ("ready", "failed", "rolled_back"))
