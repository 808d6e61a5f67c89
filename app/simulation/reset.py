"""``flowcc demo-reset`` and ``flowcc rebuild``.

demo-reset starts the demo economy afresh (make run does this when simulating): state is emptied
and the stored consumer offsets move to the END of every inbound topic, so yesterday's simulated
messages are neither lost from Kafka nor applied again. rebuild empties the derived state and
moves the offsets to the START: the service re-derives everything from the log."""

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
from app.kafka import connect
from app.occupancy.repository import OccupancyRepository
from app.topics import PARTITIONS


def end_offsets(settings: Settings) -> dict[tuple[str, int], int]:
    consumer = connect(KafkaConsumer, settings.kafka)
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
    """Empty the state and continue every partition from its end."""
    offsets = await asyncio.to_thread(end_offsets, settings)
    await _reset(settings, offsets, keep_history=False)
    return offsets


async def rebuild(settings: Settings) -> dict[tuple[str, int], int]:
    """Empty the derived state and re-consume every partition from its first offset: the state
    is rebuilt from the event log alone. The OPEL history and metric samples are kept (they are
    the record of what was shown). Run it with the service stopped."""
    offsets = dict.fromkeys(await asyncio.to_thread(end_offsets, settings), 0)
    await _reset(settings, offsets, keep_history=True)
    return offsets


async def _reset(
    settings: Settings, offsets: dict[tuple[str, int], int], *, keep_history: bool
) -> None:
    engine = create_engine(settings.db)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            await OccupancyRepository(session).reset()
            await AmbulanceRepository(session).reset()
            await DischargeRepository(session).reset()
            await CareHomeRepository(session).reset()
            await EscalationRepository(session).reset(keep_history=keep_history)
            ingest = IngestRepository(session)
            await ingest.reset()
            await ingest.save_offsets(settings.kafka.group_id, offsets)
    finally:
        await engine.dispose()
