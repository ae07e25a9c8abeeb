"""The certificate check: each refusal with its reason, and what a good bundle gives."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hub.certificates import CertificateRefused, check_bundle, describe_pem
from tests.support.pki import DAY, chain_of, ec_key, issue, rsa_key

NOW = datetime.datetime.now(datetime.UTC)


def refused(code: str, *args: bytes, **kw: object) -> CertificateRefused:
    with pytest.raises(CertificateRefused) as e:
        check_bundle(*args, now=kw.pop("now", NOW), **kw)  # type: ignore[arg-type]
    assert e.value.code == code, e.value.message
    return e.value


def test_good_chain_in_the_certificate_file_is_ordered_leaf_first() -> None:
    root, inter, server = chain_of()
    # given out of order, with the root: ordered leaf, intermediate, root
    b = check_bundle(server.pem + root.pem + inter.pem, server.key_pem, now=NOW)
    certs = x509.load_pem_x509_certificates(b.chain_pem)
    assert [c.subject for c in certs] == [
        server.cert.subject,
        inter.cert.subject,
        root.cert.subject,
    ]
    assert b.info.chain_length == 3
    assert b.info.fingerprint_sha256 == server.fingerprint
    assert b.info.names == ("hub.prov.example",)
    assert not b.info.self_signed
    assert serialization.load_pem_private_key(b.key_pem, None).public_key().public_numbers() == (
        server.key.public_key().public_numbers()
    )


def test_separate_chain_file_and_rsa_key() -> None:
    root = issue("Root", ca=True)
    inter = issue("Inter", root, ca=True)
    server = issue("hub.example", inter, key=rsa_key())
    b = check_bundle(server.pem, server.key_pem, inter.pem, now=NOW)
    assert b.info.key_type == "RSA 2048"
    assert b.info.chain_length == 2  # the root may be left out
    assert describe_pem(b.chain_pem) == b.info


def test_key_that_does_not_match() -> None:
    _, _, server = chain_of()
    other = issue("other")
    e = refused("key_mismatch", server.pem, other.key_pem)
    assert "does not belong" in e.message


def test_expired_and_not_yet_valid() -> None:
    old = issue("old.example", not_before=NOW - 400 * DAY, not_after=NOW - DAY)
    e = refused("expired", old.pem, old.key_pem)
    assert "expired on" in e.message
    future = issue("new.example", not_before=NOW + DAY, not_after=NOW + 400 * DAY)
    e = refused("not_yet_valid", future.pem, future.key_pem)
    assert "not valid before" in e.message


def test_expired_intermediate() -> None:
    root = issue("Root", ca=True)
    inter = issue("Inter", root, ca=True, not_before=NOW - 400 * DAY, not_after=NOW - DAY)
    server = issue("hub.example", inter)
    e = refused("expired", server.pem, server.key_pem, inter.pem)
    assert "chain certificate CN=Inter" in e.message


def test_broken_chain_missing_link_wrong_signature_and_stranger() -> None:
    root, inter, server = chain_of()
    # the intermediate is left out but the root given: nothing issued the leaf
    e = refused("broken_chain", server.pem, server.key_pem, root.pem)
    assert "no certificate in the chain is its issuer" in e.message
    # an impostor with the intermediate's name but another key
    impostor = issue("Test Intermediate CA", root, ca=True)
    e = refused("broken_chain", server.pem, server.key_pem, impostor.pem)
    assert "signature does not verify" in e.message
    # a certificate that has nothing to do with this chain
    stranger = issue("Elsewhere CA", ca=True)
    e = refused("broken_chain", server.pem, server.key_pem, inter.pem + root.pem + stranger.pem)
    assert "not part of the chain" in e.message


def test_issuer_that_is_not_a_ca() -> None:
    root = issue("Root", ca=True)
    not_ca = issue("Inter", root, ca=False, server_auth=None)
    server = issue("hub.example", not_ca)
    e = refused("broken_chain", server.pem, server.key_pem, not_ca.pem)
    assert "not a CA" in e.message


def test_garbage_encrypted_weak_and_client_only() -> None:
    _, _, server = chain_of()
    refused("bad_certificate", b"hello", server.key_pem)
    refused(
        "bad_certificate",
        b"-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----\n",
        server.key_pem,
    )
    refused("bad_certificate", b"", server.key_pem)
    refused("bad_key", server.pem, b"not a key")
    encrypted = server.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    e = refused("bad_key", server.pem, encrypted)
    assert "encrypted" in e.message
    assert check_bundle(server.pem, encrypted, now=NOW, password=b"secret").info
    refused("bad_key", server.pem, encrypted, password=b"wrong")
    weak = issue("weak.example", key=rsa_key(1024))
    refused("weak_key", weak.pem, weak.key_pem)
    client = issue("client.example", server_auth=False)
    refused("not_for_servers", client.pem, client.key_pem)
    refused("too_large", server.pem + b"\n" * 70000, server.key_pem)


def test_self_signed_alone_is_accepted() -> None:
    s = issue("hub.example", key=ec_key())
    b = check_bundle(s.pem, s.key_pem, now=NOW)
    assert b.info.self_signed and b.info.chain_length == 1
