"""Request limits (issue #15): a body over its route's limit is refused with 413 before it is
read or parsed — also unauthenticated, also streamed without a length — and the server's memory
stays flat; deep JSON is a 4xx; the board socket refuses what is not a small JSON object."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from typing import Any

import httpx
import websockets

from app.config import Settings
from tests.support import bearer
from tests.support.services import live_server

MIB = 1 << 20


async def test_a_body_over_the_json_limit_is_413_before_any_parsing(asgi_client: Any) -> None:
    body = b'{"username": "' + b"x" * (2 * MIB) + b'"}'
    response = await asgi_client.post("/api/v1/auth/dev-login", content=body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert "1,048,576" in response.json()["error"]["message"]


async def test_a_streamed_body_without_a_length_is_cut_off_at_the_limit(asgi_client: Any) -> None:
    async def chunks() -> Any:
        for _ in range(4):
            yield b"x" * MIB

    response = await asgi_client.post("/api/v1/auth/dev-login", content=chunks())
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_ingest_takes_its_own_larger_limit(asgi_client: Any) -> None:
    headers = await bearer(asgi_client, "pas.ingest")
    response = await asgi_client.post(
        "/api/v1/ingest/hl7v2", content=b"x" * (2 * MIB), headers=headers
    )
    assert response.status_code == 422, "2 MiB is within the ingest limit: decoded, refused"
    response = await asgi_client.post(
        "/api/v1/ingest/hl7v2", content=b"x" * (5 * MIB), headers=headers
    )
    assert response.status_code == 413


async def test_json_nested_deep_is_a_4xx_not_a_500(asgi_client: Any) -> None:
    deep = b"[" * 500_000 + b"]" * 500_000
    response = await asgi_client.post("/api/v1/auth/dev-login", content=deep)
    assert 400 <= response.status_code < 500, response.text


async def _resident_bytes(client: httpx.AsyncClient) -> float:
    metrics = (await client.get("/metrics")).text
    match = re.search(r"^process_resident_memory_bytes (\S+)$", metrics, re.MULTILINE)
    assert match, "the server exports its resident memory"
    return float(match.group(1))


def _stream_until_answered(port: int, total: int) -> tuple[bytes, int]:
    """POST a chunked body of up to ``total`` bytes to dev-login, unauthenticated, reading the
    answer as soon as there is one; returns (the answer's status line, bytes sent)."""
    chunk = b"x" * (256 * 1024)
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    sent = 0
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            b"POST /api/v1/auth/dev-login HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        sock.settimeout(0)
        while sent < total:
            try:
                answer = sock.recv(4096)
                if answer:
                    return answer.split(b"\r\n", 1)[0], sent
            except BlockingIOError:
                pass
            sock.settimeout(10)
            try:
                sock.sendall(frame)
            except OSError:  # the server answered and closed: read what it said
                break
            sock.settimeout(0)
            sent += len(chunk)
        sock.settimeout(10)
        return sock.recv(4096).split(b"\r\n", 1)[0], sent


def _declare_and_read(port: int, length: int) -> bytes:
    """Announce a body of ``length`` bytes, send none of it, read the status line."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/v1/auth/dev-login HTTP/1.1\r\nHost: x\r\n"
            + f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n".encode()
        )
        return sock.recv(4096).split(b"\r\n", 1)[0]


async def test_a_3_gb_stream_is_refused_with_413_and_memory_stays_flat(
    settings: Settings,
) -> None:
    async with live_server(settings) as base:
        port = int(base.rsplit(":", 1)[1])
        async with httpx.AsyncClient(base_url=f"http://{base}") as client:
            before = await _resident_bytes(client)
            status, sent = await asyncio.to_thread(_stream_until_answered, port, 3 << 30)
            declared = await asyncio.to_thread(_declare_and_read, port, 3 << 30)
            after = await _resident_bytes(client)
    assert status == b"HTTP/1.1 413 Request Entity Too Large", status
    assert sent < 64 * MIB, f"refused only after {sent:,} bytes"
    assert declared == b"HTTP/1.1 413 Request Entity Too Large", declared
    assert after - before < 50 * MIB, f"the server grew by {(after - before) / MIB:.0f} MiB"


async def test_the_board_socket_refuses_what_is_not_a_small_object(settings: Settings) -> None:
    async with live_server(settings) as base:
        async with httpx.AsyncClient(base_url=f"http://{base}") as client:
            token = (
                await client.post("/api/v1/auth/dev-login", json={"username": "commander"})
            ).json()["access_token"]
        async with websockets.connect(f"ws://{base}/ws", max_size=None) as socket_:
            await socket_.send(json.dumps({"type": "auth", "token": token}))
            assert json.loads(await socket_.recv())["type"] == "ready"
            for bad in ("[1, 2]", "not json", "[" * 5000, json.dumps({"x": "y" * 20_000})):
                await socket_.send(bad)
                frame = json.loads(await socket_.recv())
                assert frame["type"] == "error", frame
                assert frame["code"] == "bad_request"
            await socket_.send(json.dumps({"type": "subscribe", "view": "site:" + "A" * 500}))
            frame = json.loads(await socket_.recv())
            assert frame["code"] == "bad_request"
            await socket_.send(json.dumps({"type": "subscribe", "view": "system"}))
            async with asyncio.timeout(30):  # a delta may come first (the protocol allows it)
                while (frame := json.loads(await socket_.recv()))["type"] != "snapshot":
                    assert frame["type"] == "delta", "still connected"
            started = time.monotonic()
            await socket_.send("x" * 100_000)  # over the socket's 64 KiB frame limit
            await socket_.wait_closed()
            assert socket_.close_code == 1009  # message too big
            assert time.monotonic() - started < 30
