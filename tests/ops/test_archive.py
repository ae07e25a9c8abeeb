"""The backup archive format on its own: round trips, and every way it is refused."""

from __future__ import annotations

import gzip
import io
import random
import tarfile
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ops.archive import (
    SEALED_MAGIC,
    ArchiveError,
    FileEntry,
    Manifest,
    Opener,
    Sealer,
    check_name,
    file_entry,
    peek,
    read_archive,
    read_header,
    write_archive,
)

PASS = "correct horse battery"


def _manifest(**kw) -> Manifest:
    base = dict(
        name="nightly",
        kind="manual",
        created_at="2026-11-30T02:30:00+00:00",
        node="hub-1",
        fedhub_version="0.1.0",
        schema_revision="0003",
        dialect="sqlite",
    )
    return Manifest(**{**base, **kw})


def _archive(tmp_path: Path, passphrase: str | None = None, size: int = 300_000) -> bytes:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "db").write_bytes(random.Random(size).randbytes(size))  # incompressible
    (src / "cert").write_bytes(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    sources = [
        (file_entry("database/fedhub.sqlite3", src / "db"), src / "db"),
        (file_entry("files/certs/web.pem", src / "cert"), src / "cert"),
    ]
    m = _manifest(encrypted=bool(passphrase), files=tuple(e for e, _ in sources))
    out = io.BytesIO()
    write_archive(out, m, sources, passphrase)
    return out.getvalue()


def _read(raw: bytes, tmp_path: Path, passphrase: str | None = None) -> Manifest:
    into = tmp_path / f"into-{len(list(tmp_path.iterdir()))}"
    into.mkdir()
    return read_archive(io.BytesIO(raw), into, passphrase)


@pytest.mark.parametrize("passphrase", [None, PASS])
def test_round_trip_restores_every_file_byte_for_byte(tmp_path: Path, passphrase):
    raw = _archive(tmp_path, passphrase)
    into = tmp_path / "into"
    into.mkdir()
    m = read_archive(io.BytesIO(raw), into, passphrase)
    assert m.name == "nightly" and m.encrypted == bool(passphrase)
    assert (into / "database/fedhub.sqlite3").read_bytes() == (tmp_path / "src/db").read_bytes()
    assert (into / "files/certs/web.pem").read_bytes().startswith(b"-----BEGIN")
    assert {f.path for f in m.files} == {"database/fedhub.sqlite3", "files/certs/web.pem"}


def test_sealed_archive_hides_the_content_but_lists_its_public_manifest(tmp_path: Path):
    raw = _archive(tmp_path, PASS)
    assert raw.startswith(SEALED_MAGIC)
    assert b"BEGIN CERTIFICATE" not in raw and b"fedhub.sqlite3" not in raw
    (tmp_path / "a").write_bytes(raw)
    public = peek(tmp_path / "a")
    assert public["name"] == "nightly" and public["encrypted"] is True
    assert "files" not in public


@pytest.mark.parametrize("passphrase", [None, PASS])
@pytest.mark.parametrize("cut", [1, 100, 1000, 50_000, 200_000])
def test_truncated_archive_is_refused(tmp_path: Path, passphrase, cut):
    raw = _archive(tmp_path, passphrase)
    with pytest.raises(ArchiveError) as e:
        _read(raw[:-cut], tmp_path, passphrase)
    assert e.value.code in ("truncated", "corrupt", "tampered")


def test_plain_archive_with_a_changed_byte_is_refused(tmp_path: Path):
    raw = bytearray(_archive(tmp_path))
    raw[len(raw) // 2] ^= 0x01  # inside the compressed database member
    with pytest.raises(ArchiveError) as e:
        _read(bytes(raw), tmp_path)
    assert e.value.code in ("corrupt", "tampered", "truncated")


def test_a_file_that_does_not_match_its_manifest_checksum_is_refused(tmp_path: Path):
    src = tmp_path / "db"
    src.write_bytes(b"the real content")
    lying = FileEntry("database/fedhub.sqlite3", "0" * 64, src.stat().st_size)
    out = io.BytesIO()
    write_archive(out, _manifest(files=(lying,)), [(lying, src)])
    with pytest.raises(ArchiveError) as e:
        _read(out.getvalue(), tmp_path)
    assert e.value.code == "corrupt" and "checksum" in e.value.message


def _gz(tar_bytes: bytes) -> bytes:
    return gzip.compress(tar_bytes, mtime=0)


def test_plain_archive_with_an_extra_member_is_refused(tmp_path: Path):
    raw = gzip.decompress(_archive(tmp_path))
    # rebuild the same archive with one more file the manifest does not list
    buf = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(raw), mode="r|") as src,
        tarfile.open(fileobj=buf, mode="w|") as dst,
    ):
        for m in src:
            if m.name == "end.json":
                extra = tarfile.TarInfo("files/certs/evil.pem")
                extra.size = 3
                dst.addfile(extra, io.BytesIO(b"bad"))
            dst.addfile(m, src.extractfile(m))
    with pytest.raises(ArchiveError) as e:
        _read(_gz(buf.getvalue()), tmp_path)
    assert e.value.code == "tampered"


