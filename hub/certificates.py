"""Checking an imported server certificate: PEM chain + private key in, verdict out.

`check_bundle(cert_pem, key_pem, chain_pem, now=...)` is pure (no files, no clock of
its own): it returns a `CertificateBundle` ready to be written, or raises
`CertificateRefused` whose `code` and `message` say exactly what is wrong — a key
that does not match, a certificate that is expired or not yet valid, a chain whose
links do not verify, a key too weak, a certificate not meant for servers. The
caller (the certificate store) writes the bundle and tells the listeners.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

MAX_PEM_BYTES: Final = 64 * 1024
"""Largest certificate, chain or key text accepted (a long chain is a few KiB)."""
MAX_CHAIN: Final = 8
"""Most certificates in one chain, the leaf included."""
MIN_RSA_BITS: Final = 2048
EC_CURVES: Final = frozenset({"secp256r1", "secp384r1", "secp521r1"})

_PEM_CERT: Final = b"-----BEGIN CERTIFICATE-----"


class CertificateRefused(Exception):
    """An import refused; `code` is stable, `message` is for the admin."""

    def __init__(self, code: str, message: str, details: dict[str, object] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: dict[str, object] = details or {}


@dataclass(frozen=True)
class CertificateInfo:
    """What an admin is shown of a certificate (nothing secret)."""

    subject: str
    issuer: str
    names: tuple[str, ...]
    not_before: datetime.datetime
    not_after: datetime.datetime
    serial: str
    fingerprint_sha256: str
    key_type: str
    chain_length: int
    self_signed: bool

    def to_json(self) -> dict[str, object]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "names": list(self.names),
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "serial": self.serial,
            "fingerprint_sha256": self.fingerprint_sha256,
            "key_type": self.key_type,
            "chain_length": self.chain_length,
            "self_signed": self.self_signed,
        }


@dataclass(frozen=True)
class CertificateBundle:
    """A checked certificate: the chain (leaf first) and its unencrypted PKCS#8 key."""

    chain_pem: bytes
    key_pem: bytes
    info: CertificateInfo


def _certificates(pem: bytes, what: str) -> list[x509.Certificate]:
    if len(pem) > MAX_PEM_BYTES:
        raise CertificateRefused(
            "too_large", f"the {what} is larger than {MAX_PEM_BYTES} bytes", {"what": what}
        )
    if not pem.strip():
        return []
    if _PEM_CERT not in pem:
        raise CertificateRefused(
            "bad_certificate", f"the {what} holds no PEM certificate", {"what": what}
        )
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError as e:
        raise CertificateRefused(
            "bad_certificate", f"the {what} is not valid PEM: {e}", {"what": what}
        ) from None


def _key(pem: bytes, password: bytes | None) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    if len(pem) > MAX_PEM_BYTES:
        raise CertificateRefused("too_large", f"the key is larger than {MAX_PEM_BYTES} bytes")
    try:
        key = serialization.load_pem_private_key(pem, password)
    except TypeError:
        raise CertificateRefused(
            "bad_key", "the private key is encrypted: give its password or an unencrypted key"
        ) from None
    except (ValueError, UnsupportedAlgorithm) as e:
        reason = "wrong password" if password else str(e).split("\n")[0][:200]
        raise CertificateRefused("bad_key", f"the private key cannot be read: {reason}") from None
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise CertificateRefused(
                "weak_key",
                f"the RSA key has {key.key_size} bits; at least {MIN_RSA_BITS} are needed",
            )
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in EC_CURVES:
            raise CertificateRefused(
                "weak_key", f"the EC curve {key.curve.name} is not one of {sorted(EC_CURVES)}"
            )
        return key
    raise CertificateRefused(
        "bad_key", f"a {type(key).__name__} key cannot serve TLS here; use RSA or EC"
    )


