"""The hub's own log files: one line per event, one file per module, rotated, exported.

``install(logs_dir, node)`` adds a handler to the root logger that writes each record
as one line (text, or JSON when ``json=True``; a traceback is folded into the line) to
``<data>/logs/<module>.log``, where the module is the logger's package (``api``,
``links``, ``sip``, ``storage``, ``backup``, …; anything unknown goes to ``other``).
A file that reaches its size limit is renamed ``<module>.log.<UTC time>`` and a new
one begun (``logging.handlers.RotatingFileHandler`` with a timestamp namer), and the
quota (``ops/quota.py``) prunes the oldest rotated files.

``export`` reads those files back and streams the lines of a time range, modules and
nodes as a zip, one member per module.
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import re
import threading
import zipfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

MODULES = (
    "api",
    "audit",
    "backup",
    "controllers",
    "dashboards",
    "hub",
    "lease",
    "links",
    "ops",
    "sip",
    "storage",
    "uvicorn",
    "other",
)
"""Every log file there can be (bounded: no logger name makes a new file)."""

AUDIT_MODULE = "audit"
ROTATE_BYTES = 8 * 1024 * 1024
_STAMP = "%Y%m%dT%H%M%S%fZ"
_LINE = re.compile(r"^(\S+) (\S+) (\S+) (\S+) ")


def module_of(logger_name: str) -> str:
    """The log file a logger writes to: ``fedhub.api`` → ``api``, ``sip.service`` → ``sip``."""
    parts = logger_name.split(".")
    head = parts[1] if parts[0] == "fedhub" and len(parts) > 1 else parts[0]
    if head == "fedhub":
        return "ops"
    return head if head in MODULES else "other"


def _fold(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")


class LineFormatter(logging.Formatter):
    """``<time> <LEVEL> <node> <module> <logger>: <message>`` on one line, or JSON."""

    def __init__(self, node: str, *, json: bool = False):
        super().__init__()
        self.node = node
        self.json = json

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        module = module_of(record.name)
        if self.json:
            return orjson.dumps(
                {
                    "at": at,
                    "level": record.levelname,
                    "node": self.node,
                    "module": module,
                    "logger": record.name,
                    "message": message,
                }
            ).decode()
        return f"{at} {record.levelname} {self.node} {module} {record.name}: {_fold(message)}"


class _ModuleFile(logging.handlers.RotatingFileHandler):
    def __init__(self, path: Path, max_bytes: int, on_rotate: Callable[[], None] | None):
        super().__init__(path, maxBytes=max_bytes, backupCount=1, encoding="utf-8", delay=True)
        self._on_rotate = on_rotate

    def rotation_filename(self, default_name: str) -> str:
        return f"{self.baseFilename}.{datetime.now(UTC).strftime(_STAMP)}"

    def doRollover(self) -> None:
        if self.stream:
            self.stream.close()
            self.stream = None
        src = Path(self.baseFilename)
        if src.exists():
            src.rename(self.rotation_filename(self.baseFilename))
        if self._on_rotate is not None:
            self._on_rotate()


class ModuleFiles(logging.Handler):
    """Dispatches each record to its module's rotating file."""

    def __init__(
        self,
        logs_dir: Path,
        node: str,
        *,
        json: bool = False,
        max_bytes: int = ROTATE_BYTES,
        on_rotate: Callable[[], None] | None = None,
    ):
        super().__init__()
        self.logs_dir = logs_dir
        self.max_bytes = max_bytes
        self.on_rotate = on_rotate
        self._files: dict[str, _ModuleFile] = {}
        self._guard = threading.Lock()
        logs_dir.mkdir(parents=True, exist_ok=True)
        self.setFormatter(LineFormatter(node, json=json))

    def set_json(self, json: bool) -> None:
        assert isinstance(self.formatter, LineFormatter)
        self.formatter.json = json

    def emit(self, record: logging.LogRecord) -> None:
        module = module_of(record.name)
        with self._guard:
            h = self._files.get(module)
            if h is None:
                h = _ModuleFile(self.logs_dir / f"{module}.log", self.max_bytes, self.on_rotate)
                h.setFormatter(self.formatter)
                self._files[module] = h
        h.emit(record)

    def close(self) -> None:
        with self._guard:
            for h in self._files.values():
                h.close()
            self._files.clear()
        super().close()


