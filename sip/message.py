"""SIP requests and responses: sans-I/O parsing and serialization (RFC 3261 §7, §20).

`parse_message(data)` takes one whole message (a UDP datagram, or a frame cut by
`sip.framing.StreamFramer`) and returns a frozen `SipRequest` or `SipResponse`;
`msg.to_bytes()` gives the wire form back, and parsing that gives an equal object.
Header names are matched case-insensitively and compact forms are expanded;
folded lines are joined. Typed accessors (`top_via`, `from_`, `to`, `cseq`,
`contacts`, …) parse header values on first use. Every failure — in the parser
or in an accessor — is a `SipParseError` whose `status` is the answer to send.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from sip._fast import cached_property, trusted
from sip.errors import SipParseError, excerpt
from sip.headers import (
    CSeq,
    NameAddr,
    Via,
    is_token,
    parse_cseq,
    parse_name_addr,
    parse_via,
    parse_vias,
    split_values,
)
from sip.uri import SipUri, parse_sip_uri

SIP_VERSION: Final = "SIP/2.0"
MAX_EXPIRES: Final = 2**32 - 1

COMPACT_FORMS: Final[dict[str, str]] = {
    "a": "accept-contact",
    "b": "referred-by",
    "c": "content-type",
    "d": "request-disposition",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "n": "identity-info",
    "o": "event",
    "r": "refer-to",
    "s": "subject",
    "t": "to",
    "u": "allow-events",
    "v": "via",
    "x": "session-expires",
    "y": "identity",
}

_CANONICAL_LIST: Final = (
    "Accept Accept-Contact Accept-Encoding Accept-Language Alert-Info Allow Allow-Events "
    "Authentication-Info Authorization Call-ID Call-Info Contact Content-Disposition "
    "Content-Encoding Content-Language Content-Length Content-Type CSeq Date Error-Info "
    "Event Expires From Identity Identity-Info In-Reply-To Max-Forwards MIME-Version "
    "Min-Expires Organization P-Asserted-Identity Path Priority Proxy-Authenticate "
    "Proxy-Authorization Proxy-Require RAck Record-Route Refer-To Referred-By Reject-Contact "
    "Reply-To Request-Disposition Require Retry-After Route RSeq Server Session-Expires "
    "Subject Subscription-State Supported Timestamp To Unsupported User-Agent Via Warning "
    "WWW-Authenticate"
).split()
CANONICAL_NAMES: Final[dict[str, str]] = {n.lower(): n for n in _CANONICAL_LIST}
for _short, _long in COMPACT_FORMS.items():
    CANONICAL_NAMES[_short] = CANONICAL_NAMES[_long]
# any spelling, lower-cased -> (canonical name, lookup key)
_KNOWN: Final = {k: (v, v.lower()) for k, v in CANONICAL_NAMES.items()}
_KNOWN_NAMES: Final = frozenset(CANONICAL_NAMES.values())

# Headers that may appear once only; a second one is a 400 (RFC 4475 §3.1.2.19).
SINGLE_VALUED: Final = frozenset(
    {"call-id", "cseq", "from", "to", "max-forwards", "content-length", "expires"}
)
_REQUIRED: Final = ("via", "from", "to", "call-id", "cseq")
_REQUIRED_SET: Final = frozenset(_REQUIRED)

_VERSION_RE: Final = re.compile(r"SIP/[0-9]+\.[0-9]+", re.IGNORECASE)
_FOLD_RE: Final = re.compile(r"\r?\n[ \t]+")
CALL_ID_RE: Final = re.compile(r"[\x21-\x7e\x80-\U0010ffff]+")


@dataclass(frozen=True)
class Limits:
    """Hard limits applied while parsing; exceeding one is a 513 (a 483 for Vias)."""

    max_message_size: int = 65_535
    max_headers: int = 100
    max_line_length: int = 8_192
    max_vias: int = 70

    def __post_init__(self) -> None:
        for name in ("max_message_size", "max_headers", "max_line_length", "max_vias"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive")


DEFAULT_LIMITS: Final = Limits()

Headers = tuple[tuple[str, str], ...]


def header_key(name: str) -> str:
    """The lookup key of a header name: lower-case, compact form expanded."""
    lname = name.lower()
    return COMPACT_FORMS.get(lname, lname)


def _check_headers(headers: Headers) -> None:
    for name, _ in headers:
        if name not in _KNOWN_NAMES and not is_token(name):
            raise SipParseError(f"bad header name {excerpt(name)}")
    values = "".join([v for _, v in headers])
    if "\r" in values or "\n" in values or "\x00" in values:
        raise SipParseError("control character in a header value")


class _MessageBase:
    """Header access shared by requests and responses (mixin over `headers`)."""

    headers: Headers
    body: bytes

    @cached_property
    def _index(self) -> dict[str, list[str]]:
        index: dict[str, list[str]] = {}
        for name, value in self.headers:
            index.setdefault(header_key(name), []).append(value)
        return index

    def header(self, name: str) -> str | None:
        """The first value of a header (by any spelling or compact form), or None."""
        index = self._index
        values = index.get(name) or index.get(header_key(name))
        return values[0] if values else None

    def header_lines(self, name: str) -> list[str]:
        """Every occurrence of a header, one entry per header line."""
        return list(self._index.get(header_key(name), ()))

    def header_values(self, name: str) -> list[str]:
        """Every comma-separated value of a list header, across all its lines."""
        out: list[str] = []
        for line in self._index.get(header_key(name), ()):
            out.extend(split_values(line))
        return out

    def _required(self, name: str) -> str:
        value = self.header(name)
        if value is None or not value:
            raise SipParseError(f"missing {name} header")
        return value

    @cached_property
    def top_via(self) -> Via:
        return parse_via(split_values(self._required("via"))[0])

    @cached_property
    def vias(self) -> tuple[Via, ...]:
        return tuple(v for line in self.header_lines("via") for v in parse_vias(line))

    @cached_property
    def from_(self) -> NameAddr:
        return parse_name_addr(self._required("from"))

    @cached_property
    def to(self) -> NameAddr:
        return parse_name_addr(self._required("to"))

    @cached_property
    def call_id(self) -> str:
        value = self._required("call-id")
        if not CALL_ID_RE.fullmatch(value):
            raise SipParseError(f"bad Call-ID {excerpt(value)}")
        return value

    @cached_property
    def cseq(self) -> CSeq:
        return parse_cseq(self._required("cseq"))

    @cached_property
    def max_forwards(self) -> int | None:
        value = self.header("max-forwards")
        if value is None:
            return None
        if not value.isdigit() or not value.isascii() or int(value) > 255:
            raise SipParseError(f"bad Max-Forwards {excerpt(value)}")
        return int(value)

    @cached_property
    def expires(self) -> int | None:
        value = self.header("expires")
        if value is None:
            return None
        if not value.isdigit() or not value.isascii():
            raise SipParseError(f"bad Expires {excerpt(value)}")
        return min(int(value), MAX_EXPIRES)

    @cached_property
    def contacts(self) -> tuple[NameAddr, ...]:
        """Contact values; empty for none and for the `*` wildcard (see `contact_wildcard`)."""
        values = self.header_values("contact")
        if values == ["*"]:
            return ()
        if "*" in values:
            raise SipParseError("Contact '*' mixed with other contacts")
        return tuple(parse_name_addr(v) for v in values)

    @property
    def contact_wildcard(self) -> bool:
        return self.header_values("contact") == ["*"]

    @cached_property
    def require(self) -> tuple[str, ...]:
        tags = tuple(self.header_values("require"))
        for tag in tags:
            if not is_token(tag):
                raise SipParseError(f"bad Require option-tag {excerpt(tag)}")
        return tags

    @cached_property
    def content_length(self) -> int | None:
        value = self.header("content-length")
        if value is None:
            return None
        if not value.isdigit() or not value.isascii():
            raise SipParseError(f"bad Content-Length {excerpt(value)}")
        return int(value)

    @property
    def user_agent(self) -> str | None:
        return self.header("user-agent")

    def _head_lines(self) -> list[str]:
        lines: list[str] = []
        length_written = False
        for name, value in self.headers:
            if name == "Content-Length":
                if length_written:
                    continue
                if not (value.isascii() and value.isdigit() and int(value) == len(self.body)):
                    value = str(len(self.body))  # keep a correct value as written
                length_written = True
            lines.append(f"{name}: {value}")
        if not length_written:
            lines.append(f"Content-Length: {len(self.body)}")
        return lines


@dataclass(frozen=True)
class SipRequest(_MessageBase):
    """A request. `headers` keeps order and spelling (compact forms expanded)."""

    method: str
    uri: SipUri
    headers: Headers = ()
    body: bytes = b""

    def __post_init__(self) -> None:
        if not is_token(self.method):
            raise SipParseError(f"bad method {excerpt(self.method)}")
        _check_headers(self.headers)

    def to_bytes(self) -> bytes:
        """Wire form; Content-Length is always set to the body's length."""
        lines = [f"{self.method} {self.uri} {SIP_VERSION}", *self._head_lines(), "", ""]
        return "\r\n".join(lines).encode("utf-8", "surrogateescape") + self.body


