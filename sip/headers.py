"""Typed SIP header values: Via, name-addr (From/To/Contact), CSeq (RFC 3261 §20, §25.1).

Each type is a frozen dataclass that validates when built and serializes with
`str()`; each `parse_*` function accepts the header value text (after unfolding)
and raises `SipParseError` (status 400) on anything malformed. `split_values`
splits a comma-separated header into its values, respecting quotes and <>.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Final

from sip._fast import trusted
from sip.errors import SipParseError, excerpt
from sip.uri import SipUri, Uri, check_host, parse_uri

Params = tuple[tuple[str, str | None], ...]

TCHAR_CLASS: Final = r"A-Za-z0-9\-.!%*_+`'~"
_TOKEN_RE: Final = re.compile(f"[{TCHAR_CLASS}]+")
_PARAM_RE: Final = re.compile(
    rf"[ \t]*;[ \t]*([{TCHAR_CLASS}]+)"
    rf"(?:[ \t]*=[ \t]*(\"(?:[^\"\\\r\n]|\\[^\r\n])*\"|[{TCHAR_CLASS}:\[\]]+))?[ \t]*"
)
_PVALUE_RE: Final = re.compile(rf"\"(?:[^\"\\\r\n]|\\[^\r\n])*\"|[{TCHAR_CLASS}:\[\]]+")
_QUOTED_RE: Final = re.compile(r"\"((?:[^\"\\\r\n\x00]|\\[^\r\n])*)\"")
_DISPLAY_TOKENS_RE: Final = re.compile(rf"[{TCHAR_CLASS}]+(?:[ \t]+[{TCHAR_CLASS}]+)*")
_UNQUOTE_RE: Final = re.compile(r"\\(.)", re.DOTALL)
_VIA_RE: Final = re.compile(
    rf"([{TCHAR_CLASS}]+)[ \t]*/[ \t]*([{TCHAR_CLASS}]+)[ \t]*/[ \t]*([{TCHAR_CLASS}]+)"
    r"[ \t]+(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.\-]+)(?:[ \t]*:[ \t]*([0-9]{1,5}))?"
)
_VERSION_RE: Final = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}")
_CSEQ_RE: Final = re.compile(rf"([0-9]{{1,10}})[ \t]+([{TCHAR_CLASS}]+)")
MAX_CSEQ: Final = 2**31 - 1


def split_values(text: str) -> list[str]:
    """Split a header value at top-level commas (not inside quotes or <>)."""
    if "," not in text:
        return [text.strip()]
    values: list[str] = []
    start = 0
    quoted = angled = escaped = False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif quoted:
            if ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            angled = True
        elif ch == ">":
            angled = False
        elif ch == "," and not angled:
            values.append(text[start:i].strip())
            start = i + 1
    values.append(text[start:].strip())
    if any(not v for v in values):
        raise SipParseError(f"empty value in list {excerpt(text)}")
    return values


def parse_params(text: str) -> Params:
    """Parse `*( SEMI generic-param )`; quoted values are kept with their quotes."""
    params: list[tuple[str, str | None]] = []
    pos, end = 0, len(text)
    while pos < end:
        m = _PARAM_RE.match(text, pos)
        if m is None:
            raise SipParseError(f"bad header parameters {excerpt(text[pos:])}")
        params.append((m.group(1), m.group(2)))
        pos = m.end()
    return tuple(params)


def _check_params(params: Params) -> None:
    for name, value in params:
        if not _TOKEN_RE.fullmatch(name):
            raise SipParseError(f"bad parameter name {excerpt(name)}")
        if value is not None and not _PVALUE_RE.fullmatch(value):
            raise SipParseError(f"bad parameter value {excerpt(value)}")


def _params_str(params: Params) -> str:
    return "".join(f";{n}" if v is None else f";{n}={v}" for n, v in params)


def _get(params: Params, name: str) -> str | None:
    lname = name.lower()
    for pname, value in params:
        if pname.lower() == lname:
            return value
    return None


def _has(params: Params, name: str) -> bool:
    lname = name.lower()
    return any(pname.lower() == lname for pname, _ in params)


def _set(params: Params, name: str, value: str | None) -> Params:
    lname = name.lower()
    out = [p for p in params if p[0].lower() != lname]
    out.append((name, value))
    return tuple(out)


def quote_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class Via:
    """One Via value: `SIP/2.0/<transport> <host>[:<port>]` plus parameters."""

    transport: str
    host: str
    port: int | None = None
    params: Params = ()
    _text: str = field(default="", init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not _TOKEN_RE.fullmatch(self.transport) or self.transport != self.transport.upper():
            raise SipParseError(f"bad Via transport {excerpt(self.transport)}")
        check_host(self.host)
        if self.port is not None and not 0 <= self.port <= 65535:
            raise SipParseError(f"Via port out of range: {self.port}")
        _check_params(self.params)

    @property
    def branch(self) -> str | None:
        return _get(self.params, "branch")

    @property
    def received(self) -> str | None:
        return _get(self.params, "received")

    @property
    def maddr(self) -> str | None:
        return _get(self.params, "maddr")

    @property
    def rport_requested(self) -> bool:
        return _has(self.params, "rport")

    @property
    def rport(self) -> int | None:
        value = _get(self.params, "rport")
        return int(value) if value is not None and value.isdigit() else None

    def param(self, name: str) -> str | None:
        return _get(self.params, name)

    def with_param(self, name: str, value: str | None) -> Via:
        return replace(self, params=_set(self.params, name, value))

    def stamped(self, received: str, rport: int | None) -> Via:
        """This Via with `received` set and, when given, `rport` filled (RFC 3581)."""
        if not _PVALUE_RE.fullmatch(received) or (rport is not None and not 0 <= rport <= 65535):
            raise SipParseError(f"bad received/rport {excerpt(received)}")
        params = [p for p in self.params if p[0].lower() not in ("received", "rport")]
        if rport is not None:
            params.append(("rport", str(rport)))
        params.append(("received", received))
        return trusted(
            Via, transport=self.transport, host=self.host, port=self.port, params=tuple(params)
        )

    def __str__(self) -> str:
        if not self._text:
            host = f"[{self.host}]" if ":" in self.host else self.host
            port = "" if self.port is None else f":{self.port}"
            text = f"SIP/2.0/{self.transport} {host}{port}{_params_str(self.params)}"
            object.__setattr__(self, "_text", text)
        return self._text


def parse_via(text: str) -> Via:
    """Parse one Via value (already split from its list)."""
    m = _VIA_RE.match(text)
    if m is None:
        raise SipParseError(f"bad Via {excerpt(text)}")
    name, version, transport, host, port = m.groups()
    if name.upper() != "SIP" or version != "2.0":
        raise SipParseError(f"bad Via protocol {excerpt(text)}")
    if host.startswith("["):
        host = host[1:-1]
    params = parse_params(text[m.end() :].rstrip())
    for pname, value in params:
        lname = pname.lower()
        if lname == "rport" and value is not None and not value.isdigit():
            raise SipParseError(f"bad Via rport {excerpt(value)}")
        if lname in ("received", "maddr") and value is not None:
            check_host(value.strip("[]"))
    check_host(host)
    port_number = int(port) if port else None
    if port_number is not None and port_number > 65535:
        raise SipParseError(f"Via port out of range: {port_number}")
    # every field is checked above as __post_init__ would: skip the second pass
    return trusted(Via, transport=transport.upper(), host=host, port=port_number, params=params)


def parse_vias(text: str) -> list[Via]:
    return [parse_via(v) for v in split_values(text)]


def salvage_via(text: str) -> Via | None:
    """The top Via of a request that failed to parse, read leniently so that the
    request can still be answered (RFC 4475 §3.1.2): the sent-by of the first value
    of `text` (a whole Via header line; any SIP version) and those of its
    parameters that are well formed, the rest dropped. None when not even a
    sent-by can be read: such a request cannot be answered."""
    try:
        return parse_via(split_values(text)[0])
    except SipParseError:
        pass
    text = text.strip(" \t")
    m = _VIA_RE.match(text)
    if m is None:
        return None
    name, version, transport, host, port = m.groups()
    if name.upper() != "SIP" or not _VERSION_RE.fullmatch(version):
        return None
    pieces = text[m.end() :].split(",", 1)[0].split(";")
    if pieces[0].strip(" \t"):
        return None  # something other than parameters follows the sent-by
    params: list[tuple[str, str | None]] = []
    for piece in pieces[1:]:
        pm = _PARAM_RE.fullmatch(";" + piece.strip(" \t"))
        if pm is not None and _salvaged_param_ok(pm.group(1), pm.group(2)):
            params.append((pm.group(1), pm.group(2)))
    try:
        return Via(transport.upper(), host.strip("[]"), int(port) if port else None, tuple(params))
    except (SipParseError, ValueError):
        return None


def _salvaged_param_ok(name: str, value: str | None) -> bool:
    lname = name.lower()
    if value is None:
        return True
    if lname == "rport":
        return value.isdigit()
    if lname in ("received", "maddr"):
        try:
            check_host(value.strip("[]"))
        except SipParseError:
            return False
    return True


@dataclass(frozen=True)
class NameAddr:
    """A From/To/Contact value: optional display name, URI, header parameters."""

    uri: Uri
    display_name: str | None = None
    params: Params = ()

    def __post_init__(self) -> None:
        if self.display_name is not None and any(c in self.display_name for c in "\r\n\x00"):
            raise SipParseError("control character in display name")
        _check_params(self.params)

    @property
    def tag(self) -> str | None:
        return _get(self.params, "tag")

    def param(self, name: str) -> str | None:
        return _get(self.params, name)

    def with_param(self, name: str, value: str | None) -> NameAddr:
        return replace(self, params=_set(self.params, name, value))

    @property
    def sip_uri(self) -> SipUri | None:
        return self.uri if isinstance(self.uri, SipUri) else None

    def __str__(self) -> str:
        display = "" if self.display_name is None else quote_string(self.display_name) + " "
        return f"{display}<{self.uri}>{_params_str(self.params)}"


def parse_name_addr(text: str) -> NameAddr:
    """Parse `name-addr / addr-spec` followed by header parameters."""
    s = text.strip()
    display: str | None = None
    if s.startswith('"'):
        m = _QUOTED_RE.match(s)
        if m is None:
            raise SipParseError(f"bad quoted display name {excerpt(s)}")
        display = _UNQUOTE_RE.sub(r"\1", m.group(1))
        s = s[m.end() :].lstrip(" \t")
        if not s.startswith("<"):
            raise SipParseError(f"display name without <URI> {excerpt(text)}")
    else:
        lt = s.find("<")
        if lt > 0 and ":" not in s[:lt]:  # a display name never holds ':'; addr-spec does
            raw = s[:lt].strip(" \t")
            if raw:
                if not _DISPLAY_TOKENS_RE.fullmatch(raw):
                    raise SipParseError(f"bad display name {excerpt(raw)}")
                display = raw
            s = s[lt:]
    if s.startswith("<"):
        gt = s.find(">")
        if gt < 0:
            raise SipParseError(f"unterminated <URI> {excerpt(text)}")
        uri_text, rest = s[1:gt], s[gt + 1 :]
    else:
        semi = s.find(";")
        uri_text, rest = (s, "") if semi < 0 else (s[:semi].rstrip(" \t"), s[semi:])
        if any(c in uri_text for c in ',?">'):
            raise SipParseError(f"reserved character in addr-spec {excerpt(uri_text)}")
    if display is not None and "\x00" in display:
        raise SipParseError("NUL in display name")
    uri = parse_uri(uri_text, allow_absolute=True)
    return trusted(NameAddr, uri=uri, display_name=display, params=parse_params(rest))


@dataclass(frozen=True)
class CSeq:
    """The CSeq value: a sequence number below 2**31 and the request method."""

    seq: int
    method: str

    def __post_init__(self) -> None:
        if not 0 <= self.seq <= MAX_CSEQ:
            raise SipParseError(f"CSeq number out of range: {self.seq}")
        if not _TOKEN_RE.fullmatch(self.method):
            raise SipParseError(f"bad CSeq method {excerpt(self.method)}")

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


def parse_cseq(text: str) -> CSeq:
    m = _CSEQ_RE.fullmatch(text.strip())
    if m is None:
        raise SipParseError(f"bad CSeq {excerpt(text)}")
    return CSeq(int(m.group(1)), m.group(2))


def is_token(text: str) -> bool:
    return _TOKEN_RE.fullmatch(text) is not None
