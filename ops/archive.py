"""The backup archive format: a tar with a manifest first, optionally sealed with a passphrase.

Layout of the plain archive (a gzip-compressed POSIX tar, written as a stream)::

    manifest.json          format, fedhub version, schema revision, dialect, when, where,
                           name, and every file below with its SHA-256 and size
    database/...           the database snapshot (SQLite file or pg_dump custom format)
    files/certs/...        every file under the data directory's ``certs/``
    end.json               the manifest's SHA-256; the tar's end blocks follow, and the
                           reader checks the file ends exactly where they do

Sealed archives wrap that tar in an authenticated envelope (``Sealer`` / ``Opener``):
a header (magic, scrypt parameters and salt, a passphrase check value, and the public
part of the manifest so a list can show it without the passphrase), then chunks of
AES-256-GCM ciphertext. Each chunk's nonce carries its counter and a "last" flag and its
associated data is the header, so a reordered, cut, extended or altered chunk and an
altered header all fail authentication. Without a passphrase the checksums catch
corruption and truncation but not a deliberate edit that recomputes them: seal archives
that leave the machine.

``Sealer`` and ``Opener`` are sans-I/O (bytes in, bytes out); ``write_archive`` and
``read_archive`` are the thin file adapters. Every refusal is an :class:`ArchiveError`.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import io
import os
import re
import struct
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
TRAILER = "end.json"  # last member: proves the archive was written to its end
SEALED_MAGIC = b"FEDHUB-SEALED-BACKUP\x00v1\n"
CHUNK = 1 << 20  # plaintext bytes per sealed chunk
MAX_HEADER = 64 * 1024
MAX_MANIFEST = 4 * 1024 * 1024
MAX_FILES = 100_000
GZIP_MAGIC = b"\x1f\x8b"
COMPRESSLEVEL = 1  # the audit log shrinks ~10x already; higher levels cost time, not size
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ARCNAME = re.compile(r"^(database|files)/[A-Za-z0-9._/-]{1,400}$")


class ArchiveError(Exception):
    """Why an archive is refused. ``code``: corrupt, truncated, tampered, passphrase,
    foreign, format, dialect, schema."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def check_name(name: str) -> str:
    """A backup name: letters, digits, ``.``, ``_``, ``-``; 1–64 characters."""
    if not _NAME.match(name) or ".." in name:
        raise ValueError(
            "a backup name is 1 to 64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit"
        )
    return name


@dataclass(frozen=True)
class FileEntry:
    path: str  # inside the archive, e.g. files/certs/web.pem
    sha256: str
    size: int

    def __post_init__(self) -> None:
        p = PurePosixPath(self.path)
        if not _ARCNAME.match(self.path) or ".." in p.parts or p.is_absolute():
            raise ArchiveError("corrupt", f"unsafe file name in the manifest: {self.path[:80]!r}")
        if not re.fullmatch(r"[0-9a-f]{64}", self.sha256) or self.size < 0:
            raise ArchiveError("corrupt", f"bad checksum or size for {self.path!r}")