@pytest.mark.parametrize("where", ["first_chunk", "last_byte", "header_public"])
def test_tampered_sealed_archive_is_refused(tmp_path: Path, where):
    raw = bytearray(_archive(tmp_path, PASS))
    header_len = read_header(bytes(raw[:70_000]))[1]
    if where == "first_chunk":
        raw[header_len + 100] ^= 0x80
    elif where == "last_byte":
        raw[-1] ^= 0x01
    else:
        at = raw.index(b'"nightly"')
        raw[at + 1 : at + 8] = b"dailyyy"
    with pytest.raises(ArchiveError) as e:
        _read(bytes(raw), tmp_path, PASS)
    assert e.value.code in ("tampered", "passphrase")


def test_sealed_archive_with_data_appended_is_refused(tmp_path: Path):
    raw = _archive(tmp_path, PASS)
    with pytest.raises(ArchiveError) as e:
        _read(raw + raw[-40:], tmp_path, PASS)
    assert e.value.code == "tampered"


def test_sealed_chunks_cannot_be_reordered_or_dropped():
    sealer = Sealer(PASS, {"name": "x"})
    header = sealer.header()
    c0, c1, c2 = sealer.seal(b"a" * 10), sealer.seal(b"b" * 10), sealer.seal(b"c", last=True)
    doc, n = read_header(header)
    assert n == len(header)

    def opened(*chunks: bytes) -> bytes:
        o = Opener(PASS, header, doc)
        out = o.feed(b"".join(chunks))
        o.close()
        return out

    assert opened(c0, c1, c2) == b"a" * 10 + b"b" * 10 + b"c"
    for bad in ((c1, c0, c2), (c0, c2), (c0, c1)):
        with pytest.raises(ArchiveError):
            opened(*bad)


def test_wrong_or_missing_passphrase_is_refused(tmp_path: Path):
    raw = _archive(tmp_path, PASS)
    with pytest.raises(ArchiveError) as e:
        _read(raw, tmp_path, "not the passphrase")
    assert e.value.code == "passphrase"
    with pytest.raises(ArchiveError) as e:
        _read(raw, tmp_path, None)
    assert e.value.code == "passphrase" and "encrypted" in e.value.message


def test_foreign_files_are_refused(tmp_path: Path):
    with pytest.raises(ArchiveError) as e:
        _read(b"PK\x03\x04 this is a zip, not ours" * 50, tmp_path)
    assert e.value.code == "foreign"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("etc/passwd")
        info.size = 4
        t.addfile(info, io.BytesIO(b"root"))
    with pytest.raises(ArchiveError) as e:
        _read(buf.getvalue(), tmp_path)
    assert e.value.code == "foreign"
    with pytest.raises(ArchiveError) as e:
        _read(_gz(buf.getvalue()), tmp_path)
    assert e.value.code == "foreign"


def _with_manifest(doc: dict) -> bytes:
    raw = orjson.dumps(doc)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(raw)
        t.addfile(info, io.BytesIO(raw))
    return _gz(buf.getvalue())


def test_unknown_format_version_is_refused(tmp_path: Path):
    doc = orjson.loads(_manifest().to_json())
    doc["format"] = 2
    with pytest.raises(ArchiveError) as e:
        _read(_with_manifest(doc), tmp_path)
    assert e.value.code == "format"


def test_manifest_naming_a_path_outside_the_archive_is_refused(tmp_path: Path):
    doc = orjson.loads(_manifest().to_json())
    doc["files"] = [{"path": "files/../../etc/cron.d/x", "sha256": "0" * 64, "size": 1}]
    with pytest.raises(ArchiveError) as e:
        _read(_with_manifest(doc), tmp_path)
    assert e.value.code == "corrupt"
    assert not (tmp_path.parent / "etc").exists()
    with pytest.raises(ArchiveError):
        FileEntry("/abs/path", "0" * 64, 1)


def test_missing_file_is_refused_as_truncated(tmp_path: Path):
    doc = orjson.loads(_manifest().to_json())
    doc["files"] = [{"path": "database/fedhub.sqlite3", "sha256": "0" * 64, "size": 1}]
    with pytest.raises(ArchiveError) as e:
        _read(_with_manifest(doc), tmp_path)
    assert e.value.code == "truncated"


def test_backup_names():
    assert check_name("before-upgrade_2.1") == "before-upgrade_2.1"
    for bad in ("", "../x", "a/b", "-x", "x" * 65, "名字", "a..b"):
        with pytest.raises(ValueError):
            check_name(bad)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_any_single_byte_change_of_a_sealed_archive_is_refused(tmp_path_factory, data):
    tmp = tmp_path_factory.mktemp("flip")
    raw = bytearray(_SMALL_SEALED)
    at = data.draw(st.integers(0, len(raw) - 1))
    raw[at] ^= data.draw(st.integers(1, 255))
    with pytest.raises(ArchiveError):
        read_archive(io.BytesIO(bytes(raw)), tmp, PASS)


def _small_sealed() -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        return _archive(Path(d), PASS, size=2048)


_SMALL_SEALED = _small_sealed()
