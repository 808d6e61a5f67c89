"""A board client for the benchmarks: a websocket (RFC 6455) on an ``asyncio.Protocol``, each
message handed to a callback as it is read, with the time its bytes arrived.

Why not the ``websockets`` client: the latency and fan-out benchmarks run 1,000-10,000 clients
in one Python process on the same 2 cores as the service. With the library each message went
through its reader, a queue and the wake-up of the client's task (~90 µs a frame; at 1,000
clients the harness's loop was busy for most of each tick, and the Kafka reference, a thread in
the same process, waited for it too). Real boards are 1,000 browsers on 1,000 machines: what the
harness spends is the measurement's error, not the service's latency. This client does only what
a board needs — the handshake, unmasked server frames (fragments joined), pings answered, masked
text frames sent, the close — and is proven against the library's server in
tests/test_bench_wsclient.py.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import time
from collections.abc import Callable

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA

OnMessage = Callable[[bytes, float, float], None]  # payload, perf_counter and wall time of arrival


class HandshakeError(Exception):
    """The server did not switch protocols to a websocket."""


class BoardClient(asyncio.Protocol):
    def __init__(self, on_message: OnMessage, host: str, path: str) -> None:
        self.on_message = on_message
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._key = base64.b64encode(os.urandom(16))
        self._request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {self._key.decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self._buffer = bytearray()
        self._fragments: list[bytes] = []
        self._transport: asyncio.Transport | None = None
        self._open = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or HandshakeError("closed before the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        perf, wall = time.perf_counter(), time.time()
        buffer = self._buffer
        buffer += data
        if not self._open and not self._upgraded():
            return
        offset, size = 0, len(buffer)
        while size - offset >= 2:
            second = buffer[offset + 1]
            if second & 0x80:
                self._fail("a masked frame from the server")
                return
            length, header = second & 0x7F, 2
            if length == 126:
                length, header = int.from_bytes(buffer[offset + 2 : offset + 4]), 4
            elif length == 127:
                length, header = int.from_bytes(buffer[offset + 2 : offset + 10]), 10
            end = offset + header + length  # past size too while the length is incomplete
            if end > size:
                break
            self._frame(buffer[offset], bytes(buffer[offset + header : end]), perf, wall)
            offset = end
        if offset:
            del buffer[:offset]

    def _upgraded(self) -> bool:
        if self.opened.done():  # refused: whatever follows is not read
            self._buffer.clear()
            return False
        head, found, _ = bytes(self._buffer).partition(b"\r\n\r\n")
        if not found:
            return False
        del self._buffer[: len(head) + 4]
        status, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)}
        accept = base64.b64encode(hashlib.sha1(self._key + GUID).digest()).decode()
        if status.split(" ")[1:2] != ["101"] or headers.get("sec-websocket-accept") != accept:
            self.opened.set_exception(HandshakeError(status))
            self._close_transport()
            return False
        self._open = True
        self.opened.set_result(None)
        return True

    def _frame(self, first: int, payload: bytes, perf: float, wall: float) -> None:
        opcode, fin = first & 0x0F, first & 0x80
        if opcode in (TEXT, BINARY, CONTINUATION):
            if not fin:
                self._fragments.append(payload)
                return
            if self._fragments:
                payload = b"".join([*self._fragments, payload])
                self._fragments = []
            self.on_message(payload, perf, wall)
        elif opcode == PING:
            self._send(PONG, payload)
        elif opcode == CLOSE:
            self._send(CLOSE, payload[:2])
            self._close_transport()

    def send_text(self, text: str) -> None:
        self._send(TEXT, text.encode())

    def close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._send(CLOSE, (1000).to_bytes(2))
            self._close_transport()

    def _send(self, opcode: int, payload: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        size, mask = len(payload), os.urandom(4)
        if size < 126:
            header = bytes((0x80 | opcode, 0x80 | size))
        elif size < 65536:
            header = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2)
        else:
            header = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8)
        key = int.from_bytes((mask * (size // 4 + 1))[:size])
        masked = (int.from_bytes(payload) ^ key).to_bytes(size)
        self._transport.write(header + mask + masked)

    def _fail(self, why: str) -> None:
        self._send(CLOSE, (1002).to_bytes(2) + why.encode())
        self._close_transport()

    def _close_transport(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def connect(host: str, port: int, path: str, on_message: OnMessage) -> BoardClient:
    """Open a websocket to ``ws://host:port/path``; raises HandshakeError if it is refused.
    The caller bounds the wait (``asyncio.timeout``)."""
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(
        lambda: BoardClient(on_message, f"{host}:{port}", path), host, port
    )
    await client.opened
    return client


async def watch(port: int, path: str, token: str, view: str, on_message: OnMessage) -> None:
    """A board on 127.0.0.1: connect (within 120 s), sign in, subscribe to ``view``, and read
    until the connection ends or the task is cancelled."""
    async with asyncio.timeout(120):
        socket = await connect("127.0.0.1", port, path, on_message)
    try:
        socket.send_text(json.dumps({"type": "auth", "token": token}))
        socket.send_text(json.dumps({"type": "subscribe", "view": view}))
        await socket.closed
    finally:
        socket.close()