@dataclass(frozen=True)
class Manifest:
    """What a backup holds; the first member of every archive."""

    name: str
    kind: str  # manual | scheduled
    created_at: str  # ISO 8601, UTC
    node: str
    fedhub_version: str
    schema_revision: str | None
    dialect: str  # sqlite | postgresql
    files: tuple[FileEntry, ...] = ()
    format: int = FORMAT_VERSION
    encrypted: bool = False

    def __post_init__(self) -> None:
        if self.dialect not in ("sqlite", "postgresql"):
            raise ArchiveError("corrupt", f"unknown database dialect {self.dialect!r}")
        if self.kind not in ("manual", "scheduled", "pre-restore", "pre-upgrade"):
            raise ArchiveError("corrupt", f"unknown backup kind {self.kind!r}")
        if len({f.path for f in self.files}) != len(self.files):
            raise ArchiveError("corrupt", "the manifest lists a file twice")

    def public(self) -> dict[str, Any]:
        """What a list shows (also stored in a sealed archive's header, in clear)."""
        return {
            "format": self.format,
            "name": self.name,
            "kind": self.kind,
            "created_at": self.created_at,
            "node": self.node,
            "fedhub_version": self.fedhub_version,
            "schema_revision": self.schema_revision,
            "dialect": self.dialect,
            "encrypted": self.encrypted,
        }

    def to_json(self) -> bytes:
        doc = self.public()
        doc["files"] = [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in self.files]
        return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ArchiveError("corrupt", "the manifest is not JSON") from None
        if not isinstance(doc, dict) or "format" not in doc:
            raise ArchiveError("foreign", "not a fedhub backup (no manifest format)")
        if doc["format"] != FORMAT_VERSION:
            raise ArchiveError(
                "format",
                f"archive format {doc['format']!r} is not the format {FORMAT_VERSION} this "
                "fedhub reads",
            )
        try:
            files = doc["files"]
            if not isinstance(files, list) or len(files) > MAX_FILES:
                raise TypeError("files")
            return cls(
                name=str(doc["name"]),
                kind=str(doc["kind"]),
                created_at=str(doc["created_at"]),
                node=str(doc["node"]),
                fedhub_version=str(doc["fedhub_version"]),
                schema_revision=(
                    None if doc["schema_revision"] is None else str(doc["schema_revision"])
                ),
                dialect=str(doc["dialect"]),
                files=tuple(
                    FileEntry(str(f["path"]), str(f["sha256"]), int(f["size"])) for f in files
                ),
                format=FORMAT_VERSION,
                encrypted=bool(doc.get("encrypted", False)),
            )
        except (KeyError, TypeError, ValueError):
            raise ArchiveError("corrupt", "the manifest lacks a field or has a wrong one") from None


# --- the sealed envelope (sans-I/O) -------------------------------------------------


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> tuple[bytes, bytes]:
    if not passphrase:
        raise ArchiveError("passphrase", "an empty passphrase")
    out = Scrypt(salt=salt, length=64, n=n, r=r, p=p).derive(passphrase.encode())
    return out[:32], out[32:]


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", counter, 1 if last else 0)


