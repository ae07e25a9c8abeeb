"""How the live hub writes a dashboard's frames: at once while its socket takes them,
through its writer task (in order) once it does not; and the frames written at once
are the frames websockets itself would write."""

from __future__ import annotations

import asyncio

import pytest
from websockets.frames import Frame, Opcode

from dashboards.live_socket import _text_header
from dashboards.livehub import LiveHub
from hub.broker import InMemoryBroker
from hub.fanout import Frame as OutFrame
from hub.live import LiveState


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65_535, 65_536, 200_000])
def test_the_frame_header_is_the_one_websockets_writes(size: int) -> None:
    payload = b"x" * size
    ours = _text_header(size) + payload
    assert ours == Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])


class Socket:
    """A connection's side of the hub: takes frames at once until told it is full."""

    def __init__(self) -> None:
        self.full = False
        self.now: list[bytes] = []  # written without waiting
        self.sent: list[bytes] = []  # sent by the writer task
        self.release = asyncio.Event()
        self.release.set()

    def write_now(self, frames: list[OutFrame]) -> bool:
        if self.full:
            return False
        self.now += [h + b for h, b in frames]
        return True

    async def send(self, head: bytes, body: bytes) -> None:
        await self.release.wait()
        self.sent.append(head + body)

    async def close(self, code: int, reason: str) -> None:
        raise AssertionError("not closed here")


async def test_frames_go_out_at_once_or_through_the_writer_in_order() -> None:
    hub = LiveHub(LiveState(), InMemoryBroker())
    sock = Socket()
    cid = hub.open(sock.send, sock.close, sock.write_now)
    hub.reply(cid, {"type": "result", "id": "a"})
    assert sock.now == [b'{"type":"result","id":"a"}'] and sock.sent == []
    assert hub._outlets[cid].writer is None  # no task for a socket that took them

    sock.full, sock.release = True, asyncio.Event()
    hub.reply(cid, {"type": "result", "id": "b"})  # refused at once: the writer takes it
    writer = hub._outlets[cid].writer
    assert writer is not None
    hub.reply(cid, {"type": "result", "id": "c"})  # queued behind it, not written at once
    sock.full = False
    hub.reply(cid, {"type": "result", "id": "d"})  # a writer runs: it keeps the order
    sock.release.set()
    await writer
    assert sock.sent == [b'{"type":"result","id":"%b"}' % i for i in (b"b", b"c", b"d")]
    assert len(sock.now) == 1 and hub._outlets[cid].writer is None
    hub.close(cid)