@dataclass(frozen=True)
class SipResponse(_MessageBase):
    """A response; `reason` is free text (UTF-8) without CR/LF."""

    status: int
    reason: str
    headers: Headers = ()
    body: bytes = b""

    def __post_init__(self) -> None:
        if not 100 <= self.status <= 699:
            raise SipParseError(f"status code out of range: {self.status}")
        if any(c in self.reason for c in "\r\n\x00"):
            raise SipParseError("control character in reason phrase")
        _check_headers(self.headers)

    def to_bytes(self) -> bytes:
        lines = [f"{SIP_VERSION} {self.status} {self.reason}", *self._head_lines(), "", ""]
        return "\r\n".join(lines).encode("utf-8", "surrogateescape") + self.body


SipMessage = SipRequest | SipResponse


def _split_head(data: bytes) -> tuple[str, bytes]:
    end = data.find(b"\r\n\r\n")
    if end >= 0:
        head, body = data[:end], data[end + 4 :]
    else:
        end = data.find(b"\n\n")
        if end < 0:
            raise SipParseError("no empty line after the headers")
        head, body = data[:end], data[end + 2 :]
    if b"\x00" in head:
        raise SipParseError("NUL byte in the message head")
    return head.decode("utf-8", "surrogateescape"), body


def _split_lines(head: str, limits: Limits) -> list[str]:
    if "\n " in head or "\n\t" in head:
        head = _FOLD_RE.sub(" ", head)
    lines = head.split("\r\n") if "\r" in head else head.split("\n")
    if len(lines) - 1 > limits.max_headers:
        raise SipParseError(f"more than {limits.max_headers} header lines", 513)
    for line in lines:
        if "\r" in line or "\n" in line:
            raise SipParseError("bare CR or LF in the message head")
        if len(line) > limits.max_line_length:
            raise SipParseError(f"line longer than {limits.max_line_length}", 513)
    return lines


