"""The pure member tree: levels, scopes, uniqueness, removal rules."""

from __future__ import annotations

import pytest

from hub.federation import (
    Federation,
    FederationError,
    Member,
    OutsideScope,
    UnknownMember,
    normalize_domain,
)


def _m(i: int, parent: int | None, level: int, name: str | None = None) -> Member:
    name = name or f"m{i}"
    return Member(i, parent, level, f"{name}.example.gov", name.title(), name)


@pytest.fixture
def fed() -> Federation:
    f = Federation()
    f.add(_m(1, None, 1))
    f.add(_m(2, 1, 2))
    f.add(_m(3, 1, 2))
    f.add(_m(4, 2, 3))
    f.add(_m(5, 4, 4))
    return f


def test_queries(fed):
    assert [m.id for m in fed.subtree(2)] == [2, 4, 5]
    assert [m.id for m in fed.subtree(None)] == [1, 2, 4, 5, 3]
    assert [m.id for m in fed.ancestors(5)] == [4, 2, 1]
    assert fed.is_within(2, 5) and not fed.is_within(3, 5) and fed.is_within(None, 3)
    assert not fed.is_within(2, 99)
    assert fed.by_domain("M4.Example.GOV.").id == 4
    assert fed.root().id == 1
    assert fed.height_below(1) == 3 and fed.height_below(5) == 0


def test_scope_refusals(fed):
    with pytest.raises(OutsideScope):
        fed.require_within(3, 5)
    with pytest.raises(UnknownMember):
        fed.require_within(None, 99)


def test_depth(fed):
    fed.add(_m(6, 5, 5))
    with pytest.raises(FederationError) as e:
        fed.level_for_parent(6)
    assert e.value.code == "too_deep"
    with pytest.raises(FederationError):
        Member(7, 6, 6, "x.example.gov", "X", "x")


def test_uniqueness_and_root(fed):
    with pytest.raises(FederationError) as e:
        fed.add(_m(8, 1, 2, "m2"))
    assert e.value.code == "domain_taken"
    with pytest.raises(FederationError) as e:
        fed.add(Member(9, 1, 2, "other.example.gov", "O", "M2"))
    assert e.value.code == "username_taken"
    with pytest.raises(FederationError) as e:
        fed.add(_m(10, None, 1))
    assert e.value.code == "root_exists"
    with pytest.raises(FederationError) as e:
        fed.add(Member(11, 1, 3, "z.example.gov", "Z", "z"))
    assert e.value.code == "invalid_level"


def test_remove(fed):
    with pytest.raises(FederationError) as e:
        fed.remove(2)
    assert e.value.code == "has_children" and e.value.details["children"] == [4]
    gone = fed.remove(2, cascade=True)
    assert [m.id for m in gone] == [5, 4, 2]
    assert [m.id for m in fed.subtree(None)] == [1, 3]
    fed.add(_m(12, 1, 2, "m4"))  # the domain is free again


def test_update_keeps_indexes(fed):
    new = Member(3, 1, 2, "renamed.example.gov", "R", "m3")
    fed.update(new)
    assert fed.by_domain("renamed.example.gov").id == 3 and fed.by_domain("m3.example.gov") is None
    with pytest.raises(FederationError):
        fed.update(Member(3, 2, 3, "renamed.example.gov", "R", "m3"))


def test_copy_is_independent(fed):
    c = fed.copy()
    c.remove(3)
    assert 3 in fed and 3 not in c


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "a",
        "a..b",
        "-a.b",
        "a-.b",
        "a_b.c",
        "a.123",
        "x" * 64 + ".cn",
        ("a" * 60 + ".") * 5 + "cn",
    ],
)
def test_bad_domains(bad):
    with pytest.raises(FederationError):
        normalize_domain(bad)


@pytest.mark.parametrize("good", ["a.b", "xn--fiqs8s.cn", "city-1.prov.gov.cn", "A.B."])
def test_good_domains(good):
    assert normalize_domain(good) == good.lower().rstrip(".")
