"""Log files per module: one line per event, JSON on demand, rotation, export filters."""

from __future__ import annotations

import io
import logging
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from ops.logs import (
    LogFilter,
    ModuleFiles,
    export_zip,
    log_files,
    module_of,
    parse_line,
)


def _record(name: str, msg: str, at: datetime, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError("boom\nsecond line")
        except RuntimeError:
            import sys

            exc_info = sys.exc_info()
    r = logging.LogRecord(name, logging.WARNING, __file__, 1, msg, None, exc_info)
    r.created = at.timestamp()
    return r


def _zip(pieces) -> dict[str, list[str]]:
    z = zipfile.ZipFile(io.BytesIO(b"".join(pieces)))
    return {n: z.read(n).decode().splitlines() for n in z.namelist()}


def test_module_of_maps_loggers_to_a_bounded_set_of_files():
    assert module_of("fedhub.api") == "api"
    assert module_of("fedhub.lease") == "lease"
    assert module_of("fedhub") == "ops"
    assert module_of("sip.service") == "sip"
    assert module_of("controllers.client") == "controllers"
    assert module_of("uvicorn.error") == "uvicorn"
    assert module_of("anything.else") == "other"
    assert module_of("fedhub.made-up-by-a-caller") == "other"


@pytest.mark.parametrize("json", [False, True])
def test_one_line_per_event_even_with_a_traceback(tmp_path: Path, json: bool):
    h = ModuleFiles(tmp_path, "node-1", json=json)
    at = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    h.handle(_record("fedhub.api", "refused\nforged line", at, exc=True))
    h.close()
    lines = (tmp_path / "api.log").read_text().splitlines()
    assert len(lines) == 1
    parsed = parse_line(lines[0])
    assert parsed is not None and parsed.node == "node-1" and parsed.module == "api"
    assert parsed.at == at
    if json:
        doc = orjson.loads(lines[0])
        assert doc["message"].startswith("refused\nforged line") and "boom" in doc["message"]
    else:
        assert "refused\\nforged line" in lines[0] and "RuntimeError: boom" in lines[0]


def test_a_full_file_is_renamed_with_its_time_and_a_new_one_begun(tmp_path: Path):
    rotated = []
    h = ModuleFiles(tmp_path, "n", max_bytes=400, on_rotate=lambda: rotated.append(1))
    at = datetime(2026, 11, 30, tzinfo=UTC)
    for i in range(20):
        h.handle(_record("sip.service", f"line {i} " + "x" * 50, at))
    h.close()
    files = [p.name for p in log_files(tmp_path)]
    assert "sip.log" in files and len(files) > 2 and rotated
    assert all(f == "sip.log" or f.startswith("sip.log.2") for f in files)
    # nothing lost across rotations
    got = _zip(export_zip(tmp_path, LogFilter()))["sip.log"]
    assert [line.split(": ", 1)[1].split()[1] for line in got] == [str(i) for i in range(20)]


def _write_logs(tmp_path: Path) -> None:
    for node in ("hub-a", "hub-b"):
        h = ModuleFiles(tmp_path, node, json=node == "hub-b")
        for hour in range(6):
            at = datetime(2026, 11, 30, hour, 30, tzinfo=UTC)
            h.handle(_record("fedhub.api", f"api at {hour}", at))
            h.handle(_record("sip.service", f"sip at {hour}", at))
            h.handle(_record("fedhub.backup", f"backup at {hour}", at))
        h.close()


def test_export_filters_by_time_range_module_and_node(tmp_path: Path):
    _write_logs(tmp_path)
    everything = _zip(export_zip(tmp_path, LogFilter()))
    assert set(everything) == {"api.log", "sip.log", "backup.log"}
    assert len(everything["api.log"]) == 12

    t = lambda h: datetime(2026, 11, 30, h, 0, tzinfo=UTC)  # noqa: E731
    ranged = _zip(export_zip(tmp_path, LogFilter(since=t(2), until=t(4))))
    assert all(len(v) == 4 for v in ranged.values())  # hours 2 and 3, two nodes
    assert all(("at 2" in x or "at 3" in x) for v in ranged.values() for x in v)

    sip_only = _zip(export_zip(tmp_path, LogFilter(modules=frozenset({"sip"}))))
    assert list(sip_only) == ["sip.log"]

    b_only = _zip(export_zip(tmp_path, LogFilter(nodes=frozenset({"hub-b"}))))
    assert all(x.startswith("{") for v in b_only.values() for x in v)
    assert sum(len(v) for v in b_only.values()) == 18

    nothing = _zip(export_zip(tmp_path, LogFilter(nodes=frozenset({"nobody"}))))
    assert all(v == [] for v in nothing.values())


def test_lines_of_neither_form_are_skipped(tmp_path: Path):
    (tmp_path / "api.log").write_text("garbage\n{not json\n2026-13-40 x y z w\n")
    assert _zip(export_zip(tmp_path, LogFilter()))["api.log"] == []
