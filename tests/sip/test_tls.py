"""Certificate files and the server context."""

from __future__ import annotations

import ssl
from pathlib import Path

from cryptography import x509

from sip.tls import CERT_FILE, KEY_FILE, ensure_certificate, files_stamp, server_context


def test_self_signed_on_first_start_then_kept(tmp_path: Path) -> None:
    cert, key = ensure_certificate(tmp_path / "tls", names=("sip.example.net",))
    assert (cert.name, key.name) == (CERT_FILE, KEY_FILE)
    assert key.stat().st_mode & 0o777 == 0o600
    parsed = x509.load_pem_x509_certificate(cert.read_bytes())
    alt = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "sip.example.net" in alt.get_values_for_type(x509.DNSName)
    stamp = files_stamp(cert, key)
    assert ensure_certificate(tmp_path / "tls") == (cert, key)
    assert files_stamp(cert, key) == stamp  # an existing (imported) pair is never replaced


def test_context_refuses_old_tls(tmp_path: Path) -> None:
    ctx = server_context(*ensure_certificate(tmp_path))
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.verify_mode == ssl.CERT_NONE


def test_context_offers_aead_suites_only(tmp_path: Path) -> None:
    ctx = server_context(*ensure_certificate(tmp_path))
    suites = ctx.get_ciphers()
    assert suites and all(s["aead"] for s in suites)
    tls12 = [s["name"] for s in suites if s["protocol"] == "TLSv1.2"]
    assert tls12 and all(n.startswith("ECDHE-") for n in tls12)
    assert all("Mac=AEAD" in s["description"] for s in suites)  # CBC suites show a MAC
