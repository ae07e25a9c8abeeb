"""How the live hub writes a dashboard's frames: at once while its socket takes them,
through its writer task (in order) for what it does not; and the frames written at
once are the frames websockets itself would write, whole, in order, and bounded."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.frames import Frame, Opcode

from dashboards.live_socket import WRITE_AT_ONCE, _text_header, immediate_writer
from dashboards.livehub import LiveHub, LiveSettings
from hub.broker import InMemoryBroker
from hub.fanout import FanoutSettings, OutFrame
from hub.live import LiveState


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65_535, 65_536, 200_000])
def test_the_frame_header_is_the_one_websockets_writes(size: int) -> None:
    payload = b"x" * size
    ours = _text_header(size) + payload
    assert ours == Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])


async def test_a_real_connection_gets_whole_frames_in_order_at_most_a_bound_at_once() -> None:
    body = b'"pad":"' + b"y" * (WRITE_AT_ONCE * 2 // 5) + b'"}'  # 2/5 of the bound
    frames = [(b'{"n":%d,' % i, body) for i in range(5)]
    taken: list[int] = []

    async def handler(conn: ServerConnection) -> None:
        write = immediate_writer(conn)
        assert write is not None
        n = write(frames)
        taken.append(n)
        for head, rest in frames[n:]:  # what it did not take: as the writer task sends
            await conn.send(head + rest, text=True)
        await conn.close()
        taken.append(write(frames))  # closed: nothing more is written

    async with (
        serve(handler, "127.0.0.1", 0, compression=None) as server,
        connect(
            f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}",
            compression=None,
            max_size=None,
        ) as client,
    ):
        got = [await client.recv() for _ in frames]
        await client.wait_closed()
    assert taken == [3, 0]  # 2/5 + 2/5 < 1: a third frame goes; 6/5 >= 1: it stops
    assert got == [(h + b).decode() for h, b in frames]


async def test_nothing_is_written_once_the_transport_is_aborted() -> None:
    taken: list[int] = []

    async def handler(conn: ServerConnection) -> None:
        write = immediate_writer(conn)
        assert write is not None
        conn.transport.abort()  # the state is still OPEN until the loop says it is lost
        taken.append(write([(b'{"n":0,', b'"x":1}')]))

    async with (
        serve(handler, "127.0.0.1", 0, compression=None) as server,
        connect(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}") as client,
    ):
        await client.wait_closed()
    assert taken == [0]


class Socket:
    """A connection's side of the hub: takes up to ``room`` frames at once."""

    def __init__(self) -> None:
        self.room = 10
        self.now: list[bytes] = []  # written without waiting
        self.sent: list[bytes] = []  # sent by the writer task
        self.release = asyncio.Event()
        self.release.set()

    def write_now(self, frames: list[OutFrame]) -> int:
        took = frames[: self.room]
        self.now += [h + b for h, b in took]
        return len(took)

    async def send(self, head: bytes, body: bytes) -> None:
        await self.release.wait()
        self.sent.append(head + body)

    async def close(self, code: int, reason: str) -> None:
        raise AssertionError("not closed here")


def result(i: str) -> bytes:
    return b'{"type":"result","id":"%b"}' % i.encode()


async def test_frames_go_out_at_once_or_through_the_writer_in_order() -> None:
    hub = LiveHub(LiveState(), InMemoryBroker())
    sock = Socket()
    cid = hub.open(sock.send, sock.close, sock.write_now)
    hub.reply(cid, {"type": "result", "id": "a"})
    assert sock.now == [result("a")] and sock.sent == []
    assert hub._outlets[cid].writer is None  # no task for a socket that took them

    sock.room, sock.release = 0, asyncio.Event()
    hub.reply(cid, {"type": "result", "id": "b"})  # refused at once: the writer takes it
    writer = hub._outlets[cid].writer
    assert writer is not None
    hub.reply(cid, {"type": "result", "id": "c"})  # queued behind it, not written at once
    sock.room = 10
    hub.reply(cid, {"type": "result", "id": "d"})  # a writer runs: it keeps the order
    sock.release.set()
    await writer
    assert sock.sent == [result(i) for i in "bcd"]
    assert sock.now == [result("a")] and hub._outlets[cid].writer is None
    hub.close(cid)


async def test_what_the_socket_did_not_take_at_once_follows_through_the_writer() -> None:
    hub = LiveHub(LiveState(), InMemoryBroker())
    sock = Socket()
    cid = hub.open(sock.send, sock.close, sock.write_now)
    for i in "abc":
        hub.fanout.reply(cid, {"type": "result", "id": i})
    sock.room = 1
    hub.wake(cid)  # one written at once, two left for the writer
    writer = hub._outlets[cid].writer
    assert writer is not None
    await writer
    assert sock.now == [result("a")] and sock.sent == [result("b"), result("c")]
    hub.close(cid)


async def test_a_connection_that_cannot_be_written_is_closed_and_the_others_go_on() -> None:
    hub = LiveHub(LiveState(), InMemoryBroker())
    good, bad = Socket(), Socket()
    closed: list[tuple[int, str]] = []

    def broken(frames: list[OutFrame]) -> int:
        raise ValueError("a bug in one connection's writer")

    async def close(code: int, reason: str) -> None:
        closed.append((code, reason))

    ok = hub.open(good.send, good.close, good.write_now)
    worse = hub.open(bad.send, close, broken)
    for cid in (worse, ok):
        hub.reply(cid, {"type": "result", "id": "x"})
    writer = hub._outlets[worse].writer
    assert writer is not None
    await writer
    assert closed == [(1011, "internal error")]
    assert good.now == [result("x")]
    hub.close(ok)
    hub.close(worse)


async def test_a_failing_tick_is_logged_once_and_the_next_ones_still_write(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = LiveSettings(fanout=FanoutSettings(tick=0.001))
    hub = LiveHub(LiveState(), InMemoryBroker(), settings)
    sock = Socket()
    wrote = asyncio.Event()

    def write_now(frames: list[OutFrame]) -> int:
        wrote.set()
        return sock.write_now(frames)

    cid = hub.open(sock.send, sock.close, write_now)
    failures = 0

    def flush(now: float) -> set[int]:  # a bug in the fan-out, twice
        nonlocal failures
        if failures < 2:
            failures += 1
            raise RuntimeError("a bug in the fan-out")
        hub.fanout.reply(cid, {"type": "result", "id": "after"})
        return {cid}

    hub.fanout.flush = flush  # type: ignore[method-assign]
    await hub.start()
    try:
        async with asyncio.timeout(30):  # the tick stopped at the first failure
            await wrote.wait()
    finally:
        await hub.stop()
    assert failures == 2 and sock.now[0] == result("after")
    logged = [r for r in caplog.records if r.getMessage() == "the live fan-out tick failed"]
    assert len(logged) == 1 and logged[0].exc_info is not None  # once a minute at most
    hub.close(cid)
