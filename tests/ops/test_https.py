"""HTTPS served by the hub itself, and a certificate hot swap seen by new TLS connections
of the web server and of the SIP listener (real sockets, no restart)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from dashboards.app import create_app
from dashboards.live_ws import SERVER_OPTIONS
from dashboards.services import HubConfig, Services
from ops.certs import CertificateStore
from ops.https import HubServer, hub_server
from ops.hub import build_services
from ops.node_services import certificate_store
from sip.settings import Overrides
from tests.dashboards.conftest import NEW_ADMIN_PASSWORD
from tests.support.live_server import free_port, serving_in_thread
from tests.support.pki import chain_of, issue, rsa_key


def peer_fingerprint(port: int) -> str:
    """SHA-256 of the certificate a new TLS connection to 127.0.0.1:port is shown."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw) as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).fingerprint(hashes.SHA256()).hex()


def wait_for(cond: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@dataclass
class LiveHub:
    base: str
    port: int
    sip_tls: int
    services: Services


@contextmanager
def https_hub(tmp_path: Path, sip: bool = True) -> Iterator[LiveHub]:
    port, sip_port, tls_port = free_port(), free_port(), free_port()
    config = HubConfig(
        data_dir=tmp_path,
        sip=sip,
        sip_overrides=Overrides(
            host="127.0.0.1", udp_port=sip_port, tcp_port=sip_port, tls_port=tls_port
        ),
    )
    services = build_services(config)

    def make(on_ready: Callable[[], None]) -> HubServer:
        return hub_server(
            create_app(services),
            host="127.0.0.1",
            port=port,
            certificates=certificate_store(services),
            on_ready=on_ready,
            log_level="warning",
            lifespan="on",
            **SERVER_OPTIONS,  # as `fedhub serve` runs
        )

    with serving_in_thread(make):
        if sip:
            wait_for(lambda: "tls" in services.redirect.status()["ports"], "the SIP TLS listener")
        yield LiveHub(f"https://127.0.0.1:{port}", port, tls_port, services)


def login(base: str) -> httpx.Client:
    c = httpx.Client(base_url=base + "/api/v1", verify=False, timeout=10)
    r = c.post("/auth/login", json={"username": "admin", "password": "123456"})
    c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    r = c.post(
        "/auth/password", json={"old_password": "123456", "new_password": NEW_ADMIN_PASSWORD}
    )
    assert r.status_code == 204, r.text
    return c


def test_https_by_default_with_a_self_signed_certificate_made_on_first_start(
    tmp_path: Path,
) -> None:
    with https_hub(tmp_path, sip=False) as hub:
        r = httpx.get(hub.base + "/healthz", verify=False)
        assert r.status_code == 200
        assert r.headers["strict-transport-security"].startswith("max-age=")
        cert = (tmp_path / "certs" / "sip.crt").read_bytes()
        fp = x509.load_pem_x509_certificate(cert).fingerprint(hashes.SHA256()).hex()
        assert peer_fingerprint(hub.port) == fp
        with pytest.raises(httpx.TransportError):  # plain HTTP is not spoken on this port
            httpx.get(f"http://127.0.0.1:{hub.port}/healthz", timeout=5)


def test_api_import_is_seen_by_new_web_and_sip_connections(tmp_path: Path) -> None:
    with https_hub(tmp_path) as hub:
        first = peer_fingerprint(hub.port)
        assert peer_fingerprint(hub.sip_tls) == first
        c = login(hub.base)
        # an RSA certificate after the EC self-signed one: no stale EC pair may linger
        root, inter, server = chain_of(key=rsa_key())
        r = c.post(
            "/certificates",
            json={
                "certificate": (server.pem + inter.pem).decode(),
                "key": server.key_pem.decode(),
            },
        )
        assert r.status_code == 201, r.text
        assert peer_fingerprint(hub.port) == server.fingerprint
        assert peer_fingerprint(hub.sip_tls) == server.fingerprint
        # the API keeps answering over the new certificate, on a new connection
        assert httpx.get(hub.base + "/healthz", verify=False).status_code == 200
        r = c.post("/certificates/rollback")
        assert r.status_code == 200, r.text
        assert peer_fingerprint(hub.port) == first
        assert peer_fingerprint(hub.sip_tls) == first


def test_import_from_another_process_is_picked_up(tmp_path: Path) -> None:
    with https_hub(tmp_path) as hub:
        other = CertificateStore(tmp_path / "certs")  # what 'fedhub cert import' does
        s = issue("hub.prov.example")
        asyncio.run(other.install(other.check(s.pem, s.key_pem)))
        wait_for(lambda: peer_fingerprint(hub.port) == s.fingerprint, "the web server to swap")
        wait_for(lambda: peer_fingerprint(hub.sip_tls) == s.fingerprint, "SIP to swap")


def test_the_live_websocket_over_wss(tmp_path: Path) -> None:
    """/ws/live on the HTTPS port: refused without credentials (the JSON error), and
    with the session cookie and the page's own https origin it is upgraded and served."""
    with https_hub(tmp_path, sip=False) as hub:
        c = login(hub.base)
        cookie = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
        url, own = f"wss://127.0.0.1:{hub.port}/ws/live", f"https://127.0.0.1:{hub.port}"
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE

        async def refused() -> InvalidStatus:
            with pytest.raises(InvalidStatus) as e:
                async with connect(url, ssl=ctx, origin=own):  # type: ignore[arg-type]
                    pass
            return e.value

        async def answered() -> dict[str, object]:
            headers = {"Cookie": cookie}
            async with connect(url, ssl=ctx, origin=own, additional_headers=headers) as ws:  # type: ignore[arg-type]
                await ws.send(orjson.dumps({"type": "unsubscribe", "id": "nope"}).decode())
                return dict(orjson.loads(await asyncio.wait_for(ws.recv(), 10)))

        e = asyncio.run(refused())
        assert e.response.status_code == 401
        assert orjson.loads(e.response.body)["error"]["code"] == "unauthenticated"
        assert asyncio.run(answered())["code"] == "unknown_subscription"
