"""Answering a request that does not parse (RFC 4475 §3.1.2), pure.

`error_response(data, error, origin, policy, limits)` builds the answer to a
request that `parse_message` refused with `error`: its status (400, 416, 483,
505, 513) and, echoed, whichever of the headers a response copies still parse.

The top Via decides whether there is an answer at all. A UDP response goes to
the source address whatever the Via says (`sip.redirect.response_address`) and a
stream response goes back on its connection, so the Via is needed only to be
echoed, with its branch for the client to match and with `rport` filled;
`sip.headers.salvage_via` reads it leniently (its well-formed parameters, any
SIP version). From, To, Call-ID and CSeq are echoed when they parse and left
out when they are missing or malformed (RFC 4475 §3.1.2.4, §3.1.2.6): a
response carries only valid values. Silence is kept for what cannot be
answered: responses, ACK, a request without a readable top Via.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

from sip.errors import SipParseError
from sip.headers import (
    CSeq,
    Via,
    is_token,
    parse_cseq,
    parse_name_addr,
    salvage_via,
)
from sip.message import CALL_ID_RE, Limits, SipResponse, header_key
from sip.redirect import Origin, RedirectPolicy, echo_vias

_LINES_RE: Final = re.compile(r"\r?\n")
_FOLD_RE: Final = re.compile(r"\r?\n[ \t]+")
_ECHOED: Final = ("via", "from", "to", "call-id", "cseq")


def _request_head(data: bytes, limits: Limits) -> dict[str, list[str]] | None:
    """The echoed headers' raw values by lookup key (first occurrence first), or
    None for a response, an ACK or a start line without a method token."""
    head = data.lstrip(b"\r\n")[: limits.max_message_size]
    end = head.find(b"\r\n\r\n")
    if end < 0:
        end = head.find(b"\n\n")
    text = (head if end < 0 else head[:end]).decode("utf-8", "surrogateescape")
    lines = _LINES_RE.split(_FOLD_RE.sub(" ", text))
    method = lines[0].split(" ", 1)[0]
    if not is_token(method) or method.upper().startswith("SIP/") or method == "ACK":
        return None
    found: dict[str, list[str]] = {}
    for line in lines[1 : limits.max_headers + 1]:
        name, colon, value = line.partition(":")
        key = header_key(name.strip(" \t"))
        if colon and key in _ECHOED and "\x00" not in value and "\r" not in value:
            found.setdefault(key, []).append(value.strip(" \t"))
    return found


def _name_addr(values: list[str] | None) -> str | None:
    if not values:
        return None
    try:
        parse_name_addr(values[0])
    except SipParseError:
        return None
    return values[0]


def _call_id(values: list[str] | None) -> str | None:
    return values[0] if values and CALL_ID_RE.fullmatch(values[0]) else None


def _cseq(values: list[str] | None) -> CSeq | None:
    if not values:
        return None
    try:
        return parse_cseq(values[0])
    except SipParseError:
        return None


def _to_tag(call_id: str | None, from_: str | None, cseq: CSeq | None, top: Via) -> str:
    key = "\x00".join((call_id or "", from_ or "", str(cseq or ""), top.branch or ""))
    digest = hashlib.blake2b(key.encode("utf-8", "surrogateescape"), digest_size=8)
    return digest.hexdigest()


def error_response(
    data: bytes, error: SipParseError, origin: Origin, policy: RedirectPolicy, limits: Limits
) -> tuple[SipResponse, Via] | None:
    """The answer to the unparsable request `data` and its (salvaged) top Via, for
    addressing it; None when it must not or cannot be answered."""
    found = _request_head(data, limits)
    if found is None or "via" not in found:
        return None
    top = salvage_via(found["via"][0])
    if top is None:
        return None
    headers = echo_vias(found["via"], top, origin)
    from_, to = _name_addr(found.get("from")), _name_addr(found.get("to"))
    call_id, cseq = _call_id(found.get("call-id")), _cseq(found.get("cseq"))
    if from_ is not None:
        headers.append(("From", from_))
    if to is not None:
        if parse_name_addr(to).tag is None:
            to = f"{to};tag={_to_tag(call_id, from_, cseq, top)}"
        headers.append(("To", to))
    if call_id is not None:
        headers.append(("Call-ID", call_id))
    if cseq is not None:
        headers.append(("CSeq", str(cseq)))
    if policy.server:
        headers.append(("Server", policy.server))
    headers.append(("Content-Length", "0"))
    try:
        return SipResponse(error.status, error.reason, tuple(headers)), top
    except SipParseError:  # pragma: no cover - every value above was checked
        return None
