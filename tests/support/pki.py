"""A small test PKI: root and intermediate CAs, server certificates, keys as PEM."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)

Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def ec_key() -> Key:
    return ec.generate_private_key(ec.SECP256R1())


def rsa_key(bits: int = 2048) -> Key:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@dataclass
class Issued:
    cert: x509.Certificate
    key: Key

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def fingerprint(self) -> str:
        return self.cert.fingerprint(hashes.SHA256()).hex()


def issue(
    cn: str,
    issuer: Issued | None = None,
    *,
    ca: bool = False,
    key: Key | None = None,
    not_before: datetime.datetime | None = None,
    not_after: datetime.datetime | None = None,
    server_auth: bool | None = True,
    names: tuple[str, ...] = (),
) -> Issued:
    """A certificate for `cn` signed by `issuer` (self-signed when None)."""
    key = key or ec_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or datetime.datetime.now(datetime.UTC) - 30 * DAY)
        .not_valid_after(not_after or datetime.datetime.now(datetime.UTC) + 365 * DAY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        b = b.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in (names or (cn,))]),
            critical=False,
        )
        if server_auth is not None:
            usage = (
                ExtendedKeyUsageOID.SERVER_AUTH if server_auth else ExtendedKeyUsageOID.CLIENT_AUTH
            )
            b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    cert = b.sign(issuer.key if issuer else key, hashes.SHA256())
    return Issued(cert, key)


def chain_of(cn: str = "hub.prov.example", **kw: object) -> tuple[Issued, Issued, Issued]:
    """(root, intermediate, server) with the server signed by the intermediate."""
    root = issue("Test Root CA", ca=True)
    inter = issue("Test Intermediate CA", root, ca=True)
    server = issue(cn, inter, **kw)  # type: ignore[arg-type]
    return root, inter, server