class Sealer:
    """Turns plaintext into the sealed envelope: ``header()`` once, then ``seal(data)``
    for each chunk of at most ``CHUNK`` bytes, the last one with ``last=True``."""

    def __init__(self, passphrase: str, public: dict[str, Any]):
        salt = os.urandom(16)
        self._prefix = os.urandom(7)
        key, check = _derive(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
        self._aead = AESGCM(key)
        doc = {
            "kdf": "scrypt",
            "n": SCRYPT_N,
            "r": SCRYPT_R,
            "p": SCRYPT_P,
            "salt": salt.hex(),
            "nonce_prefix": self._prefix.hex(),
            "check": hashlib.sha256(check).hexdigest(),
            "public": public,
        }
        body = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
        self._header = SEALED_MAGIC + struct.pack(">I", len(body)) + body
        self._counter = 0
        self._done = False

    def header(self) -> bytes:
        return self._header

    def seal(self, data: bytes, *, last: bool = False) -> bytes:
        if self._done:
            raise RuntimeError("the last chunk is sealed already")
        if len(data) > CHUNK:
            raise ValueError("chunk too large")
        ct = self._aead.encrypt(_nonce(self._prefix, self._counter, last), data, self._header)
        self._counter += 1
        self._done = last
        return struct.pack(">I", len(ct)) + ct


def read_header(raw: bytes) -> tuple[dict[str, Any], int] | None:
    """The sealed header's document and length, None if ``raw`` is not sealed.

    ``raw`` must hold the first bytes of the file (at least ``MAX_HEADER`` if it has)."""
    if not raw.startswith(SEALED_MAGIC):
        return None
    at = len(SEALED_MAGIC)
    if len(raw) < at + 4:
        raise ArchiveError("truncated", "the sealed header is cut short")
    (n,) = struct.unpack(">I", raw[at : at + 4])
    if n > MAX_HEADER or len(raw) < at + 4 + n:
        raise ArchiveError("truncated" if n <= MAX_HEADER else "corrupt", "bad sealed header")
    try:
        doc = orjson.loads(raw[at + 4 : at + 4 + n])
    except orjson.JSONDecodeError:
        raise ArchiveError("corrupt", "the sealed header is not JSON") from None
    if not isinstance(doc, dict) or doc.get("kdf") != "scrypt":
        raise ArchiveError("corrupt", "unknown key derivation in the sealed header")
    return doc, at + 4 + n


class Opener:
    """The reverse of :class:`Sealer`: ``feed(bytes)`` returns the plaintext that
    authenticated so far; ``close()`` refuses a stream that ended before its last chunk."""

    def __init__(self, passphrase: str, header: bytes, doc: dict[str, Any]):
        try:
            n, r, p = int(doc["n"]), int(doc["r"]), int(doc["p"])
            salt = bytes.fromhex(doc["salt"])
            self._prefix = bytes.fromhex(doc["nonce_prefix"])
            expected = str(doc["check"])
        except (KeyError, TypeError, ValueError):
            raise ArchiveError("corrupt", "the sealed header lacks a field") from None
        if not (2**10 <= n <= 2**20 and 1 <= r <= 32 and 1 <= p <= 16) or len(self._prefix) != 7:
            raise ArchiveError("corrupt", "unreasonable key derivation parameters")
        key, check = _derive(passphrase, salt, n, r, p)
        if not hmac.compare_digest(hashlib.sha256(check).hexdigest(), expected):
            raise ArchiveError("passphrase", "wrong passphrase (or a tampered header)")
        self._aead = AESGCM(key)
        self._header = header
        self._buf = bytearray()
        self._counter = 0
        self._done = False

    def feed(self, data: bytes) -> bytes:
        self._buf += data
        out = bytearray()
        while len(self._buf) >= 4:
            (n,) = struct.unpack(">I", self._buf[:4])
            if n > CHUNK + 16 or n < 16:
                raise ArchiveError("tampered", "a sealed chunk has an impossible length")
            if len(self._buf) < 4 + n:
                break
            if self._done:
                raise ArchiveError("tampered", "data after the last sealed chunk")
            ct = bytes(self._buf[4 : 4 + n])
            del self._buf[: 4 + n]
            out += self._open(ct)
        if self._done and self._buf:
            raise ArchiveError("tampered", "data after the last sealed chunk")
        return bytes(out)

    def _open(self, ct: bytes) -> bytes:
        for last in (False, True):
            try:
                pt = self._aead.decrypt(_nonce(self._prefix, self._counter, last), ct, self._header)
            except InvalidTag:
                continue
            self._counter += 1
            self._done = last
            return pt
        raise ArchiveError("tampered", f"sealed chunk {self._counter} fails authentication")

    def close(self) -> None:
        if not self._done:
            raise ArchiveError("truncated", "the sealed archive ends before its last chunk")


# --- file adapters ------------------------------------------------------------------


class _SealingWriter(io.RawIOBase):
    """A write-only file that seals what tarfile writes into ``raw``."""

    def __init__(self, raw: IO[bytes], sealer: Sealer):
        self._raw = raw
        self._sealer = sealer
        self._buf = bytearray()
        raw.write(sealer.header())

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self._buf += b
        while len(self._buf) > CHUNK:
            self._raw.write(self._sealer.seal(bytes(self._buf[:CHUNK])))
            del self._buf[:CHUNK]
        return len(b)

    def finish(self) -> None:
        self._raw.write(self._sealer.seal(bytes(self._buf), last=True))
        self._buf.clear()


class _OpeningReader(io.RawIOBase):
    """A read-only file of the plaintext of a sealed stream."""

    def __init__(self, raw: IO[bytes], opener: Opener):
        self._raw = raw
        self._opener = opener
        self._buf = bytearray()
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf and not self._eof:
            data = self._raw.read(CHUNK)
            if not data:
                self._eof = True
                self._opener.close()
                break
            self._buf += self._opener.feed(data)
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        del self._buf[:n]
        return n


@dataclass
class _Hashing:
    path: str
    digest: Any = field(default_factory=hashlib.sha256)
    size: int = 0


def file_entry(arcname: str, source: Path) -> FileEntry:
    h = hashlib.sha256()
    size = 0
    with source.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return FileEntry(arcname, h.hexdigest(), size)


def write_archive(
    out: IO[bytes],
    manifest: Manifest,
    sources: Iterable[tuple[FileEntry, Path]],
    passphrase: str | None = None,
) -> None:
    """Write the archive to ``out``: the manifest, then each source file.

    The sources must not change while this runs (they are snapshots in a staging
    directory); their entries come from :func:`file_entry`."""
    sink: IO[bytes] = out
    sealing: _SealingWriter | None = None
    if passphrase:
        sealing = _SealingWriter(out, Sealer(passphrase, manifest.public()))
        sink = sealing  # type: ignore[assignment]
    gz = gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=COMPRESSLEVEL, mtime=0)
    with gz, tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        raw = manifest.to_json()
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(raw)
        info.mode = 0o600
        tar.addfile(info, io.BytesIO(raw))
        for entry, path in sources:
            info = tarfile.TarInfo(entry.path)
            info.size = entry.size
            info.mode = 0o600
            with path.open("rb") as f:
                tar.addfile(info, f)
        end = orjson.dumps({"manifest_sha256": hashlib.sha256(raw).hexdigest()})
        info = tarfile.TarInfo(TRAILER)
        info.size = len(end)
        info.mode = 0o600
        tar.addfile(info, io.BytesIO(end))
    if sealing is not None:
        sealing.finish()