def _public_der(key: object) -> bytes:
    assert isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _name(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "(empty subject)"


def _check_dates(cert: x509.Certificate, now: datetime.datetime, role: str) -> None:
    if now < cert.not_valid_before_utc:
        raise CertificateRefused(
            "not_yet_valid",
            f"the {role} certificate {_name(cert)} is not valid before "
            f"{cert.not_valid_before_utc.isoformat()}",
            {"not_before": cert.not_valid_before_utc.isoformat()},
        )
    if now > cert.not_valid_after_utc:
        raise CertificateRefused(
            "expired",
            f"the {role} certificate {_name(cert)} expired on "
            f"{cert.not_valid_after_utc.isoformat()}",
            {"not_after": cert.not_valid_after_utc.isoformat()},
        )


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return cert.version == x509.Version.v1  # old roots carry no extensions


def _order_chain(leaf: x509.Certificate, rest: list[x509.Certificate]) -> list[x509.Certificate]:
    """Leaf first, then each issuer; every given certificate must be a link."""
    chain, pool = [leaf], list(rest)
    while pool:
        current = chain[-1]
        if current.issuer == current.subject:
            break  # reached a root; anything left over is not part of this chain
        found = next((c for c in pool if _issued_by(current, c)), None)
        if found is None:
            named = [c for c in pool if c.subject == current.issuer]
            why = (
                "its signature does not verify"
                if named
                else "no certificate in the chain is its issuer"
            )
            raise CertificateRefused(
                "broken_chain",
                f"the chain is broken after {_name(current)}: it is issued by "
                f"{current.issuer.rfc4514_string()}, and {why}",
                {"at": _name(current)},
            )
        if not _is_ca(found):
            raise CertificateRefused(
                "broken_chain",
                f"{_name(found)} signs {_name(current)} but is not a CA certificate",
                {"at": _name(found)},
            )
        chain.append(found)
        pool.remove(found)
    if pool:
        raise CertificateRefused(
            "broken_chain",
            f"{_name(pool[0])} is not part of the chain of {_name(leaf)}",
            {"at": _name(pool[0])},
        )
    return chain


def _names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(
        [*alt.get_values_for_type(x509.DNSName)]
        + [str(ip) for ip in alt.get_values_for_type(x509.IPAddress)]
    )


def describe(chain: list[x509.Certificate]) -> CertificateInfo:
    """The shown facts of a chain (leaf first)."""
    leaf = chain[0]
    key = leaf.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        key_type = f"RSA {key.key_size}"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key_type = f"EC {key.curve.name}"
    else:
        key_type = type(key).__name__
    return CertificateInfo(
        subject=leaf.subject.rfc4514_string(),
        issuer=leaf.issuer.rfc4514_string(),
        names=_names(leaf),
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        serial=format(leaf.serial_number, "x"),
        fingerprint_sha256=leaf.fingerprint(hashes.SHA256()).hex(),
        key_type=key_type,
        chain_length=len(chain),
        self_signed=leaf.issuer == leaf.subject,
    )


def describe_pem(chain_pem: bytes) -> CertificateInfo:
    """Facts of stored PEM (no checks beyond parsing)."""
    certs = _certificates(chain_pem, "stored certificate")
    if not certs:
        raise CertificateRefused("bad_certificate", "the stored certificate file is empty")
    return describe(certs)


def check_bundle(
    cert_pem: bytes,
    key_pem: bytes,
    chain_pem: bytes = b"",
    *,
    now: datetime.datetime,
    password: bytes | None = None,
) -> CertificateBundle:
    """Validate a certificate (its file may carry the chain after it), an optional
    separate chain, and the private key, at time `now` (aware)."""
    certs = _certificates(cert_pem, "certificate")
    if not certs:
        raise CertificateRefused("bad_certificate", "no certificate given")
    extra = _certificates(chain_pem, "chain")
    if len(certs) + len(extra) > MAX_CHAIN:
        raise CertificateRefused("broken_chain", f"more than {MAX_CHAIN} certificates in the chain")
    leaf = certs[0]
    key = _key(key_pem, password)
    if _public_der(key.public_key()) != _public_der(leaf.public_key()):
        raise CertificateRefused(
            "key_mismatch",
            f"the private key does not belong to the certificate {_name(leaf)}",
        )
    _check_dates(leaf, now, "server")
    try:
        usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.SERVER_AUTH not in usage:
            raise CertificateRefused(
                "not_for_servers",
                f"the certificate {_name(leaf)} is not meant for TLS servers "
                "(its extended key usage lacks serverAuth)",
            )
    except x509.ExtensionNotFound:
        pass
    chain = _order_chain(leaf, certs[1:] + extra)
    for c in chain[1:]:
        _check_dates(c, now, "chain")
    out = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
    key_out = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return CertificateBundle(out, key_out, describe(chain))
