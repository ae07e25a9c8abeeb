"""What a stranger on the network can make the redirector do, on real loopback sockets:
reflect answers (maddr), hold every connection slot, force TLS handshakes, pick a
weak TLS 1.2 suite, ping past the rate limit."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from sip.service import RedirectService
from tests.sip.conftest import make_table, request
from tests.sip.net import UdpClient, read_response, settings
from tests.support.clock import ManualClock


@pytest.fixture
async def udp_service(tmp_path: Path):  # type: ignore[no-untyped-def]
    svc = RedirectService(make_table())
    await svc.start(settings(tmp_path, tcp_port=None, tls_port=None))
    yield svc
    await svc.stop()


async def test_udp_answers_go_to_the_source_never_to_maddr(udp_service: RedirectService) -> None:
    port = udp_service.ports["udp"]
    client = await UdpClient.open("127.0.0.1")
    assert client.transport is not None
    client_port = client.transport.get_extra_info("sockname")[1]
    victim = await UdpClient.open("127.0.0.9", client_port)  # same port, other address
    try:
        # rport: the source port; no rport: the sent-by port. Never the maddr host.
        client.send(request(via_params=";rport;maddr=127.0.0.9", call_id="r"), port)
        assert (await client.receive()).call_id == "r"
        sent_by = f"127.0.0.1:{client_port}"
        client.send(request(via_host=sent_by, via_params=";maddr=127.0.0.9", call_id="s"), port)
        assert (await client.receive()).call_id == "s"
        assert victim.queue.empty() and udp_service.stats["answered.302"] == 2
    finally:
        client.close()
        victim.close()


async def test_a_hostname_maddr_is_answered_not_an_internal_error(
    udp_service: RedirectService,
) -> None:
    client = await UdpClient.open()
    try:
        client.send(request(via_params=";rport;maddr=victim.example.com"), udp_service.ports["udp"])
        assert (await client.receive()).status == 302
        assert udp_service.stats["internal-error"] == 0
    finally:
        client.close()


async def _tcp_from(source: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def _ping(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A keep-alive that is answered: the connection holds a slot."""
    writer.write(b"\r\n\r\n")
    assert await asyncio.wait_for(reader.readexactly(2), 2) == b"\r\n"