def peek(path: Path) -> dict[str, Any]:
    """The public part of a manifest without the passphrase or reading the whole file."""
    with path.open("rb") as f:
        head = f.read(MAX_HEADER + len(SEALED_MAGIC) + 4)
        sealed = read_header(head)
        if sealed is not None:
            public = sealed[0].get("public")
            if not isinstance(public, dict):
                raise ArchiveError("corrupt", "the sealed header has no public manifest")
            return {**public, "encrypted": True}
        f.seek(0)
        if not head.startswith(GZIP_MAGIC):
            raise ArchiveError("foreign", "not a fedhub backup (not gzip-compressed)")
        try:
            with (
                gzip.GzipFile(fileobj=f, mode="rb") as gz,
                tarfile.open(fileobj=gz, mode="r|") as tar,
            ):
                first = tar.next()
                if first is None or first.name != MANIFEST or first.size > MAX_MANIFEST:
                    raise ArchiveError("foreign", "not a fedhub backup (no manifest first)")
                data = tar.extractfile(first)
                assert data is not None
                return Manifest.from_json(data.read()).public()
        except (tarfile.TarError, OSError, EOFError, zlib.error):
            raise ArchiveError("foreign", "not a fedhub backup (not a tar archive)") from None


def read_archive(source: IO[bytes], into: Path, passphrase: str | None = None) -> Manifest:
    """Verify the whole archive and unpack its files into the empty directory ``into``.

    Returns the manifest only if every file is present, of the stated size and checksum,
    nothing else is in the archive and, for a sealed one, every chunk authenticated up to
    the last. The caller must not use ``into`` after an :class:`ArchiveError`."""
    head = source.read(MAX_HEADER + len(SEALED_MAGIC) + 4)
    sealed = read_header(head)
    stream: IO[bytes]
    if sealed is not None:
        if not passphrase:
            raise ArchiveError("passphrase", "this backup is encrypted: give its passphrase")
        doc, hlen = sealed
        opener = Opener(passphrase, head[:hlen], doc)
        rest = io.BufferedReader(_ChainReader(head[hlen:], source))
        compressed = io.BufferedReader(_OpeningReader(rest, opener), CHUNK)
    else:
        if not head.startswith(GZIP_MAGIC):
            raise ArchiveError("foreign", "not a fedhub backup (not gzip-compressed)")
        compressed = io.BufferedReader(_ChainReader(head, source), CHUNK)  # type: ignore[arg-type]
    try:
        # gzip's CRC and length catch damage to the compressed stream; the tar's own
        # layout and the manifest's checksums are checked on the plaintext below
        counted = _Counting(gzip.GzipFile(fileobj=compressed, mode="rb"))
        stream = io.BufferedReader(counted, CHUNK)
        return _unpack(stream, counted, into, sealed=sealed is not None)
    except tarfile.ReadError as e:
        if "unexpected end" in str(e) or "truncated" in str(e):
            raise ArchiveError("truncated", "the archive is cut short") from None
        raise ArchiveError("corrupt", f"the archive is damaged: {e}") from None
    except EOFError:
        raise ArchiveError("truncated", "the archive is cut short") from None
    except (gzip.BadGzipFile, zlib.error, OSError) as e:
        raise ArchiveError("corrupt", f"the archive is damaged: {e}") from None