def _check_version(version: str) -> None:
    if version == SIP_VERSION:
        return
    if _VERSION_RE.fullmatch(version):
        if version.upper() == SIP_VERSION:
            return
        raise SipParseError(f"unsupported version {excerpt(version)}", 505)
    raise SipParseError(f"bad SIP version {excerpt(version)}")


def _parse_headers(lines: list[str]) -> tuple[Headers, dict[str, list[str]]]:
    headers: list[tuple[str, str]] = []
    index: dict[str, list[str]] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon:
            raise SipParseError(f"header line without ':' {excerpt(line)}")
        name = name.rstrip(" \t")
        known = _KNOWN.get(name.lower())
        if known is None:
            if not is_token(name):
                raise SipParseError(f"bad header name {excerpt(name)}")
            canonical, lname = name, name.lower()
        else:
            canonical, lname = known
        value = value.strip(" \t")
        headers.append((canonical, value))
        values = index.get(lname)
        if values is None:
            index[lname] = [value]
        else:
            values.append(value)
    return tuple(headers), index


def _check_index(index: dict[str, list[str]], n_headers: int, limits: Limits) -> None:
    if len(index) != n_headers:  # some header repeats: is it one that must not?
        for key in SINGLE_VALUED:
            values = index.get(key)
            if values is not None and len(values) > 1:
                raise SipParseError(f"more than one {key} header")
    if not _REQUIRED_SET <= index.keys():
        missing = [key for key in _REQUIRED if key not in index]
        raise SipParseError(f"missing {missing[0]} header")
    vias = index["via"]
    if len(vias) + sum(v.count(",") for v in vias) > limits.max_vias:
        raise SipParseError(f"more than {limits.max_vias} Via values", 483)


def _parse_start(start: str, headers: Headers, body: bytes) -> SipMessage:
    if start[:4].upper() == "SIP/":
        version, _, rest = start.partition(" ")
        _check_version(version)
        code, _, reason = rest.partition(" ")
        if len(code) != 3 or not code.isdigit() or not code.isascii() or code[0] in "0789":
            raise SipParseError(f"bad status line {excerpt(start)}")
        return trusted(SipResponse, status=int(code), reason=reason, headers=headers, body=body)
    parts = start.split(" ")
    if len(parts) != 3:
        raise SipParseError(f"bad request line {excerpt(start)}")
    method, uri_text, version = parts
    if not is_token(method):
        raise SipParseError(f"bad method {excerpt(method)}")
    _check_version(version)
    uri = parse_sip_uri(uri_text)
    return trusted(SipRequest, method=method, uri=uri, headers=headers, body=body)


def parse_message(data: bytes, limits: Limits = DEFAULT_LIMITS) -> SipMessage:
    """Parse one complete SIP message. Raises SipParseError, nothing else."""
    if len(data) > limits.max_message_size:
        raise SipParseError(f"message larger than {limits.max_message_size} bytes", 513)
    head, body = _split_head(data.lstrip(b"\r\n"))
    lines = _split_lines(head, limits)
    headers, index = _parse_headers(lines[1:])
    msg = _parse_start(lines[0], headers, body)
    msg.__dict__["_index"] = index
    _check_index(index, len(headers), limits)
    msg.top_via  # noqa: B018 - parse the headers a response needs now, so they fail here
    msg.from_  # noqa: B018
    msg.to  # noqa: B018
    msg.call_id  # noqa: B018
    cseq = msg.cseq
    if isinstance(msg, SipRequest):
        if cseq.method != msg.method:
            raise SipParseError("CSeq method does not match the request method")
        msg.max_forwards  # noqa: B018
        if "expires" in index:
            msg.expires  # noqa: B018
        if "require" in index:
            msg.require  # noqa: B018
    length = msg.content_length
    if length is not None and length != len(body):
        if length > len(body):
            raise SipParseError(f"Content-Length {length} exceeds the {len(body)}-byte body")
        msg.__dict__["body"] = body[:length]  # RFC 3261 §18.3: bytes past it are dropped
    return msg
