"""The service on real loopback sockets (uvloop): UDP, TCP, TLS, limits, live changes."""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path

import pytest

from hub.logtext import LOG_FORMAT
from sip.redirect import EMPTY_TABLE, MemberServer, RoutingTable
from sip.service import RedirectService
from sip.tls import CERT_FILE, KEY_FILE, self_signed
from tests.sip.conftest import make_table, request
from tests.sip.fail2ban import banned_host
from tests.sip.net import UdpClient, read_response, settings
from tests.support.clock import ManualClock


@pytest.fixture
async def service(tmp_path: Path):  # type: ignore[no-untyped-def]
    svc = RedirectService(make_table())
    await svc.start(settings(tmp_path))
    yield svc
    await svc.stop()


async def test_udp_tcp_tls(service: RedirectService, tmp_path: Path) -> None:
    assert type(asyncio.get_running_loop()).__module__.startswith("uvloop")
    ports = service.ports
    assert set(ports) == {"udp", "tcp", "tls"} and all(ports.values())

    client = await UdpClient.open()
    client.send(request(via_host="127.0.0.1:1", via_params=";rport"), ports["udp"])
    udp = await client.receive()  # arrived at our source port thanks to rport
    assert udp.status == 302 and udp.header("contact") == "<sip:127.0.0.11:5060>;expires=3600"
    assert udp.top_via.received == "127.0.0.1" and udp.top_via.rport is not None
    client.close()

    reader, writer = await asyncio.open_connection("127.0.0.1", ports["tcp"])
    writer.write(b"\r\n\r\n")  # RFC 5626 ping
    assert await asyncio.wait_for(reader.readexactly(2), 2) == b"\r\n"
    data = request("INVITE", "sip:2500@x", transport="TCP")
    writer.write(data[:30])
    await writer.drain()
    writer.write(data[30:] + request("OPTIONS", transport="TCP"))
    tcp = await read_response(reader)
    assert tcp.status == 302
    assert tcp.header("contact") == "<sip:2500@127.0.0.12:5070;transport=tcp>;expires=3600"
    assert (await read_response(reader)).status == 200
    writer.close()

    ctx = ssl.create_default_context(cafile=str(tmp_path / "tls" / CERT_FILE))
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", ports["tls"], ssl=ctx, server_hostname="localhost"
    )
    writer.write(request(to="<sips:1001@alpha.example.com>", transport="TLS"))
    tls = await read_response(reader)
    assert tls.header("contact") == "<sips:127.0.0.11:5061>;expires=3600"
    writer.write(request(transport="TLS", call_id="second"))
    assert (await read_response(reader)).header("contact") == (
        "<sip:127.0.0.11:5061;transport=tls>;expires=3600"
    )
    writer.close()
    stats = service.stats
    assert stats["answered.302"] == 4 and stats["connections.tls"] == 1


async def test_tls_below_1_2_is_refused(service: RedirectService) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", service.ports["tls"], ssl=ctx), 5
        )


async def test_flood_from_one_source_does_not_starve_another(tmp_path: Path) -> None:
    clock = ManualClock()  # the buckets refill only when the test says so
    svc = RedirectService(make_table(), clock=clock.monotonic)
    await svc.start(settings(tmp_path, rate=20, burst=10, tcp_port=None, tls_port=None))
    flood, calm = await UdpClient.open("127.0.0.2"), await UdpClient.open("127.0.0.3")
    port = svc.ports["udp"]
    try:
        for batch in range(6):  # 300 datagrams, in batches a socket buffer surely holds
            for i in range(50):
                flood.send(request(call_id=f"flood-{batch}-{i}"), port)
            calm.send(request(call_id=f"calm-{batch}"), port)  # answered after the batch
            assert (await calm.receive()).status == 302
        stats = svc.stats
        assert stats["answered.302"] == 16 and stats["rejected.rate-limit"] == 290
        assert [(await flood.receive()).status for _ in range(10)] == [302] * 10  # the burst

        clock.advance(0.25)  # 20/s for a quarter second: 5 tokens
        for i in range(8):
            flood.send(request(call_id=f"later-{i}"), port)
        calm.send(request(call_id="calm-last"), port)
        assert (await calm.receive()).status == 302
        stats = svc.stats
        assert stats["answered.302"] == 22 and stats["rejected.rate-limit"] == 293
    finally:
        flood.close()
        calm.close()
        await svc.stop()


