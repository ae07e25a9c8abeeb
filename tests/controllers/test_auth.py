"""controllers.auth: the hub proves knowledge of the stored hash; the member checks it."""

from __future__ import annotations

import pytest

from controllers.auth import (
    Argon2Params,
    AuthError,
    AuthPolicy,
    HubKey,
    MemberAuthenticator,
    b64e,
    new_nonce,
)
from tests.controllers.linkkit import FAST

DOMAIN, USER, PASSWORD = "city1.prov.example", "city1-link", "Str0ng!pass"


def handshake(hub: HubKey, member: MemberAuthenticator, username: str = USER, **tamper: str):
    hub_nonce = tamper.pop("hub_nonce", new_nonce())
    member_nonce = member.issue_nonce()
    salt, params, proof, expected = hub.answer(
        version=1, domain=DOMAIN, username=username, hub_nonce=hub_nonce, member_nonce=member_nonce
    )
    sent = {"salt": salt, "params": params, "hub_proof": proof, **tamper}
    got = member.verify(
        version=1,
        domain=DOMAIN,
        username=username,
        hub_nonce=hub_nonce,
        member_nonce=member_nonce,
        **sent,
    )
    return got, expected


def test_good_proof_is_accepted_and_member_proves_itself_back() -> None:
    hub = HubKey.from_phc(FAST.hash(PASSWORD))
    member_proof, expected = handshake(hub, MemberAuthenticator(USER, PASSWORD))
    assert member_proof == expected


def test_default_argon2_parameters_work_too() -> None:
    from argon2 import PasswordHasher

    hub = HubKey.from_phc(PasswordHasher().hash(PASSWORD))
    assert hub.params.memory_kib == 65536
    member_proof, expected = handshake(hub, MemberAuthenticator(USER, PASSWORD))
    assert member_proof == expected


def test_wrong_password_is_rejected() -> None:
    hub = HubKey.from_phc(FAST.hash("An0ther!pass"))
    with pytest.raises(AuthError, match="wrong username or password"):
        handshake(hub, MemberAuthenticator(USER, PASSWORD))


def test_wrong_username_is_rejected_the_same_way() -> None:
    hub = HubKey.from_phc(FAST.hash(PASSWORD))
    with pytest.raises(AuthError, match="wrong username or password"):
        handshake(hub, MemberAuthenticator(USER, PASSWORD), username="intruder")


def test_replayed_member_nonce_is_rejected() -> None:
    hub = HubKey.from_phc(FAST.hash(PASSWORD))
    member = MemberAuthenticator(USER, PASSWORD)
    nonce, hub_nonce = member.issue_nonce(), new_nonce()
    salt, params, proof, _ = hub.answer(
        version=1, domain=DOMAIN, username=USER, hub_nonce=hub_nonce, member_nonce=nonce
    )
    kwargs = dict(
        version=1,
        domain=DOMAIN,
        username=USER,
        hub_nonce=hub_nonce,
        member_nonce=nonce,
        salt=salt,
        params=params,
        hub_proof=proof,
    )
    member.verify(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(AuthError, match="nonce"):
        member.verify(**kwargs)  # type: ignore[arg-type]


def test_replayed_hub_nonce_is_rejected() -> None:
    hub = HubKey.from_phc(FAST.hash(PASSWORD))
    member = MemberAuthenticator(USER, PASSWORD)
    hub_nonce = new_nonce()
    handshake(hub, member, hub_nonce=hub_nonce)
    with pytest.raises(AuthError, match="replayed"):
        handshake(hub, member, hub_nonce=hub_nonce)


def test_unissued_member_nonce_is_rejected() -> None:
    hub = HubKey.from_phc(FAST.hash(PASSWORD))
    member = MemberAuthenticator(USER, PASSWORD)
    salt, params, proof, _ = hub.answer(
        version=1, domain=DOMAIN, username=USER, hub_nonce=new_nonce(), member_nonce="bm9wZQ=="
    )
    with pytest.raises(AuthError, match="nonce"):
        member.verify(
            version=1,
            domain=DOMAIN,
            username=USER,
            hub_nonce=new_nonce(),
            member_nonce="bm9wZQ==",
            salt=salt,
            params=params,
            hub_proof=proof,
        )


def test_tampered_params_are_rejected() -> None:
    hub = HubKey.from_phc(FAST.hash(PASSWORD))
    with pytest.raises(AuthError, match="wrong username or password"):
        handshake(hub, MemberAuthenticator(USER, PASSWORD), params="m=128,t=1,p=1,v=19,l=32")
    with pytest.raises(AuthError, match="wrong username or password"):
        handshake(hub, MemberAuthenticator(USER, PASSWORD), salt=b64e(b"0123456789abcdef"))


def test_policy_bounds_what_a_hub_may_ask_for() -> None:
    hub = HubKey.from_phc(FAST.hash(PASSWORD))
    member = MemberAuthenticator(USER, PASSWORD)
    with pytest.raises(AuthError, match="memory"):
        handshake(hub, member, params="m=4194304,t=1,p=1,v=19,l=32")
    with pytest.raises(AuthError, match="time cost"):
        handshake(hub, member, params="m=64,t=1000,p=1,v=19,l=32")
    with pytest.raises(AuthError, match="malformed"):
        handshake(hub, member, params="m=64;t=1")
    strict = MemberAuthenticator(USER, PASSWORD, AuthPolicy(min_memory_kib=1024))
    with pytest.raises(AuthError, match="memory"):
        handshake(hub, strict)


@pytest.mark.parametrize(
    "phc",
    [
        "",
        "plaintext",
        "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
        "$argon2id$v=19$m=x,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
        "$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaA",
    ],
)
def test_only_argon2id_phc_strings_are_keys(phc: str) -> None:
    with pytest.raises(AuthError):
        HubKey.from_phc(phc)


def test_params_text_round_trips() -> None:
    p = Argon2Params(65536, 3, 4)
    assert Argon2Params.parse(p.text()) == p
