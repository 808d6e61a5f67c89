"""Produce → websocket frame latency: a steady stream of ADT events while many board clients are
connected the way real boards are (most on site views, some on the system and social-care views).

Each admission is timed from the moment it is handed to the Kafka producer to the
moment a site-view client receives the frame carrying that bed's change. Reference, same run: a
bare kafka-python consumer's produce → consume latency for the same events.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import orjson

from app.config import Settings
from app.simulation.reset import reset_demo
from app.topics import ADT_HL7V2
from bench import server as server_process
from bench import wsclient
from bench.machine import busy_cpu_seconds, process_cpu_seconds
from tests.factories import T0, hl7

VIEWS = (  # (user, view, share of clients)
    ("sm.anyborough", "site:RAN01", 0.4),
    ("sm.westvale", "site:RWV01", 0.3),
    ("commander", "system", 0.2),
    ("sc.anyborough", "discharges:E06000901", 0.1),
)
WARDS = ("AMU", "BEE01", "CED02", "ELM03")
PROBE_BED = "RAN01:AMU:B01"


@dataclass
class Timings:
    # keyed by the admission's number, which is also its event time in minutes after T0 (the
    # bed's "occupied_since" in the frame): each admission is matched to exactly its own frame
    sent: dict[int, float] = field(default_factory=dict)
    sent_wall: dict[int, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    to_server_send: list[float] = field(default_factory=list)  # produce → the frame's "t"
    frames: int = 0
    frame_bytes: int = 0
    flowing: asyncio.Event = field(default_factory=asyncio.Event)  # the probe's bed has changed


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(values)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"p50": q[49], "p95": q[94], "p99": q[98], "max": ordered[-1]}


async def _client(port: int, token: str, view: str, timings: Timings, ready: asyncio.Event) -> None:
    measured = view.startswith("site:")

    def on_message(raw: bytes, now: float, _: float) -> None:
        timings.frame_bytes += len(raw)
        if ready.is_set() and not measured:
            timings.frames += 1  # system and social-care frames: counted, not timed
            return
        frame = orjson.loads(raw)
        if frame.get("type") == "snapshot":
            ready.set()
        if frame.get("type") != "delta":
            return
        timings.frames += 1
        for change in frame["changes"]:
            if change["key"] == PROBE_BED:
                timings.flowing.set()
            since = change["data"].get("occupied_since") if change["kind"] == "bed" else None
            if since:
                number = round((datetime.fromisoformat(since) - T0).total_seconds() / 60)
                sent = timings.sent.get(number)
                if sent is not None:
                    timings.latencies.append(now - sent)
                    timings.to_server_send.append(frame["t"] - timings.sent_wall[number])

    await wsclient.watch(port, "/ws", token, view, on_message)


def _events(count: int, site_codes: tuple[str, ...]) -> list[tuple[str, bytes, int | None]]:
    """A pass admitting a patient to every bed, then a pass discharging them, and so on: each
    event changes one bed, and a bed changes again only a whole pass later."""
    out = []
    beds = [
        (site, ward, f"B{n:02d}") for site in site_codes for ward in WARDS for n in range(1, 27)
    ]
    for n in range(count):
        site, ward, bed = beds[n % len(beds)]
        cycle, discharging = divmod(n // len(beds), 2)
        visit = f"L{cycle:05d}{n % len(beds):04d}"
        trigger = "A03" if discharging else "A01"
        message = hl7(trigger, n, bed=bed, ward=ward, site=site, visit=visit)
        out.append((visit, message, None if discharging else n))
    return out


async def run(
    settings: Settings, *, port: int, clients: int, rate: float, seconds: float, apart: bool
) -> dict[str, Any]:
    """``apart``: the consumers run in a process of their own (``flowcc consume``) and the
    board process only serves; otherwise one process does both (``make run``)."""
    import os

    kafka = settings.kafka.model_copy(
        update={"topic_prefix": f"l{uuid.uuid4().hex[:6]}.", "group_id": f"lat-{uuid.uuid4()}"}
    )
    env = dict(os.environ) | {
        "DATABASE_URL": settings.db.url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
        "KAFKA_GROUP_ID": kafka.group_id,
        "FLOWCC_ENVIRONMENT": "development",
        "FLOWCC_LOG_LEVEL": "WARNING",
        # The 1,000 clients share one Python process (and the 2 cores) with the service: while
        # they take their 100 kB snapshots some wait longer than the production send timeout,
        # which would drop them — this benchmark measures the pipeline's latency, not that policy.
        "FLOWCC_BOARD_SEND_TIMEOUT_SECONDS": "600",
        "FLOWCC_RUN_CONSUMERS": "false" if apart else "true",
    }
    # Start from an empty house (earlier benchmarks leave patients in these beds): every timed
    # admission then changes its bed, and its frame carries it.
    await reset_demo(settings.model_copy(update={"kafka": kafka}))
    processes = [server_process.start(env, port)]
    if apart:
        processes.append(server_process.start_consumer(env))
    try:
        pids = [process.pid for process in processes]
        result = await _measure(kafka.topic(ADT_HL7V2), kafka, port, clients, rate, seconds, pids)
        return {"consumers": "own process" if apart else "in the board process", **result}
    finally:
        server_process.stop(*processes)


async def _measure(
    topic: str, kafka: Any, port: int, clients: int, rate: float, seconds: float, pids: list[int]
) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        async with asyncio.timeout(90):
            while True:
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        tokens = {}
        for user, _, _ in VIEWS:
            login = await http.post("/api/v1/auth/dev-login", json={"username": user})
            tokens[user] = login.json()["access_token"]
    timings = Timings()
    tasks, readies = [], []
    for user, view, share in VIEWS:
        for _ in range(max(1, round(clients * share))):
            ready = asyncio.Event()
            readies.append(ready)
            tasks.append(asyncio.create_task(_client(port, tokens[user], view, timings, ready)))
    connecting = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), timeout=120)
    # A probe spell (admitted and discharged) proves the whole path flows — the consumers have
    # joined their group — before the timed stream starts.
    await asyncio.to_thread(_probe, kafka, topic, "A01")
    await asyncio.wait_for(timings.flowing.wait(), timeout=120)
    timings.flowing.clear()
    await asyncio.to_thread(_probe, kafka, topic, "A03")
    await asyncio.wait_for(timings.flowing.wait(), timeout=120)
    connected = time.perf_counter() - connecting
    before = (time.perf_counter(), time.process_time(), _service_cpu(pids), busy_cpu_seconds())
    reference = await asyncio.to_thread(_stream, kafka, topic, timings, rate, seconds)
    after = (time.perf_counter(), time.process_time(), _service_cpu(pids), busy_cpu_seconds())
    wall, harness, service, machine = (b - a for a, b in zip(before, after, strict=True))
    await asyncio.sleep(2)  # the last frames
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "clients": len(tasks),
        "all_snapshots_seconds": round(connected, 2),
        "rate_per_second": rate,
        "seconds": seconds,
        "events": int(rate * seconds),
        "measured": len(timings.latencies),
        "frames": timings.frames,
        "mean_frame_bytes": round(timings.frame_bytes / max(1, timings.frames)),
        "board_ms": _ms(timings.latencies),
        "server_send_ms": _ms(timings.to_server_send),
        "kafka_ms": _ms(reference),
        "kafka_measured": len(reference),
        "while_streaming_pct_of_a_core": {  # the harness, the service's processes, the machine
            "harness": round(100 * harness / wall),
            "service": round(100 * service / wall),
            "machine": round(100 * machine / wall),
        },
    }


def _service_cpu(pids: list[int]) -> float:
    return sum(process_cpu_seconds(pid) for pid in pids)


def _ms(values: list[float]) -> dict[str, float]:
    return {k: round(v * 1000, 1) for k, v in percentiles(values).items()}


def _probe(kafka: Any, topic: str, trigger: str) -> None:
    producer = _producer(kafka)
    # minute 10^6 after T0: never one of the timed admissions
    message = hl7(trigger, 1_000_000, bed="B01", ward="AMU", site="RAN01", visit="PROBE")
    producer.produce(topic, key=b"PROBE", value=message)
    producer.flush()


def _reference_consumer(kafka: Any, topic: str) -> Any:
    from confluent_kafka import OFFSET_END, Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": kafka.bootstrap_servers, "group.id": f"ref-{uuid.uuid4()}",
         "enable.auto.commit": False, "fetch.wait.max.ms": 10}
    )  # fmt: skip
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in partitions])
    consumer.consume(num_messages=1, timeout=2)  # the end offsets resolved before producing
    return consumer


def _producer(kafka: Any) -> Any:
    from confluent_kafka import Producer

    return Producer({"bootstrap.servers": kafka.bootstrap_servers, "linger.ms": 1, "acks": 1})


def _stream(kafka: Any, topic: str, timings: Timings, rate: float, seconds: float) -> list[float]:
    """Produce at a steady rate; a bare consumer on the same topic gives the reference."""
    consumer = _reference_consumer(kafka, topic)
    producer = _producer(kafka)
    events = _events(int(rate * seconds), ("RAN01", "RWV01"))
    produced_at: dict[bytes, float] = {}
    reference: list[float] = []

    def take(timeout: float) -> None:
        records = consumer.consume(num_messages=1000, timeout=timeout)
        arrived = time.perf_counter()
        for record in records:
            value = record.value() if record.error() is None else None
            if value in produced_at:
                reference.append(arrived - produced_at[value])

    start = time.perf_counter()
    for n, (key, value, admission) in enumerate(events):
        due = start + n / rate
        while (wait := due - time.perf_counter()) > 0:  # blocks until records or the due time
            take(wait)
        produced_at[value] = time.perf_counter()
        if admission is not None:
            timings.sent[admission], timings.sent_wall[admission] = produced_at[value], time.time()
        producer.produce(topic, key=key.encode(), value=value)
        producer.poll(0)
    producer.flush()
    deadline = time.perf_counter() + 2
    while time.perf_counter() < deadline:
        take(0.05)
    consumer.close()
    return reference