def _unpack(stream: IO[bytes], counted: _Counting, into: Path, *, sealed: bool) -> Manifest:
    try:
        tar = tarfile.open(fileobj=stream, mode="r|")
    except tarfile.ReadError:
        raise ArchiveError("foreign", "not a fedhub backup (not a tar archive)") from None
    with tar:
        first = tar.next()
        if first is None or first.name != MANIFEST or not first.isfile():
            raise ArchiveError("foreign", "not a fedhub backup (no manifest first)")
        if first.size > MAX_MANIFEST:
            raise ArchiveError("corrupt", "the manifest is too large")
        data = tar.extractfile(first)
        assert data is not None
        raw_manifest = data.read()
        manifest = Manifest.from_json(raw_manifest)
        if manifest.encrypted != sealed:
            raise ArchiveError("tampered", "the manifest and the envelope disagree on encryption")
        expected = {f.path: f for f in manifest.files}
        seen: set[str] = set()
        end: int | None = None
        for member in _members(tar):
            if member.name == TRAILER and end is None and member.isfile() and member.size < 4096:
                _check_trailer(tar, member, raw_manifest)
                end = member.offset_data + -(-member.size // 512) * 512
                continue
            entry = expected.get(member.name)
            if end is not None:
                raise ArchiveError("tampered", "a member after the end of the archive")
            if entry is None or member.name in seen or not member.isfile():
                raise ArchiveError("tampered", f"unexpected member {member.name[:80]!r}")
            if member.size != entry.size:
                raise ArchiveError("tampered", f"{member.name} has the wrong size")
            seen.add(member.name)
            target = into / member.name
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(member)
            assert src is not None
            h = hashlib.sha256()
            got = 0
            with target.open("wb") as out:
                while chunk := src.read(CHUNK):
                    h.update(chunk)
                    got += len(chunk)
                    out.write(chunk)
            if got != entry.size:
                raise ArchiveError("truncated", f"{member.name} is cut short")
            if h.hexdigest() != entry.sha256:
                raise ArchiveError("corrupt", f"{member.name} does not match its checksum")
        missing = sorted(set(expected) - seen)
        if missing:
            raise ArchiveError("truncated", f"the archive lacks {missing[0]}")
        if end is None:
            raise ArchiveError("truncated", "the archive lacks its end marker")
        # drain the end of the stream: a sealed archive authenticates its last chunk here
        while stream.read(CHUNK):
            pass
    # two zero blocks end a tar, padded to whole records: the file must end right there
    expected_size = -(-(end + 1024) // tarfile.RECORDSIZE) * tarfile.RECORDSIZE
    if counted.total < expected_size:
        raise ArchiveError("truncated", "the archive is cut short after its last file")
    if counted.total > expected_size:
        raise ArchiveError("tampered", "data after the end of the archive")
    return manifest


def _check_trailer(tar: tarfile.TarFile, member: tarfile.TarInfo, raw_manifest: bytes) -> None:
    f = tar.extractfile(member)
    assert f is not None
    try:
        doc = orjson.loads(f.read())
    except orjson.JSONDecodeError:
        raise ArchiveError("corrupt", "the end marker is not JSON") from None
    if not isinstance(doc, dict) or doc.get("manifest_sha256") != (
        hashlib.sha256(raw_manifest).hexdigest()
    ):
        raise ArchiveError("tampered", "the end marker does not match the manifest")


class _Counting(io.RawIOBase):
    """Counts the bytes read through it (the plaintext tar's length)."""

    def __init__(self, raw: Any):
        self._raw = raw
        self.total = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = self._raw.readinto(b) or 0
        self.total += n
        return n


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    while (m := tar.next()) is not None:
        yield m


class _ChainReader(io.RawIOBase):
    """``prefix`` then the rest of ``raw``: lets a header be peeked without seeking."""

    def __init__(self, prefix: bytes, raw: IO[bytes]):
        self._prefix = memoryview(prefix)
        self._raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._prefix:
            n = min(len(b), len(self._prefix))
            b[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._raw.read(len(b))
        b[: len(data)] = data
        return len(data)
