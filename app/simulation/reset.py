"""``flowcc demo-reset``: start the demo economy afresh (make run does this when simulating).

State is emptied and the stored consumer offsets are moved to the END of every inbound topic,
so yesterday's simulated messages are neither lost from Kafka nor applied again."""

from __future__ import annotations

import asyncio

from kafka import KafkaConsumer, TopicPartition

from app.ambulance.repository import AmbulanceRepository
from app.carehomes.repository import CareHomeRepository
from app.config import Settings
from app.db import create_engine, create_sessionmaker
from app.discharge.repository import DischargeRepository
from app.escalation.repository import EscalationRepository
from app.ingest.repository import IngestRepository
from app.ingest.topics import PARTITIONS
from app.occupancy.repository import OccupancyRepository


def end_offsets(settings: Settings) -> dict[tuple[str, int], int]:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers)
    try:
        partitions = [
            TopicPartition(settings.kafka.topic(name), number)
            for name in PARTITIONS
            if consumer.partitions_for_topic(settings.kafka.topic(name))
            for number in consumer.partitions_for_topic(settings.kafka.topic(name)) or ()
        ]
        ends = consumer.end_offsets(partitions) if partitions else {}
    finally:
        consumer.close()
    return {(tp.topic, tp.partition): int(offset) for tp, offset in ends.items()}


async def reset_demo(settings: Settings) -> dict[tuple[str, int], int]:
    offsets = await asyncio.to_thread(end_offsets, settings)
    engine = create_engine(settings.db)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            await OccupancyRepository(session).reset()
            await AmbulanceRepository(session).reset()
            await DischargeRepository(session).reset()
            await CareHomeRepository(session).reset()
            await EscalationRepository(session).reset()
            ingest = IngestRepository(session)
            await ingest.reset()
            await ingest.save_offsets(settings.kafka.group_id, offsets)
    finally:
        await engine.dispose()
    return offsets
