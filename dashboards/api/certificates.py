"""The node's HTTPS/SIP-TLS certificate: show, import (validated), roll back.

Only the admin role that owns the whole federation may change it. An import is
checked first (`hub.certificates.check_bundle`: key matches, dates, chain) and
refused with the exact reason; an accepted one serves new connections of the web
server and the SIP TLS listener at once, the old one kept for rollback. The audit
entry names the certificate (subject, fingerprint), never the key.
"""

from __future__ import annotations

from typing import Any

from dashboards.api import api
from dashboards.endpoint import Ctx
from dashboards.errors import ApiError
from dashboards.ports import Certificates
from dashboards.schemas import obj
from hub.certificates import MAX_PEM_BYTES, CertificateInfo, CertificateRefused
from storage.admins import Role

ADMINS = frozenset({Role.ADMIN})
PEM = {"type": "string", "minLength": 1, "maxLength": MAX_PEM_BYTES}
IMPORT = obj(
    {
        "certificate": {**PEM, "description": "PEM: the server certificate, then its chain"},
        "key": {**PEM, "description": "PEM private key (RSA ≥ 2048 bits or EC)"},
        "chain": {**PEM, "description": "PEM intermediates, if not in `certificate`"},
        "password": {"type": "string", "maxLength": 1024, "description": "of an encrypted key"},
    },
    ("certificate", "key"),
)
CERT_STATE = {"type": "object", "required": ["current", "previous"]}


def _store(ctx: Ctx) -> Certificates:
    if ctx.me.scope is not None:
        raise ApiError(403, "outside_scope", "the certificate belongs to federation-wide admins")
    if ctx.services.certificates is None:
        raise ApiError(503, "unavailable", "this node does not manage a certificate")
    return ctx.services.certificates


def _state(store: Certificates) -> dict[str, Any]:
    prev = store.previous()
    return {"current": store.current().to_json(), "previous": prev.to_json() if prev else None}


def _audit(ctx: Ctx, info: CertificateInfo) -> None:
    ctx.target = f"certificate:{info.fingerprint_sha256[:16]}"
    ctx.details = {
        "subject": info.subject,
        "fingerprint_sha256": info.fingerprint_sha256,
        "not_after": info.not_after.isoformat(),
    }


def _refused(e: CertificateRefused) -> ApiError:
    return ApiError(422, e.code, e.message, dict(e.details))


@api.route(
    "GET",
    "/certificates",
    summary="The node's TLS certificate (web and SIP) and the previous one kept for rollback",
    tag="certificates",
    roles=ADMINS,
    response=CERT_STATE,
    errors=(403, 503),
)
async def get_certificates(ctx: Ctx) -> dict[str, Any]:
    return _state(_store(ctx))


@api.route(
    "POST",
    "/certificates",
    summary="Import a PEM certificate with its chain and key; used for new connections at once",
    tag="certificates",
    body=IMPORT,
    roles=ADMINS,
    ok=201,
    action="certificate.import",
    response=CERT_STATE,
    errors=(403, 422, 503),
)
async def import_certificate(ctx: Ctx) -> dict[str, Any]:
    store = _store(ctx)
    b = ctx.body
    password = b.get("password")
    try:
        bundle = store.check(
            b["certificate"].encode(),
            b["key"].encode(),
            b.get("chain", "").encode(),
            password.encode() if password else None,
        )
    except CertificateRefused as e:
        raise _refused(e) from None
    _audit(ctx, bundle.info)
    await store.install(bundle)
    return _state(store)


@api.route(
    "POST",
    "/certificates/rollback",
    summary="Go back to the previous certificate (a second rollback undoes the first)",
    tag="certificates",
    roles=ADMINS,
    action="certificate.rollback",
    response=CERT_STATE,
    errors=(403, 422, 503),
)
async def rollback_certificate(ctx: Ctx) -> dict[str, Any]:
    store = _store(ctx)
    try:
        info = await store.rollback()
    except CertificateRefused as e:
        raise _refused(e) from None
    _audit(ctx, info)
    return _state(store)
