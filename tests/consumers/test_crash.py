"""A consumer process kill -9'ed at random points, at least ten times, during a stream of at
least 20,000 simulated events: the final bed state equals the reference computed from the
events themselves; nothing lost, nothing applied twice."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import uuid
from collections import defaultdict

import pytest
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.config import Settings
from app.engine.adt import fold
from app.ingest.models import ConsumerOffset
from app.ingest.topics import ADT_HL7V2, all_topics
from app.kafka import KafkaGateway
from app.occupancy.events import AdtEvent
from app.occupancy.models import EncounterEvent
from app.occupancy.projector import bed_id_for
from app.simulation.runner import simulate
from app.topology.models import Bed
from app.topology.schemas import EconomyConfig
from app.topology.service import load_economy
from consumers.decoders.hl7v2 import decode_hl7v2

MIN_EVENTS = 20_000
KILLS = 10


def read_topic(settings: Settings) -> list[bytes]:
    topic = settings.kafka.topic(ADT_HL7V2)
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers)
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    ends = consumer.end_offsets(partitions)
    values: list[bytes] = []
    while any(consumer.position(tp) < end for tp, end in ends.items()):
        for records in consumer.poll(timeout_ms=500).values():
            values += [record.value for record in records]
    consumer.close()
    return values


def reference(messages: list[bytes]) -> tuple[dict[str, str], int]:
    """Expected occupant of every bed, and the number of distinct spell events."""
    spells: dict[str, dict[str, AdtEvent]] = defaultdict(dict)
    for raw in messages:
        for event in decode_hl7v2(raw):
            spells[event.encounter_key][event.dedupe_key] = event
    occupants: dict[str, str] = {}
    for key, events in spells.items():
        state = fold(list(events.values()))
        source = next(iter(events.values())).source
        bed = bed_id_for(state.location, source) if state.holds_bed else None
        if bed:
            assert bed not in occupants, f"the simulator double-booked {bed}"
            occupants[bed] = key
    return occupants, sum(len(events) for events in spells.values())


async def final_state(engine: AsyncEngine) -> tuple[dict[str, str], int]:
    """The occupant of every occupied bed, and how many spell events are stored."""
    async with async_sessionmaker(engine)() as session:
        query = select(Bed.id, Bed.occupant_encounter_id).where(
            Bed.occupant_encounter_id.is_not(None)
        )
        beds = {bed: str(occupant) for bed, occupant in (await session.execute(query)).all()}
        stored = await session.scalar(select(func.count()).select_from(EncounterEvent))
    return beds, int(stored or 0)


async def committed(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        total = await connection.scalar(
            select(func.coalesce(func.sum(ConsumerOffset.next_offset), 0))
        )
    return int(total or 0)


@pytest.mark.slow
async def test_kill_nine_at_random_points_loses_and_doubles_nothing(
    settings: Settings, clean_db: AsyncEngine
) -> None:
    kafka = settings.kafka.model_copy(
        update={"topic_prefix": f"k{uuid.uuid4().hex[:8]}.", "group_id": f"g-{uuid.uuid4().hex}"}
    )
    crash_settings = settings.model_copy(update={"kafka": kafka})
    gateway = KafkaGateway(kafka)
    await gateway.ensure_topics(all_topics(kafka))
    await gateway.close()
    sessions = async_sessionmaker(clean_db)
    async with sessions() as session, session.begin():
        await load_economy(session, EconomyConfig.load(crash_settings.economy_file))
    sent = await asyncio.to_thread(
        simulate,
        crash_settings,
        speed=0,
        seed=20261125,
        hours=24 * 14,
        json_feeds=False,
        fhir_feeds=False,
    )
    assert sent >= MIN_EVENTS
    messages = await asyncio.to_thread(read_topic, crash_settings)
    assert len(messages) == sent
    expected, distinct_events = reference(messages)

    env = dict(os.environ) | {
        "DATABASE_URL": crash_settings.db.url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
        "KAFKA_GROUP_ID": kafka.group_id,
        "KAFKA_GROUP_INSTANCE_ID": "crash-test-consumer",
        "FLOWCC_LOG_LEVEL": "WARNING",
    }

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "app.cli", "consume"], env=env)

    rng = random.Random(7)
    kills = 0
    process = start()
    try:
        async with asyncio.timeout(600):
            while kills < KILLS:
                before = await committed(clean_db)
                while await committed(clean_db) == before:  # wait for progress, then strike
                    await asyncio.sleep(0.05)
                await asyncio.sleep(rng.uniform(0, 0.6))
                assert await committed(clean_db) < len(messages), (
                    "the stream ended before the kills"
                )
                process.kill()
                process.wait()
                kills += 1
                process = start()
            while await committed(clean_db) < len(messages):
                await asyncio.sleep(0.2)
    finally:
        process.terminate()
        process.wait(timeout=30)

    beds, stored_events = await final_state(clean_db)
    assert kills >= KILLS
    assert stored_events == distinct_events, "an event was lost or stored twice"
    assert beds == expected
    print(f"crash test: {len(messages)} messages, {kills} kill -9s, {len(beds)} occupied beds")