async def test_rejections_log_one_fail2ban_line(
    service: RedirectService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="fedhub.sip")
    client = await UdpClient.open("127.0.0.4")
    for _ in range(3):
        client.send(
            request("OPTIONS", extra="User-Agent: friendly-scanner\r\n"), service.ports["udp"]
        )
    client.send(b"INVITE sip:x SIP/3.0\r\n\r\n", service.ports["udp"])
    client.send(request("OPTIONS"), service.ports["udp"])  # a barrier: answered in order
    assert (await client.receive()).status == 200  # the first answer this client gets:
    assert client.queue.empty()  # scanners got nothing; unaddressable garbage neither
    client.close()
    formatter = logging.Formatter(LOG_FORMAT)  # as the processes write them
    lines = [formatter.format(r) for r in caplog.records if r.name == "fedhub.sip"]
    assert [banned_host(line) for line in lines] == ["127.0.0.4", "127.0.0.4"]
    assert "reason=scanner" in lines[0] and "reason=malformed" in lines[1]
    assert service.stats["rejected.scanner"] == 3


async def test_connection_cap_and_idle_timeout(tmp_path: Path) -> None:
    clock = ManualClock()
    svc = RedirectService(make_table(), clock=clock.monotonic)
    await svc.start(settings(tmp_path, max_connections=2, idle_timeout=0.3, udp_port=None))
    port = svc.ports["tcp"]
    try:
        conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        for r, w in conns:  # answered: so admitted
            w.write(request("OPTIONS", transport="TCP"))
            assert (await read_response(r)).status == 200
        assert svc.open_connections == 2
        reader, _ = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(reader.read(), 2) == b""  # closed at once
        assert svc.stats["rejected.connection-limit"] == 1
        assert svc.sweep_idle() == 0  # no time has passed: nobody is idle
        clock.advance(0.31)  # now both are; the service's own sweeper closes them
        for r, _ in conns:
            assert await asyncio.wait_for(r.read(), 5) == b""
        assert svc.stats["closed.idle"] == 2
    finally:
        await svc.stop()


async def test_apply_changes_without_restart(tmp_path: Path) -> None:
    svc = RedirectService(EMPTY_TABLE)
    await svc.start(settings(tmp_path, tls_port=None, tcp_port=None))
    client = await UdpClient.open()
    try:
        port = svc.ports["udp"]
        client.send(request(), port)
        assert (await client.receive()).status == 404

        svc.update_table(make_table())  # routes: live
        client.send(request(), port)
        assert (await client.receive()).status == 302

        await svc.apply(settings(tmp_path, tls_port=None, tcp_port=None, contact_expires=60))
        assert svc.ports["udp"] == port  # limits and answers change in place
        client.send(request(), port)
        assert (await client.receive()).header("expires") == "60"

        await svc.apply(settings(tmp_path, tls_port=None, tcp_port=0))  # new listener: rebind
        assert set(svc.ports) == {"udp", "tcp"}
        client.send(request(), svc.ports["udp"])
        assert (await client.receive()).status == 302

        await svc.apply(settings(tmp_path, enabled=False))
        assert not svc.running and svc.ports == {}
        await svc.apply(settings(tmp_path, tls_port=None))
        assert svc.running
        client.send(request(), svc.ports["udp"])
        assert (await client.receive()).status == 302
    finally:
        client.close()
        await svc.stop()


async def test_certificate_is_reloaded_on_apply(service: RedirectService, tmp_path: Path) -> None:
    tls_dir = tmp_path / "tls"
    old = (tls_dir / CERT_FILE).read_bytes()
    cert, key = self_signed("imported.example.net")
    (tls_dir / KEY_FILE).write_bytes(key)
    (tls_dir / CERT_FILE).write_bytes(cert)
    settings_now = service.settings
    assert settings_now is not None
    await service.apply(settings_now)
    ctx = ssl.create_default_context(cafile=str(tls_dir / CERT_FILE))
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", service.ports["tls"], ssl=ctx, server_hostname="imported.example.net"
    )
    peer = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    assert peer is not None and old != cert
    writer.close()


async def test_stop_closes_everything(tmp_path: Path) -> None:
    svc = RedirectService(RoutingTable.of([MemberServer(1, "a.example.com", "127.0.0.1")]))
    await svc.start(settings(tmp_path))
    port = svc.ports["tcp"]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request("OPTIONS", transport="TCP"))
    assert (await read_response(reader)).status == 200
    assert svc.open_connections == 1
    await svc.stop()
    assert await asyncio.wait_for(reader.read(), 2) == b""
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)
    with pytest.raises(RuntimeError):
        await svc.start(settings(tmp_path))
        await svc.start(settings(tmp_path))
    await svc.stop()
