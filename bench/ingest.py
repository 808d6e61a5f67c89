"""Ingest throughput: N events through Kafka → consumers → engine projection → PostgreSQL
commit, against the ceiling of a bare kafka-python consumer reading the same topic, same run.

The events are produced before timing starts; each side reads from offset 0 to the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from sqlalchemy import select

from app.changes import Delta
from app.config import Settings
from app.db import create_engine, create_sessionmaker
from app.heap import settle as settle_heap
from app.ingest.repository import IngestRepository
from app.ingest.routing import build_handlers
from app.kafka import KafkaGateway
from app.occupancy.events import AdtEvent
from app.occupancy.incremental import fold_marked
from app.occupancy.models import Encounter
from app.occupancy.repository import OccupancyRepository
from app.simulation.hl7 import Patient, Place, adt_message
from app.simulation.reset import rebuild
from app.topics import ADT_HL7V2, AMBULANCE, all_topics
from app.topology.schemas import EconomyConfig
from app.topology.service import load_economy
from consumers.runner import ConsumerRunner
from tests.support.clock import T0

STEPS = ("call", "dispatched", "at_scene", "conveying", "arrived_at_hospital",
         "handover_complete", "clear")  # fmt: skip


SPELL_COLUMNS = (Encounter.id, Encounter.status, Encounter.admitted_at, Encounter.discharged_at,
                 Encounter.last_event_time, Encounter.location_since, Encounter.bed_id)  # fmt: skip


@dataclass(frozen=True)
class Throughput:
    kind: str
    events: int
    ours_seconds: float
    ceiling_seconds: float
    spells_checked: int = 0  # HL7: spells compared with a full fold of their stored history
    spells_differing: int = 0

    @property
    def ours_per_second(self) -> float:
        return self.events / self.ours_seconds

    @property
    def ceiling_per_second(self) -> float:
        return self.events / self.ceiling_seconds

    @property
    def ratio(self) -> float:
        return self.ours_per_second / self.ceiling_per_second


def json_events(count: int) -> list[tuple[bytes, bytes]]:
    rng = random.Random(1)
    out = []
    for n in range(count):
        incident = f"INC{n // len(STEPS):08d}"
        step = STEPS[n % len(STEPS)]
        event = {
            "event_id": f"{incident}-{step}",
            "incident_id": incident,
            "step": step,
            "category": rng.choice([1, 2, 2, 3, 4]),
            "destination_site": rng.choice(["RAN01", "RWV01", "RNF01"]),
            "vehicle": f"RYA{rng.randrange(100, 999)}",
            "occurred_at": (T0 + timedelta(seconds=n)).isoformat(),
        }
        out.append((incident.encode(), json.dumps(event).encode()))
    return out


def hl7_events(count: int, visits: str = "VB") -> list[tuple[bytes, bytes]]:
    """Admissions, transfers and discharges of many spells across the AMU's beds (visit
    numbers ``visits`` + a number: another prefix is other spells). As in a real feed, where
    they are hours apart, a spell's three events are far apart in the stream (3,000 events):
    they land in different batches, and each batch advances spells admitted in earlier ones."""
    rng = random.Random(2)
    patient = Patient("MRN1", "9449305552", "BENCH", "PATIENT", "19450101", "F")
    spread = max(1, min(3_000, count // 3))
    out = []
    for n in range(count):
        block, within = divmod(n, 3 * spread)
        step, number = divmod(within, spread)
        visit = f"{visits}{block * spread + number:08d}"
        trigger = ("A01", "A02", "A03")[step]
        bed = f"B{rng.randrange(1, 28):02d}"
        when = T0 + timedelta(seconds=n)
        message = adt_message(
            trigger=trigger,
            control_id=f"{visit}-{trigger}",
            sending_facility="RAN",
            patient=patient,
            visit_number=visit,
            patient_class="I",
            event_time=when,
            recorded_time=when,
            version="2.4",
            location=Place("RAN01", rng.choice(["AMU", "BEE01", "CED02", "ELM03"]), "BAY1", bed),
        )
        out.append((visit.encode(), message))
    return out


def produce(settings: Settings, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = KafkaProducer(
        **settings.kafka.client_options(),
        linger_ms=20,
        batch_size=256 * 1024,
        acks=1,
        compression_type=None,
    )
    for key, value in messages:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()


def ceiling(settings: Settings, topic: str, expected: int) -> float:
    """A bare kafka-python consumer reading the same topic from the start, polling as many
    records at a time as ours may take."""
    consumer = KafkaConsumer(
        **settings.kafka.client_options(),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=settings.kafka.max_poll_records,
        fetch_max_wait_ms=500,
    )
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    started, seen = time.perf_counter(), 0
    while seen < expected:
        for records in consumer.poll(timeout_ms=1000).values():
            seen += len(records)
    elapsed = time.perf_counter() - started
    consumer.close()
    return elapsed


async def ours(
    settings: Settings, topics: list[str], expected_ends: dict[tuple[str, int], int]
) -> float:
    """Our consumer runner (decode, dedupe, project, offsets in the same transaction), started
    as ``flowcc consume`` starts it: the heap settled first (app/heap.py)."""
    engine = create_engine(settings.db)
    sessionmaker = create_sessionmaker(engine)

    async def ignore(_: list[Delta]) -> None:
        return None

    handlers = {t: f for t, f in build_handlers(settings.kafka).items() if t in topics}
    settle_heap()
    runner = ConsumerRunner(
        kafka=settings.kafka, sessionmaker=sessionmaker, handlers=handlers, publish=ignore
    )
    started = time.perf_counter()
    task = asyncio.create_task(runner.run())
    try:
        while True:
            await asyncio.sleep(0.2)
            async with sessionmaker() as session:
                stored = await IngestRepository(session).stored_offsets(
                    settings.kafka.group_id, topics
                )
            if all(stored.get(tp, 0) >= end for tp, end in expected_ends.items()):
                return time.perf_counter() - started
            if task.done():
                task.result()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await engine.dispose()


@dataclass(frozen=True)
class Rebuild:
    """``flowcc rebuild``: the derived state emptied and every topic re-consumed from offset 0."""

    events: int
    seconds: float
    spells_checked: int
    spells_differing: int

    @property
    def per_second(self) -> float:
        return self.events / self.seconds


async def run(
    settings: Settings, *, json_count: int, hl7_count: int, rebuild_total: int = 0
) -> tuple[list[Throughput], Rebuild]:
    """Each feed's ingest against its ceiling, then a rebuild of everything produced (topped up
    with HL7 v2 events of other spells to ``rebuild_total``) from offset 0."""
    kafka = settings.kafka.model_copy(
        update={"topic_prefix": f"b{uuid.uuid4().hex[:6]}.", "group_id": f"bench-{uuid.uuid4()}"}
    )
    settings = settings.model_copy(update={"kafka": kafka})
    gateway = KafkaGateway(kafka)
    await gateway.ensure_topics(all_topics(kafka))
    await gateway.close()
    engine = create_engine(settings.db)
    async with create_sessionmaker(engine)() as session, session.begin():
        await load_economy(session, EconomyConfig.load(settings.economy_file))
    await engine.dispose()
    results = []
    for kind, name, make, count in (
        ("JSON (ambulance events)", AMBULANCE, json_events, json_count),
        ("HL7 v2 ADT", ADT_HL7V2, hl7_events, hl7_count),
    ):
        topic = kafka.topic(name)
        await asyncio.to_thread(produce, settings, topic, make(count))
        ends = await asyncio.to_thread(_ends, settings, topic)
        ceiling_seconds = await asyncio.to_thread(ceiling, settings, topic, count)
        ours_seconds = await ours(settings, [topic], ends)
        checked, differing = await reference_check(settings) if name == ADT_HL7V2 else (0, 0)
        results.append(Throughput(kind, count, ours_seconds, ceiling_seconds, checked, differing))
    return results, await _rebuild(settings, max(0, rebuild_total - json_count - hl7_count))


async def _rebuild(settings: Settings, extra: int) -> Rebuild:
    hl7_topic = settings.kafka.topic(ADT_HL7V2)
    if extra:
        await asyncio.to_thread(produce, settings, hl7_topic, hl7_events(extra, visits="VR"))
    topics = [settings.kafka.topic(AMBULANCE), hl7_topic]
    ends: dict[tuple[str, int], int] = {}
    for topic in topics:
        ends |= await asyncio.to_thread(_ends, settings, topic)
    await rebuild(settings)
    seconds = await ours(settings, topics, ends)
    checked, differing = await reference_check(settings)
    return Rebuild(sum(ends.values()), seconds, checked, differing)


async def reference_check(settings: Settings) -> tuple[int, int]:
    """Every spell's stored state (advanced batch by batch, ADR 0008) against a full fold of its
    stored history: how many were checked and how many differ."""
    engine = create_engine(settings.db)
    try:
        async with create_sessionmaker(engine)() as session:
            repository = OccupancyRepository(session)
            places = await repository.places()
            spells = (await session.execute(select(*SPELL_COLUMNS))).all()
            ids = [spell.id for spell in spells]
            histories: dict[str, list[AdtEvent]] = {}
            for start in range(0, len(ids), 5_000):  # a statement takes 32,767 parameters
                histories |= await repository.histories(ids[start : start + 5_000])
    finally:
        await engine.dispose()
    differing = 0
    for spell in spells:
        mapped = [places.mapping.event(e) for e in histories[spell.id]]
        state = fold_marked(mapped, places.economy, places.digest).state
        expected = (state.status, state.admitted_at, state.discharged_at, state.last_event_time,
                    state.location_since or state.last_event_time)  # fmt: skip
        stored = (spell.status, spell.admitted_at, spell.discharged_at, spell.last_event_time,
                  spell.location_since)  # fmt: skip
        differing += expected != stored or (spell.bed_id is not None) != state.holds_bed
    return len(spells), differing


def _ends(settings: Settings, topic: str) -> dict[tuple[str, int], int]:
    consumer = KafkaConsumer(**settings.kafka.client_options())
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    ends = consumer.end_offsets(partitions)
    consumer.close()
    return {(tp.topic, tp.partition): int(end) for tp, end in ends.items()}


async def scale_out(
    settings: Settings, *, count: int, processes: tuple[int, ...] = (1, 2)
) -> list[dict[str, int]]:
    """HL7 v2 ingest with 1, then 2, ``flowcc consume`` processes in one consumer group sharing
    the topic's partitions (fresh topics, group and spells each time). Timed from the first
    event produced, once every process has its partitions, to the last offset stored."""
    rows = []
    for n in processes:
        seconds = await _scale_run(settings, count, n)
        rows.append({"processes": n, "events": count, "per_second": round(count / seconds)})
    return rows


async def _scale_run(settings: Settings, count: int, processes: int) -> float:
    tag = uuid.uuid4().hex[:6]
    kafka = settings.kafka.model_copy(
        update={"topic_prefix": f"s{tag}.", "group_id": f"bench-scale-{tag}"}
    )
    settings = settings.model_copy(update={"kafka": kafka})
    gateway = KafkaGateway(kafka)
    await gateway.ensure_topics(all_topics(kafka))
    await gateway.close()
    env = os.environ | {
        "DATABASE_URL": settings.db.url, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": kafka.topic_prefix, "KAFKA_GROUP_ID": kafka.group_id,
        "FLOWCC_ENVIRONMENT": "development", "FLOWCC_LOG_LEVEL": "INFO", "FLOWCC_LOG_JSON": "true",
    }  # fmt: skip
    folder = Path(tempfile.mkdtemp(prefix="flowcc-scale-"))
    logs = [folder / f"consume-{i}.log" for i in range(processes)]
    command = [sys.executable, "-m", "app.cli", "consume"]
    with ExitStack() as files:
        outs = [files.enter_context(log.open("wb")) for log in logs]
        procs = [
            subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT) for out in outs
        ]
        return await _timed(settings, count, tag, logs, procs)


async def _timed(
    settings: Settings, count: int, tag: str, logs: list[Path],
    procs: list[subprocess.Popen[bytes]],
) -> float:  # fmt: skip
    kafka, topic = settings.kafka, settings.kafka.topic(ADT_HL7V2)
    try:
        await _all_assigned(logs, procs)
        events = hl7_events(count, visits=f"S{tag}")
        started = time.perf_counter()
        await asyncio.to_thread(produce, settings, topic, events)
        ends = await asyncio.to_thread(_ends, settings, topic)
        return await _applied(settings, kafka.group_id, [topic], ends, procs) - started
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


async def _all_assigned(logs: list[Path], procs: list[subprocess.Popen[bytes]]) -> None:
    """Until every process has logged its partitions, and the group has settled."""
    deadline = time.monotonic() + 120
    while not all("partitions_assigned" in log.read_text(errors="replace") for log in logs):
        if any(proc.poll() is not None for proc in procs) or time.monotonic() > deadline:
            tails = [log.read_text(errors="replace")[-2000:] for log in logs]
            raise RuntimeError(f"a consumer process did not start: {tails}")
        await asyncio.sleep(0.2)
    await asyncio.sleep(3)  # a rebalance after the last join


async def _applied(
    settings: Settings, group: str, topics: list[str], ends: dict[tuple[str, int], int],
    procs: list[subprocess.Popen[bytes]],
) -> float:  # fmt: skip
    """When every partition's stored offset has reached its end."""
    engine = create_engine(settings.db)
    deadline = time.monotonic() + 900
    try:
        while True:
            async with create_sessionmaker(engine)() as session:
                stored = await IngestRepository(session).stored_offsets(group, topics)
            if all(stored.get(tp, 0) >= end for tp, end in ends.items()):
                return time.perf_counter()
            if any(proc.poll() is not None for proc in procs):
                raise RuntimeError("a consumer process died")
            if time.monotonic() > deadline:
                raise RuntimeError(f"not applied in 15 min: stored {stored}, ends {ends}")
            await asyncio.sleep(0.1)
    finally:
        await engine.dispose()
