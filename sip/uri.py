"""SIP, SIPS and tel URIs: parse, validate, serialize (RFC 3261 §19.1, RFC 3966).

`parse_uri` turns text into a frozen `SipUri` (or an opaque `AbsoluteUri` for other
schemes where a header allows them); `str(uri)` gives the wire form back. Escapes
are decoded on parse and re-applied minimally on output, so
`parse_uri(str(u)) == u` for every `u` this module builds. An unknown scheme in a
place that needs a SIP URI raises `SipParseError` with status 416, anything else
malformed raises it with status 400.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, replace
from typing import Final
from urllib.parse import quote, unquote

from sip._fast import trusted
from sip.errors import SipParseError, excerpt

SIP_SCHEMES: Final = frozenset({"sip", "sips", "tel"})

_UNRESERVED: Final = "-_.!~*'()"
_USER_SAFE: Final = _UNRESERVED + "&=+$,;?/"
_PASSWORD_SAFE: Final = _UNRESERVED + "&=+$,"
_PARAM_SAFE: Final = _UNRESERVED + "[]/:&+$"
_HEADER_SAFE: Final = _UNRESERVED + "[]/?:+$"
_TEL_SAFE: Final = _UNRESERVED + "+-.()*#"

_SCHEME_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_HOSTNAME_RE: Final = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_.])?")
_BAD_ESCAPE_RE: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
_FORBIDDEN_RE: Final = re.compile(r"[\x00-\x20\x7f<>\"]")
_PNAME_RE: Final = re.compile(r"[A-Za-z0-9\-_.!~*'()\[\]/:&+$%]+")
_SIP_URI_RE: Final = re.compile(
    r"(?:([^:@]*)(?::([^@]*))?@)?"  # userinfo: a user may hold ';', '?' and '/'
    r"(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_.])?))"
    r"(?::([0-9]{1,5}))?"
    r"(;[^?]*)?"
    r"(?:\?(.*))?",
    re.DOTALL,
)


def _unescape(text: str, what: str) -> str:
    if "%" not in text:
        return text
    if _BAD_ESCAPE_RE.search(text):
        raise SipParseError(f"bad escape in URI {what}: {excerpt(text)}")
    return unquote(text, errors="surrogateescape")


def _escape(text: str, safe: str) -> str:
    return quote(text.encode("utf-8", "surrogateescape"), safe=safe)


def check_host(host: str) -> None:
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise SipParseError(f"bad IPv6 host: {excerpt(host)}") from None
    elif not _HOSTNAME_RE.fullmatch(host) or ".." in host:
        raise SipParseError(f"bad host: {excerpt(host)}")


def _check_text(value: str, what: str) -> None:
    if "\r" in value or "\n" in value or "\x00" in value:
        raise SipParseError(f"control character in URI {what}")


def _check_params(params: tuple[tuple[str, str | None], ...], what: str) -> None:
    for name, value in params:
        if not _PNAME_RE.fullmatch(name):
            raise SipParseError(f"bad URI {what} name: {excerpt(name)}")
        if value is not None:
            _check_text(value, what)


@dataclass(frozen=True)
class SipUri:
    """A `sip:`, `sips:` or `tel:` URI with decoded (unescaped) components.

    For `tel:` the subscriber number is in `user` and `host` is empty. Hosts keep
    the case they were written in; compare with `host_key`. IPv6 hosts are kept
    without brackets.
    """

    scheme: str
    host: str = ""
    user: str | None = None
    password: str | None = None
    port: int | None = None
    params: tuple[tuple[str, str | None], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    _text: str = field(default="", init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.scheme not in SIP_SCHEMES:
            raise SipParseError(f"unsupported URI scheme {excerpt(self.scheme)}", 416)
        if self.scheme == "tel":
            if self.host or self.port is not None or self.password is not None:
                raise SipParseError("tel URI with host, port or password")
            if not self.user:
                raise SipParseError("tel URI without a number")
        else:
            if not self.host:
                raise SipParseError("SIP URI without a host")
            check_host(self.host)
        if self.user is not None:
            _check_text(self.user, "user")
            if self.user == "" and self.scheme != "tel":
                raise SipParseError("empty user part in SIP URI")
        if self.password is not None:
            _check_text(self.password, "password")
        if self.port is not None and not 0 <= self.port <= 65535:
            raise SipParseError(f"port out of range: {self.port}")
        _check_params(self.params, "parameter")
        for hname, hvalue in self.headers:
            if not hname:
                raise SipParseError("empty URI header name")
            _check_text(hname + hvalue, "header")

    @property
    def host_key(self) -> str:
        """The host lower-cased without a trailing dot, for lookups and comparison."""
        return self.host.lower().rstrip(".")

    @property
    def secure(self) -> bool:
        return self.scheme == "sips"

    def param(self, name: str) -> str | None:
        """The value of a URI parameter (case-insensitive name), None if absent or bare."""
        lname = name.lower()
        for pname, value in self.params:
            if pname.lower() == lname:
                return value
        return None

    def has_param(self, name: str) -> bool:
        lname = name.lower()
        return any(pname.lower() == lname for pname, _ in self.params)

    def without_params(self, *names: str) -> SipUri:
        drop = {n.lower() for n in names}
        kept = tuple(p for p in self.params if p[0].lower() not in drop)
        return replace(self, params=kept)

    def __str__(self) -> str:
        if self._text:
            return self._text
        out = [self.scheme, ":"]
        if self.scheme == "tel":
            out.append(_escape(self.user or "", _TEL_SAFE))
        else:
            if self.user is not None:
                out.append(_escape(self.user, _USER_SAFE))
                if self.password is not None:
                    out += [":", _escape(self.password, _PASSWORD_SAFE)]
                out.append("@")
            out.append(f"[{self.host}]" if ":" in self.host else self.host)
            if self.port is not None:
                out += [":", str(self.port)]
        for name, value in self.params:
            out += [";", name]
            if value is not None:
                out += ["=", _escape(value, _PARAM_SAFE)]
        if self.headers:
            out.append("?")
            out.append(
                "&".join(
                    f"{_escape(k, _HEADER_SAFE)}={_escape(v, _HEADER_SAFE)}"
                    for k, v in self.headers
                )
            )
        text = "".join(out)
        object.__setattr__(self, "_text", text)
        return text


@dataclass(frozen=True)
class AbsoluteUri:
    """A URI of a scheme this product does not route (http:, mailto:, urn:, …), kept verbatim."""

    scheme: str
    rest: str

    def __post_init__(self) -> None:
        if not _SCHEME_RE.fullmatch(self.scheme):
            raise SipParseError(f"bad URI scheme {excerpt(self.scheme)}")
        if not self.rest or _FORBIDDEN_RE.search(self.rest):
            raise SipParseError(f"bad URI: {excerpt(self.rest)}")

    def __str__(self) -> str:
        return f"{self.scheme}:{self.rest}"


Uri = SipUri | AbsoluteUri


def _parse_params(text: str, what: str) -> tuple[tuple[str, str | None], ...]:
    params: list[tuple[str, str | None]] = []
    for part in text.split(";"):
        name, eq, value = part.partition("=")
        if not name:
            raise SipParseError(f"empty URI {what} in {excerpt(text)}")
        if not _PNAME_RE.fullmatch(name):
            raise SipParseError(f"bad URI {what} name: {excerpt(name)}")
        params.append((name, _unescape(value, what) if eq else None))
    return tuple(params)


def _parse_headers(text: str) -> tuple[tuple[str, str], ...]:
    headers: list[tuple[str, str]] = []
    for part in text.split("&"):
        name, eq, value = part.partition("=")
        if not name or not eq:
            raise SipParseError(f"bad URI header {excerpt(part)}")
        headers.append((_unescape(name, "header"), _unescape(value, "header")))
    return tuple(headers)


def _parse_tel(body: str) -> SipUri:
    number, semi, ptext = body.partition(";")
    user = _unescape(number, "number")
    if not user or "\x00" in user:
        raise SipParseError(f"bad tel number {excerpt(number)}")
    params = _parse_params(ptext, "parameter") if semi else ()
    return trusted(SipUri, scheme="tel", host="", user=user, port=None, params=params)


def parse_uri(text: str, *, allow_absolute: bool = False) -> Uri:
    """Parse a URI. Raises SipParseError (416 for a scheme outside sip/sips/tel
    unless `allow_absolute`, then an AbsoluteUri is returned; 400 otherwise)."""
    scheme_text, colon, body = text.partition(":")
    scheme = scheme_text.lower()
    if scheme != "sip" and scheme != "sips":
        if not colon or not _SCHEME_RE.fullmatch(scheme_text):
            raise SipParseError(f"not a URI: {excerpt(text)}")
        if scheme != "tel":
            if allow_absolute:
                return AbsoluteUri(scheme_text, body)
            raise SipParseError(f"unsupported URI scheme {excerpt(scheme_text)}", 416)
    if _FORBIDDEN_RE.search(body):
        raise SipParseError(f"whitespace or control character in URI: {excerpt(text)}")
    if scheme == "tel":
        return _parse_tel(body)
    m = _SIP_URI_RE.fullmatch(body)
    if m is None:
        raise SipParseError(f"bad SIP URI: {excerpt(text)}")
    user_text, password_text, v6, host, port_text, ptext, htext = m.groups()
    user = None if user_text is None else _unescape(user_text, "user")
    if user is not None and (not user or "\x00" in user):
        raise SipParseError(f"bad user part in {excerpt(text)}")
    password = None if password_text is None else _unescape(password_text, "password")
    if password is not None and "\x00" in password:
        raise SipParseError("NUL in URI password")
    if v6 is not None:
        check_host(v6)
        host = v6
    elif ".." in host:
        raise SipParseError(f"bad host: {excerpt(host)}")
    port = None
    if port_text is not None:
        port = int(port_text)
        if port > 65535:
            raise SipParseError(f"port out of range: {port}")
    return trusted(
        SipUri,
        scheme=scheme,
        host=host,
        user=user,
        password=password,
        port=port,
        params=_parse_params(ptext[1:], "parameter") if ptext else (),
        headers=_parse_headers(htext) if htext is not None else (),
    )


def parse_sip_uri(text: str) -> SipUri:
    """Parse a URI that must be sip:, sips: or tel: (a Request-URI); 416 otherwise."""
    uri = parse_uri(text)
    if not isinstance(uri, SipUri):  # pragma: no cover - parse_uri returns SipUri here
        raise SipParseError(f"unsupported URI scheme {excerpt(text)}", 416)
    return uri
