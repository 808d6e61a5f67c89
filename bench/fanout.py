"""Fan-out: N board clients on ONE API process, each receiving about one update a second.

Ours: a real uvicorn serving the app; every client signs in and subscribes to the same small
view (an authority's care homes); one care-home report a second changes it, so every client gets
a frame a second. Each delta frame carries the server's send time (``t``): delivery latency is
receive time − ``t`` (one machine, one clock). Memory per connection: the server's RSS with N
clients minus its RSS with none, over N.

Ceiling, same run and same client harness: a bare ``websockets`` server that accepts the same
clients and pushes a frame of the same size to all of them once a second with the library's own
``broadcast()``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import websockets
from kafka import KafkaProducer

from app.carehomes.events import BedTypeReport, CareHomeReport
from app.config import Settings
from app.topics import CAREHOME_BEDS
from app.topology.schemas import EconomyConfig
from bench import server as server_process
from bench import wsclient
from bench.latency import percentiles

LA = "E06000901"
VIEW = f"carehomes:{LA}"
WAVE = 200  # clients connecting at once


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    frames: int = 0
    frame_bytes: int = 0
    # frames sent (the server's "t") in this wall-clock window are counted, once delivered
    window: tuple[float, float] | None = None
    flowing: asyncio.Event = field(default_factory=asyncio.Event)  # a delta reached a client


async def _client(port: int, path: str, token: str, stats: Stats, ready: asyncio.Event) -> None:
    def on_message(raw: bytes, _: float, received: float) -> None:
        frame = json.loads(raw)
        if frame.get("type") == "snapshot":
            ready.set()
        if frame.get("type") != "delta":
            return
        stats.flowing.set()
        if stats.window is not None and stats.window[0] <= frame["t"] < stats.window[1]:
            stats.frames += 1
            stats.frame_bytes = len(raw)
            stats.latencies.append(received - frame["t"])

    await wsclient.watch(port, path, token, VIEW, on_message)


async def _connect(
    port: int, path: str, token: str, clients: int, stats: Stats
) -> list[asyncio.Task[None]]:
    tasks: list[asyncio.Task[None]] = []
    for start in range(0, clients, WAVE):
        readies = [asyncio.Event() for _ in range(min(WAVE, clients - start))]
        tasks += [asyncio.create_task(_client(port, path, token, stats, r)) for r in readies]
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), timeout=300)
    return tasks


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def _measure(
    port: int, path: str, token: str, clients: int, seconds: float, pid: int, tick: Any
) -> dict[str, Any]:
    stats = Stats()
    idle = _rss_kib(pid)
    tasks = await _connect(port, path, token, clients, stats)
    loaded = _rss_kib(pid)
    await asyncio.sleep(1.5)  # let the connection burst settle
    # Timed from the first update to reach a client: before it the consumer may still be
    # joining its group, and reports that wait for that are applied together, one frame for
    # several (measured: 13 of 17 frames at 1,000 clients, whose connections take seconds).
    await asyncio.to_thread(tick)
    await asyncio.wait_for(stats.flowing.wait(), timeout=120)
    # Both servers are timed on the frames they send in the same window (the ceiling
    # broadcasts on its own second, ours on each report), each delivered within 2 s after it.
    started, now = time.monotonic(), time.time()
    stats.window = (now, now + seconds)
    while time.monotonic() - started < seconds:
        await asyncio.to_thread(tick)
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started) % 1.0))
    await asyncio.sleep(2)  # the last frames
    window, stats.window = stats.window, None
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "clients": clients,
        "frames": stats.frames,
        "frames_per_second": round(stats.frames / (window[1] - window[0])),
        "frame_bytes": stats.frame_bytes,
        "delivery_ms": {k: round(v * 1000, 1) for k, v in percentiles(stats.latencies).items()},
        "kib_per_connection": round((loaded - idle) / clients, 1),
    }


async def _wait_ready(base: str) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=10) as http, asyncio.timeout(120):
        while True:
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)


async def ours(settings: Settings, *, port: int, clients: int, seconds: float) -> dict[str, Any]:
    kafka = settings.kafka.model_copy(
        update={"topic_prefix": f"f{uuid.uuid4().hex[:6]}.", "group_id": f"fan-{uuid.uuid4()}"}
    )
    env = dict(os.environ) | {
        "DATABASE_URL": settings.db.url, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": kafka.topic_prefix, "KAFKA_GROUP_ID": kafka.group_id,
        "FLOWCC_ENVIRONMENT": "development", "FLOWCC_LOG_LEVEL": "WARNING",
    }  # fmt: skip
    server = server_process.start(env, port, "--backlog", "4096", "--ws-ping-interval", "0")
    producer = KafkaProducer(**kafka.client_options(), linger_ms=0)
    home = next(h for h in EconomyConfig.load(settings.economy_file).care_homes
                if h.local_authority == LA)  # fmt: skip
    bed_type, capacity = next(iter(home.capacity.items()))
    count = iter(range(10**9))

    def tick() -> None:  # one report a second: the vacancy moves, so the view changes
        n = next(count)
        report = CareHomeReport(
            report_id=f"fan-{uuid.uuid4()}", home_code=home.code, open_to_admissions=True,
            reported_at=datetime.now(UTC),
            beds=[BedTypeReport.model_validate({"bed_type": bed_type, "capacity": capacity,
                "occupied": capacity - 1 - n % 2, "vacant": 1 + n % 2})],
        )  # fmt: skip
        topic = kafka.topic(CAREHOME_BEDS)
        producer.send(topic, key=home.code.encode(), value=report.model_dump_json().encode())
        producer.flush()

    try:
        base = f"http://127.0.0.1:{port}"
        await _wait_ready(base)
        async with httpx.AsyncClient(base_url=base) as http:
            login = await http.post("/api/v1/auth/dev-login", json={"username": "commander"})
        token = login.json()["access_token"]
        return await _measure(port, "/ws", token, clients, seconds, server.pid, tick)
    finally:
        producer.close()
        server.terminate()
        server.wait(timeout=30)


async def ceiling(*, port: int, clients: int, seconds: float, frame_bytes: int) -> dict[str, Any]:
    server = subprocess.Popen([sys.executable, "-m", "bench.fanout", str(port), str(frame_bytes)])
    try:
        async with asyncio.timeout(30):
            while True:
                try:
                    async with websockets.connect(f"ws://127.0.0.1:{port}"):
                        break
                except OSError:
                    await asyncio.sleep(0.2)
        return await _measure(port, "/", "-", clients, seconds, server.pid, lambda: None)
    finally:
        server.terminate()
        server.wait(timeout=30)


async def _serve_ceiling(port: int, frame_bytes: int) -> None:
    """The reference server: a snapshot on subscribe, then broadcast() once a second."""

    async def handler(socket: Any) -> None:
        async for raw in socket:
            if json.loads(raw).get("type") == "subscribe":
                await socket.send(json.dumps({"type": "snapshot", "view": VIEW, "seq": 0}))

    async with websockets.serve(handler, "127.0.0.1", port, ping_interval=None) as server:
        seq = 0
        while True:
            await asyncio.sleep(1.0)
            seq += 1
            frame = {"type": "delta", "view": VIEW, "seq": seq, "t": 0.0, "changes": [""]}
            padding = max(0, frame_bytes - len(json.dumps(frame)) - 20)
            frame["changes"] = ["x" * padding]
            frame["t"] = time.time()
            websockets.broadcast(server.connections, json.dumps(frame))


async def run(
    settings: Settings, *, ports: tuple[int, int], sizes: tuple[int, ...], seconds: float
) -> list[dict[str, Any]]:
    rows = []
    for clients in sizes:
        mine = await ours(settings, port=ports[0], clients=clients, seconds=seconds)
        reference = await ceiling(
            port=ports[1], clients=clients, seconds=seconds, frame_bytes=mine["frame_bytes"]
        )
        ratio = mine["frames_per_second"] / max(1, reference["frames_per_second"])
        rows.append({"ours": mine, "ceiling": reference, "ratio": round(ratio, 3)})
    return rows


if __name__ == "__main__":
    asyncio.run(_serve_ceiling(int(sys.argv[1]), int(sys.argv[2])))
