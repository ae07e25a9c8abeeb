"""The redirector's TLS: server context from the platform's certificate files.

`ensure_certificate(cert_dir)` returns the paths of `sip.crt` (PEM chain) and
`sip.key` (PEM private key) in `cert_dir`, writing a self-signed pair first when
there is none (first start; the admin imports a real one later by replacing the
files). `server_context(cert, key)` builds an `ssl.SSLContext` that refuses
anything older than TLS 1.2 and any TLS 1.2 suite that is not ECDHE + AEAD;
call `load_cert_chain` on the same context again to rotate the certificate
without rebinding (new handshakes pick it up).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import tempfile
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CERT_FILE: Final = "sip.crt"
KEY_FILE: Final = "sip.key"
SELF_SIGNED_DAYS: Final = 3650
TLS12_CIPHERS: Final = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL"
"""The TLS 1.2 suites offered (OpenSSL syntax): ECDHE with AES-GCM or ChaCha20-Poly1305."""


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def self_signed(common_name: str, names: tuple[str, ...] = ()) -> tuple[bytes, bytes]:
    """A (certificate PEM, private key PEM) pair: EC P-256, SHA-256, 10 years, with
    `common_name`, `names`, localhost and 127.0.0.1 as subject alternative names."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    alt: list[x509.GeneralName] = []
    for name in dict.fromkeys((common_name, *names, "localhost", "127.0.0.1")):
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def ensure_certificate(
    cert_dir: Path, common_name: str = "fedhub-sip", names: tuple[str, ...] = ()
) -> tuple[Path, Path]:
    """(cert path, key path) in `cert_dir`, generated self-signed if either is missing."""
    cert_dir.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = cert_dir / CERT_FILE, cert_dir / KEY_FILE
    if not (cert_path.is_file() and key_path.is_file()):
        cert_pem, key_pem = self_signed(common_name, names)
        _write_atomic(key_path, key_pem, 0o600)
        _write_atomic(cert_path, cert_pem, 0o644)
    return cert_path, key_path


def server_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    """A server context: TLS 1.3, or TLS 1.2 with an AEAD suite and forward secrecy
    only (`TLS12_CIPHERS`; no CBC, no static RSA), no client certificates asked for."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(TLS12_CIPHERS)  # TLS 1.3 suites are all AEAD and set apart
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(cert_path, key_path)
    return ctx


def files_stamp(cert_path: Path, key_path: Path) -> tuple[float, float, int, int]:
    """A cheap change marker for the certificate files (mtimes and sizes)."""
    c, k = cert_path.stat(), key_path.stat()
    return (c.st_mtime, k.st_mtime, c.st_size, k.st_size)
