"""The reloadable server context: a new certificate for new handshakes, with or without
SNI, whatever the key type, the same suites; a bad pair changes nothing."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from sip.tls import ensure_certificate, server_context
from tests.support.pki import Issued, issue, rsa_key


@contextmanager
def tls_server(ctx: ssl.SSLContext) -> Iterator[int]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            try:
                ctx.wrap_socket(conn, server_side=True).close()
            except (ssl.SSLError, OSError):
                conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        srv.close()


def seen(port: int, sni: str | None = None, ciphers: str | None = None) -> str:
    cl = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cl.check_hostname = False
    cl.verify_mode = ssl.CERT_NONE
    if ciphers:
        cl.maximum_version = ssl.TLSVersion.TLSv1_2
        cl.set_ciphers(ciphers)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with cl.wrap_socket(raw, server_hostname=sni) as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).fingerprint(hashes.SHA256()).hex()


def write(d: Path, name: str, pair: Issued) -> tuple[Path, Path]:
    cert, key = d / f"{name}.crt", d / f"{name}.key"
    cert.write_bytes(pair.pem)
    key.write_bytes(pair.key_pem)
    return cert, key


def test_swap_ec_to_rsa_and_back(tmp_path: Path) -> None:
    first = ensure_certificate(tmp_path)
    ctx = server_context(*first)
    first_fp = (
        x509.load_pem_x509_certificate(first[0].read_bytes()).fingerprint(hashes.SHA256()).hex()
    )
    rsa = issue("rsa.example", key=rsa_key())
    with tls_server(ctx) as port:
        assert seen(port) == first_fp
        ctx.load_cert_chain(*write(tmp_path, "rsa", rsa))
        for sni in (None, "rsa.example", "other.example"):
            assert seen(port, sni) == rsa.fingerprint, sni
        # the suites stay AEAD-only for the swapped-in certificate
        with pytest.raises(ssl.SSLError):
            seen(port, ciphers="ECDHE-RSA-AES128-SHA")
        assert seen(port, ciphers="ECDHE-RSA-AES128-GCM-SHA256") == rsa.fingerprint
        ctx.load_cert_chain(*first)
        assert seen(port) == first_fp


def test_a_bad_pair_changes_nothing(tmp_path: Path) -> None:
    ctx = server_context(*ensure_certificate(tmp_path))
    good = issue("good.example")
    ctx.load_cert_chain(*write(tmp_path, "good", good))
    other = issue("other.example")
    cert, _ = write(tmp_path, "bad", good)
    _, wrong_key = write(tmp_path, "other", other)
    with pytest.raises(ssl.SSLError):
        ctx.load_cert_chain(cert, wrong_key)
    with tls_server(ctx) as port:
        assert seen(port) == good.fingerprint