class WithoutQuery(logging.Filter):
    """uvicorn's access line (``client - "METHOD path HTTP/v" status``) without the
    query string: whatever a client puts there (a token, a name) stays out of the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path, mark, _ = args[2].partition("?")
            if mark:
                record.args = (*args[:2], path + "?…", *args[3:])
        return True


ACCESS_LOGGER = "uvicorn.access"


def install(
    logs_dir: Path,
    node: str,
    *,
    json: bool = False,
    level: int = logging.INFO,
    on_rotate: Callable[[], None] | None = None,
) -> ModuleFiles:
    """Send every log record of this process to ``logs_dir`` as well as the console.

    uvicorn's own loggers reach it when uvicorn is told not to configure logging
    (``log_config=None``, as ``fedhub serve`` does): its lines then take this format, go
    to ``uvicorn.log`` and count against the log quota like every other file."""
    access = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, WithoutQuery) for f in access.filters):
        access.addFilter(WithoutQuery())
    handler = ModuleFiles(logs_dir, node, json=json, on_rotate=on_rotate)
    handler.setLevel(level)
    logging.getLogger().addHandler(handler)
    return handler


def installed() -> ModuleFiles | None:
    """The handler ``install`` added to this process, if any."""
    for h in logging.getLogger().handlers:
        if isinstance(h, ModuleFiles):
            return h
    return None


# --- export ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LogLine:
    at: datetime
    node: str
    module: str
    raw: str


def parse_line(raw: str) -> LogLine | None:
    """The time, node and module of a text or JSON line; None for a line of neither."""
    if raw.startswith("{"):
        try:
            doc = orjson.loads(raw)
            return LogLine(
                datetime.fromisoformat(doc["at"]), str(doc["node"]), str(doc["module"]), raw
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
    m = _LINE.match(raw)
    if m is None:
        return None
    try:
        at = datetime.fromisoformat(m.group(1))
    except ValueError:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return LogLine(at, m.group(3), m.group(4), raw)


@dataclass(frozen=True)
class LogFilter:
    since: datetime | None = None
    until: datetime | None = None
    modules: frozenset[str] | None = None
    nodes: frozenset[str] | None = None

    def matches(self, line: LogLine) -> bool:
        return (
            (self.since is None or line.at >= self.since)
            and (self.until is None or line.at < self.until)
            and (self.modules is None or line.module in self.modules)
            and (self.nodes is None or line.node in self.nodes)
        )


def log_files(logs_dir: Path) -> list[Path]:
    """Every log file, current and rotated, oldest first within each module."""
    if not logs_dir.is_dir():
        return []
    return sorted(
        (p for p in logs_dir.iterdir() if p.is_file() and ".log" in p.name),
        key=lambda p: (p.name.split(".log")[0], p.name != p.name.split(".log")[0] + ".log", p.name),
    )


def _module_files(logs_dir: Path, flt: LogFilter) -> dict[str, list[Path]]:
    by_module: dict[str, list[Path]] = {}
    for p in log_files(logs_dir):
        module = p.name.split(".log")[0]
        if flt.modules is not None and module not in flt.modules:
            continue
        by_module.setdefault(module, []).append(p)
    for files in by_module.values():
        # rotated files (oldest first), then the current one
        files.sort(key=lambda p: (p.name.endswith(".log"), p.name))
    return by_module


def matching_lines(files: list[Path], flt: LogFilter) -> Iterator[str]:
    for path in files:
        with path.open(encoding="utf-8", errors="replace") as f:
            for raw in f:
                line = parse_line(raw.rstrip("\n"))
                if line is not None and flt.matches(line):
                    yield line.raw


class _Sink(io.RawIOBase):
    """Collects what zipfile writes so it can be streamed out in pieces."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.pos = 0

    def writable(self) -> bool:
        return True

    def write(self, b: object) -> int:
        data = bytes(b)  # type: ignore[call-overload]
        self.buf += data
        self.pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self.pos

    def take(self) -> bytes:
        out = bytes(self.buf)
        self.buf.clear()
        return out


def export_zip(logs_dir: Path, flt: LogFilter) -> Iterator[bytes]:
    """The zip of matching lines, one ``<module>.log`` member per module, in pieces."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for module, files in sorted(_module_files(logs_dir, flt).items()):
            with z.open(f"{module}.log", "w", force_zip64=True) as member:
                for raw in matching_lines(files, flt):
                    member.write(raw.encode() + b"\n")
                    if len(sink.buf) >= 256 * 1024:
                        yield sink.take()
    yield sink.take()


class LogsService:
    """The API's ``LogsPort`` over this node's log directory."""

    modules: tuple[str, ...] = MODULES

    def __init__(self, logs_dir: Path):
        self.logs_dir = logs_dir

    async def export(
        self,
        since: datetime | None,
        until: datetime | None,
        modules: frozenset[str] | None,
        nodes: frozenset[str] | None,
    ) -> AsyncIterator[bytes]:
        import asyncio

        pieces = export_zip(self.logs_dir, LogFilter(since, until, modules, nodes))
        while True:
            chunk = await asyncio.to_thread(next, pieces, None)
            if chunk is None:
                return
            yield chunk

    def usage(self) -> int:
        return sum(p.stat().st_size for p in log_files(self.logs_dir))


SECTION = "logs"


@dataclass(frozen=True)
class LogSettings:
    """The settings section ``logs``: how lines are written (applied without restart)."""

    json: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.json, bool):
            raise ValueError("json must be true or false")

    @classmethod
    def parse(cls, doc: dict[str, object]) -> LogSettings:
        unknown = set(doc) - {"json"}
        if unknown:
            raise ValueError(f"unknown setting {sorted(unknown)[0]!r}")
        return cls(**doc)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, object]:
        return {"json": self.json}