def _client_tls() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def _tls_from(
    source: str, port: int, ctx: ssl.SSLContext | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(
        asyncio.open_connection(
            "127.0.0.1", port, ssl=ctx or _client_tls(), local_addr=(source, 0)
        ),
        5,
    )


async def test_one_address_cannot_hold_every_connection_slot(tmp_path: Path) -> None:
    svc = RedirectService(make_table())
    await svc.start(
        settings(
            tmp_path, udp_port=None, max_connections=100, max_connections_per_address=3,
            connection_rate=0,
        )
    )  # fmt: skip
    tcp, tls = svc.ports["tcp"], svc.ports["tls"]
    try:
        held = [await _tcp_from("127.0.0.2", tcp) for _ in range(3)]
        for reader, writer in held:  # kept alive by pings only: they still count
            await _ping(reader, writer)
        assert svc.open_connections_from("127.0.0.2") == 3
        reader, _ = await _tcp_from("127.0.0.2", tcp)
        assert await asyncio.wait_for(reader.read(), 2) == b""  # the fourth: closed at once
        with pytest.raises((ConnectionError, ssl.SSLError, asyncio.IncompleteReadError)):
            await _tls_from("127.0.0.2", tls)  # TLS shares the cap, refused before a handshake
        assert svc.stats["rejected.connection-limit"] == 2
        assert svc.stats["connections.tls"] == 0 and svc.stats["tls.handshake-failed"] == 0

        other = await _tcp_from("127.0.0.3", tcp)  # another address is still served
        await _ping(*other)
        held[0][1].close()  # a slot of 127.0.0.2 frees up: it may connect again
        assert await asyncio.wait_for(held[0][0].read(), 2) == b""
        again = await _tls_from("127.0.0.2", tls)
        await _ping(*again)
        assert svc.open_connections_from("127.0.0.2") == 3
    finally:
        await svc.stop()


async def test_tls_handshakes_are_rate_limited_before_they_happen(tmp_path: Path) -> None:
    clock = ManualClock()  # no refill during the test
    svc = RedirectService(make_table(), clock=clock.monotonic)
    await svc.start(
        settings(tmp_path, udp_port=None, tcp_port=None, connection_rate=1, connection_burst=3)
    )
    port = svc.ports["tls"]
    try:
        done = [await _tls_from("127.0.0.2", port) for _ in range(3)]
        refused = 0
        for _ in range(30):  # a handshake flood from one address
            try:
                await _tls_from("127.0.0.2", port)
            except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
                refused += 1
        assert refused == 30
        stats = svc.stats
        assert stats["connections.tls"] == 3  # only the burst was ever handshaken
        assert stats["tls.handshake-failed"] == 0 and stats["rejected.rate-limit"] == 30
        assert len(done) == 3 and svc.open_connections_from("127.0.0.2") == 3
        await _tls_from("127.0.0.3", port)  # another address has its own bucket
    finally:
        await svc.stop()


async def test_a_silent_tls_client_loses_its_slot_at_the_handshake_timeout(
    tmp_path: Path,
) -> None:
    svc = RedirectService(make_table())
    await svc.start(
        settings(tmp_path, udp_port=None, tcp_port=None, idle_timeout=0.2, connection_rate=0)
    )
    try:
        reader, _ = await asyncio.open_connection("127.0.0.1", svc.ports["tls"])  # no hello
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert svc.stats["tls.handshake-failed"] == 1
    finally:
        await svc.stop()


@pytest.mark.parametrize("cipher", ["ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-AES128-SHA256"])
async def test_tls12_cbc_suites_are_refused(tmp_path: Path, cipher: str) -> None:
    svc = RedirectService(make_table())
    await svc.start(settings(tmp_path, udp_port=None, tcp_port=None))
    ctx = _client_tls()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(cipher)
    try:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await _tls_from("127.0.0.1", svc.ports["tls"], ctx)
    finally:
        await svc.stop()


@pytest.mark.parametrize(
    ("version", "cipher", "expected"),
    [
        (ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"),
        (ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305"),
        (ssl.TLSVersion.TLSv1_3, None, "TLS_AES_256_GCM_SHA384"),
    ],
)
async def test_aead_suites_are_served(
    tmp_path: Path, version: ssl.TLSVersion, cipher: str | None, expected: str
) -> None:
    svc = RedirectService(make_table())
    await svc.start(settings(tmp_path, udp_port=None, tcp_port=None))
    ctx = _client_tls()
    ctx.minimum_version = ctx.maximum_version = version
    if cipher:
        ctx.set_ciphers(cipher)
    try:
        reader, writer = await _tls_from("127.0.0.1", svc.ports["tls"], ctx)
        assert writer.get_extra_info("cipher")[0] == expected
        writer.write(request("OPTIONS", transport="TLS"))
        assert (await read_response(reader)).status == 200
    finally:
        await svc.stop()


async def test_keepalive_pings_spend_the_rate_limit(tmp_path: Path) -> None:
    clock = ManualClock()
    svc = RedirectService(make_table(), clock=clock.monotonic)
    await svc.start(settings(tmp_path, udp_port=None, tls_port=None, rate=1, burst=2))
    try:
        reader, writer = await _tcp_from("127.0.0.1", svc.ports["tcp"])
        writer.write(b"\r\n\r\n" * 3)  # three pings in one segment, two tokens
        assert await asyncio.wait_for(reader.readexactly(4), 2) == b"\r\n" * 2
        assert svc.stats["keepalive"] == 2 and svc.stats["rejected.rate-limit"] == 1
        clock.advance(10)  # refilled: the next message is served
        writer.write(request("OPTIONS", transport="TCP"))
        data = await asyncio.wait_for(reader.readuntil(b"Content-Length: 0\r\n\r\n"), 2)
        assert data.startswith(b"SIP/2.0 200")  # no third pong came before it
    finally:
        await svc.stop()
