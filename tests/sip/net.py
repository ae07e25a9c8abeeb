"""Loopback clients and waits for the tests that run the service on real sockets."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sip.message import SipResponse, parse_message
from sip.service import RedirectSettings


class UdpClient(asyncio.DatagramProtocol):
    """A UDP client on a loopback source address; answers queue up in `queue`.

    A server reads its socket in order: once the answer to a request sent after
    others arrives, those others have been handled (a barrier, instead of a wait)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait(data)

    @classmethod
    async def open(cls, source: str = "127.0.0.1", port: int = 0) -> UdpClient:
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_datagram_endpoint(cls, local_addr=(source, port))
        return proto

    def send(self, data: bytes, port: int) -> None:
        assert self.transport is not None
        self.transport.sendto(data, ("127.0.0.1", port))

    async def receive(self) -> SipResponse:
        msg = parse_message(await asyncio.wait_for(self.queue.get(), 2.0))
        assert isinstance(msg, SipResponse)
        return msg

    def close(self) -> None:
        assert self.transport is not None
        self.transport.close()


async def read_response(reader: asyncio.StreamReader) -> SipResponse:
    """The next answer on a stream; a connection reads in order, so it is also a barrier."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
    msg = parse_message(head)
    assert isinstance(msg, SipResponse)
    return msg


def settings(tmp_path: Path, **changes: object) -> RedirectSettings:
    base: dict[str, object] = dict(
        host="127.0.0.1", udp_port=0, tcp_port=0, tls_port=0, cert_dir=tmp_path / "tls", rate=0
    )
    base.update(changes)
    return RedirectSettings(**base)  # type: ignore[arg-type]
