"""The node's TLS certificate on disk: the current pair, the previous one, and who uses it.

One certificate serves the web server and the SIP TLS listener of a node. It lives
in the certificate folder (``<data>/certs`` by default) as ``sip.crt`` (chain, leaf
first) and ``sip.key``; a self-signed pair is written on first start
(`sip.tls.ensure_certificate`). An import that passed `hub.certificates.check_bundle`
moves the current pair to ``previous/`` and writes the new one; `rollback` swaps
the two back. Each change calls the listeners (the web server's and the SIP
listener's contexts reload in place: new handshakes get the new certificate, open
connections keep theirs); another process (``fedhub cert import`` while ``serve``
runs) is noticed by `changed()`, a cheap check of the files' stamps.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable
from pathlib import Path

from hub.certificates import (
    CertificateBundle,
    CertificateInfo,
    CertificateRefused,
    check_bundle,
    describe_pem,
)
from sip.tls import CERT_FILE, KEY_FILE, _write_atomic, ensure_certificate, files_stamp

log = logging.getLogger("fedhub.certs")

PREVIOUS = "previous"

Listener = Callable[[Path, Path], object]


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class CertificateStore:
    """The certificate folder of one node. Methods run on the event loop; file
    writes are small and atomic (a reader sees the old or the new file, never half)."""

    def __init__(
        self,
        cert_dir: Path,
        *,
        common_name: str = "fedhub",
        names: tuple[str, ...] = (),
        clock: Callable[[], datetime.datetime] = _now,
    ):
        self.cert_dir = cert_dir
        self.common_name = common_name
        self.names = names  # more subject alternative names of a self-signed pair
        self._clock = clock
        self._listeners: list[Listener] = []
        self._lock = asyncio.Lock()
        self._stamp: tuple[float, float, int, int] | None = None

    @property
    def paths(self) -> tuple[Path, Path]:
        """(certificate chain, private key) of the current pair."""
        return self.cert_dir / CERT_FILE, self.cert_dir / KEY_FILE

    @property
    def previous_paths(self) -> tuple[Path, Path]:
        d = self.cert_dir / PREVIOUS
        return d / CERT_FILE, d / KEY_FILE

    def ensure(self) -> tuple[Path, Path]:
        """The current pair, self-signed first if there is none (first start)."""
        paths = ensure_certificate(self.cert_dir, self.common_name, self.names)
        self.cert_dir.chmod(0o700)
        self._stamp = files_stamp(*paths)
        return paths

    def on_change(self, listener: Listener) -> None:
        """Call `listener(cert_path, key_path)` after every import or rollback."""
        self._listeners.append(listener)

    def current(self) -> CertificateInfo:
        return describe_pem(self.ensure()[0].read_bytes())

    def previous(self) -> CertificateInfo | None:
        cert, key = self.previous_paths
        if not (cert.is_file() and key.is_file()):
            return None
        return describe_pem(cert.read_bytes())

    def check(
        self, cert_pem: bytes, key_pem: bytes, chain_pem: bytes = b"", password: bytes | None = None
    ) -> CertificateBundle:
        """`check_bundle` at this store's clock; raises `CertificateRefused`."""
        return check_bundle(cert_pem, key_pem, chain_pem, now=self._clock(), password=password)

    async def install(self, bundle: CertificateBundle) -> CertificateInfo:
        """Make `bundle` current; the current pair becomes the previous one."""
        async with self._lock:
            cert, key = self.ensure()
            prev_cert, prev_key = self.previous_paths
            prev_cert.parent.mkdir(mode=0o700, exist_ok=True)
            _write_atomic(prev_key, key.read_bytes(), 0o600)
            _write_atomic(prev_cert, cert.read_bytes(), 0o644)
            self._write(bundle.chain_pem, bundle.key_pem)
        log.info(
            "TLS certificate installed: %s (sha256 %s, until %s)",
            bundle.info.subject,
            bundle.info.fingerprint_sha256,
            bundle.info.not_after.isoformat(),
        )
        self._notify()
        return bundle.info

    async def rollback(self) -> CertificateInfo:
        """Swap the current and the previous pair back (a second rollback undoes the
        first). Refused if there is no previous pair or it is no longer valid."""
        async with self._lock:
            prev_cert, prev_key = self.previous_paths
            if not (prev_cert.is_file() and prev_key.is_file()):
                raise CertificateRefused("no_previous", "there is no previous certificate")
            bundle = check_bundle(prev_cert.read_bytes(), prev_key.read_bytes(), now=self._clock())
            cert, key = self.ensure()
            old_cert, old_key = cert.read_bytes(), key.read_bytes()
            self._write(bundle.chain_pem, bundle.key_pem)
            _write_atomic(prev_key, old_key, 0o600)
            _write_atomic(prev_cert, old_cert, 0o644)
        log.info("TLS certificate rolled back to %s", bundle.info.subject)
        self._notify()
        return bundle.info

    def changed(self) -> bool:
        """True (once) when the files changed since this store last wrote or looked."""
        cert, key = self.paths
        try:
            stamp = files_stamp(cert, key)
        except FileNotFoundError:
            return False
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        return True

    def notify_if_changed(self) -> bool:
        """Tell the listeners if another process replaced the files; True if it did."""
        if self._stamp is not None and self.changed():
            self._notify()
            return True
        if self._stamp is None:
            self.changed()
        return False

    def _write(self, chain_pem: bytes, key_pem: bytes) -> None:
        cert, key = self.paths
        # key first: a reader that catches the pair in between fails to load it and
        # keeps the old context (load_cert_chain checks the pair); the next look retries
        _write_atomic(key, key_pem, 0o600)
        _write_atomic(cert, chain_pem, 0o644)
        self._stamp = files_stamp(cert, key)

    def _notify(self) -> None:
        cert, key = self.paths
        for listener in self._listeners:
            try:
                listener(cert, key)
            except Exception:
                log.exception("a TLS listener could not load the new certificate")
