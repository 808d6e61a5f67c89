"""The benchmarks' board client (bench/wsclient.py) against the `websockets` library: its server,
and its own framing of every length class, fragments, pings and the close, fed a byte at a time."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Request

from bench import wsclient

SIZES = (0, 5, 125, 126, 127, 65_535, 65_536, 200_000)  # each header form and its edges


class Received:
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.times: list[tuple[float, float]] = []
        self.more = asyncio.Event()

    def __call__(self, payload: bytes, perf: float, wall: float) -> None:
        self.messages.append(payload)
        self.times.append((perf, wall))
        self.more.set()

    async def count(self, n: int) -> None:
        async with asyncio.timeout(10):
            while len(self.messages) < n:
                self.more.clear()
                await self.more.wait()


def _text(size: int) -> str:
    return ("héllo, board " * (size // 13 + 1))[:size]


async def test_it_talks_to_the_library_server_both_ways() -> None:
    heard: list[str | bytes] = []
    pinged = asyncio.Event()

    async def handler(socket: ServerConnection) -> None:
        for _ in range(3):
            heard.append(await socket.recv())
        for size in SIZES:
            await socket.send(_text(size))
            await socket.send(_text(size).encode() + b"\x00\xff")  # binary
        await socket.send(["frag", "ment", "ed"])  # one message in three frames
        await (await socket.ping(b"are you there"))  # answered with a pong
        pinged.set()
        await socket.close(1001, "going away")

    received = Received()
    async with serve(handler, "127.0.0.1", 0, compression=None, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        before = time.perf_counter()
        client = await wsclient.connect("127.0.0.1", port, "/ws", received)
        for size in (3, 200, 70_000):  # each of the client's header forms, masked
            client.send_text(_text(size))
        await received.count(2 * len(SIZES) + 1)
        async with asyncio.timeout(10):
            await pinged.wait()
            await client.closed  # the server's close answered and the connection ended
    assert heard == [_text(3), _text(200), _text(70_000)]
    expected = [
        m for size in SIZES for m in (_text(size).encode(), _text(size).encode() + b"\x00\xff")
    ]
    assert received.messages == [*expected, b"fragmented"]
    assert all(before <= perf <= time.perf_counter() for perf, _ in received.times)


async def test_a_refused_handshake_raises() -> None:
    async def refuse(socket: ServerConnection, request: Request) -> Any:
        return socket.respond(403, "not you\n")

    async def handler(socket: ServerConnection) -> None:
        raise AssertionError("never opened")

    async with serve(handler, "127.0.0.1", 0, process_request=refuse) as server:
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(wsclient.HandshakeError, match="403"):
            await wsclient.connect("127.0.0.1", port, "/ws", Received())


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True


def _client(received: Received) -> tuple[wsclient.BoardClient, Transport, bytes]:
    """A client on a transport that keeps what it is given, and the server's answer to its
    handshake."""
    client = wsclient.BoardClient(received, "h:1", "/ws")
    transport = Transport()
    client.connection_made(transport)
    key = transport.written[0].split(b"Sec-WebSocket-Key: ")[1].split(b"\r\n")[0]
    accept = base64.b64encode(hashlib.sha1(key + wsclient.GUID).digest())
    answer = b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    return client, transport, answer


async def test_frames_split_anywhere_are_read_whole_and_in_order() -> None:
    """The library's own frames, fed one byte at a time after the handshake's answer."""
    received = Received()
    client, transport, answer = _client(received)
    frames = [Frame(Opcode.TEXT, _text(size).encode()) for size in SIZES]
    frames += [
        Frame(Opcode.PING, b"p"),
        Frame(Opcode.TEXT, b"one ", fin=False),
        Frame(Opcode.CONT, b"two ", fin=False),
        Frame(Opcode.CONT, b"three"),
        Frame(Opcode.CLOSE, Close(1000, "bye").serialize()),
    ]
    stream = answer + b"".join(frame.serialize(mask=False) for frame in frames)
    for i in range(len(stream)):
        client.data_received(stream[i : i + 1])
    assert client.opened.done()
    assert received.messages == [*(_text(size).encode() for size in SIZES), b"one two three"]
    pong, close = transport.written[1:]
    assert pong[0] == 0x80 | wsclient.PONG
    assert close[0] == 0x80 | wsclient.CLOSE
    assert pong[1] & 0x80  # a client's frames are masked
    assert transport.closing


async def test_a_masked_frame_from_the_server_ends_the_connection() -> None:
    received = Received()
    client, transport, answer = _client(received)
    client.data_received(answer)
    client.data_received(Frame(Opcode.TEXT, b"masked").serialize(mask=True))
    assert received.messages == []
    assert transport.closing
